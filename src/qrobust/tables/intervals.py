"""Intervals for the cells of a table, from the per-image outcomes its long CSV carries.

A long CSV row that measured an accuracy per image has two more columns: `images` (the test indices,
evaluation/images.encode) and `correct` (one "0"/"1" per image). The rows of one cell (one per seed)
give the cell's estimate over seeds and images (qrobust.stats.estimate, in accuracy points). A table
with intervals writes a `_ci.csv` companion (one row per cell: its keys, mean, low, high, seeds,
images) and shows "mean ± half-width" in its Markdown and LaTeX.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from qrobust.evaluation.images import decode, unbits
from qrobust.stats import Estimate, estimate

CI_COLUMNS = ["mean", "low", "high", "half_width", "n_seeds", "n_images"]


def has_outcomes(rows: pd.DataFrame) -> bool:
    return "correct" in rows and rows["correct"].map(lambda v: isinstance(v, str) and len(v) > 0).all() and len(rows) > 0


def samples(rows: pd.DataFrame, scale: float = 100.0) -> dict:
    """{seed: (image indices, per-image value x scale)} of one cell's rows (one row per seed)."""
    out = {}
    for r in rows.itertuples(index=False):
        seed = int(r.seed)
        if seed in out:
            raise ValueError(f"two rows of one cell for seed {seed}: a cell's rows must differ only by seed")
        idx, ok = decode(r.images), unbits(r.correct)
        if len(idx) != len(ok):
            raise ValueError(f"seed {seed}: {len(idx)} image indices but {len(ok)} outcomes")
        out[seed] = (idx, ok.astype(float) * scale)
    return out


def cell_estimate(rows: pd.DataFrame) -> Estimate | None:
    """The cell's accuracy with its interval (points), or None when its rows carry no per-image outcomes."""
    if not has_outcomes(rows):
        return None
    return estimate(samples(rows))


def ci_frame(long: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per cell (the distinct values of `keys`) with CI_COLUMNS; cells without outcomes: NaN."""
    rows = []
    for cell, g in long.groupby(keys, sort=False, dropna=False):
        cell = cell if isinstance(cell, tuple) else (cell,)
        e = cell_estimate(g)
        if e is None:
            vals = [g["value"].mean() if "value" in g else math.nan, math.nan, math.nan, math.nan, g.seed.nunique(), math.nan]
        else:
            vals = [e.effect, e.low, e.high, max(e.effect - e.low, e.high - e.effect), e.n_seeds, e.n_images]
        rows.append(dict(zip(keys, cell)) | dict(zip(CI_COLUMNS, vals)))
    return pd.DataFrame(rows, columns=keys + CI_COLUMNS)


def plus_minus(mean: float, half: float) -> str:
    """"96.60 ± 1.10"; the mean alone when there is no interval; "" for no value."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    if half is None or (isinstance(half, float) and math.isnan(half)):
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {half:.2f}"


def outcome_columns(idx_text: str, correct) -> dict:
    """The two long-CSV columns of one measured accuracy: {"images": ..., "correct": "0101..."}."""
    if correct is None:
        return {"images": "", "correct": ""}
    if not isinstance(correct, str):
        correct = "".join("1" if v else "0" for v in np.asarray(correct, dtype=bool).tolist())
    return {"images": idx_text, "correct": correct}
