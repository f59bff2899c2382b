"""The evidence a claim returns: per seed, per image values of its statistic (`Part`), built from the long
tables' per-image outcomes (`difference` of mean accuracies, paired image by image; `combine`; `ratio`), how
the parts combine (`result`), a ranking's probability (`ranking`), and the gradient-masking flags of the models
behind it (`with_masking`; the engine, qrobust.claims, judges a flagged claim again `at_lower_bound`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from qrobust import stats
from qrobust.evaluation.images import decode, unbits


@dataclass
class Part:
    """One statistic's per-image values: {seed: (image indices, values in points)}, and what it is."""

    samples: dict
    label: str = ""
    _cache: dict = field(default_factory=dict, repr=False)

    def estimate(self, level: float = stats.LEVEL) -> stats.Estimate:
        if level not in self._cache:
            self._cache[level] = stats.estimate(self.samples, level=level)
        return self._cache[level]


def _outcomes(row) -> tuple[np.ndarray, np.ndarray]:
    images, correct = getattr(row, "images", None), getattr(row, "correct", None)
    if not isinstance(correct, str) or not correct:
        raise KeyError("no per-image outcomes in the table (rerun the evaluations with this code)")
    idx, ok = decode(images), unbits(correct).astype(float)
    if len(idx) != len(ok):
        raise ValueError(f"{len(idx)} image indices but {len(ok)} outcomes")
    return idx, ok


def difference(plus: pd.DataFrame, minus: pd.DataFrame | None = None, *, shift: float = 0.0, scale: float = 100.0,
               label: str = "") -> Part:
    """Per seed and image: mean over the `plus` rows minus mean over the `minus` rows (rows: one measured
    accuracy each, with `seed`, `images`, `correct`), minus `shift`, in points. Only the images every row of
    the seed measured count (the seed's own sample when clean rows, measured on every image, meet attacked
    ones). A seed with rows on one side only is left out."""
    if plus.empty:
        raise KeyError(f"no rows for {label or 'the claim'}")
    minus = minus if minus is not None else plus.iloc[0:0]
    out = {}
    for seed in sorted(set(plus.seed)):
        a, b = plus[plus.seed == seed], minus[minus.seed == seed]
        if len(minus) and b.empty:
            continue
        parts = [(*_outcomes(r), 1.0 / len(a)) for r in a.itertuples(index=False)]
        parts += [(*_outcomes(r), -1.0 / len(b)) for r in b.itertuples(index=False)]
        common = parts[0][0]
        for idx, _, _ in parts[1:]:
            common = np.intersect1d(common, idx, assume_unique=True)
        if len(common) == 0:
            raise ValueError(f"seed {seed}: the rows of {label or 'the claim'} measured no image in common")
        d = np.zeros(len(common))
        for idx, ok, w in parts:
            d += w * ok[np.searchsorted(idx, common)]
        out[int(seed)] = (common, scale * d - shift)
    if not out:
        raise KeyError(f"no seed has rows on both sides of {label or 'the claim'}")
    return Part(out, label)


def combine(terms: Sequence[tuple[Part, float]], *, shift: float = 0.0, label: str = "") -> Part:
    """sum_k w_k part_k - shift per seed and image, on the images every part measured in that seed; a seed
    missing from a part is left out."""
    seeds = set.intersection(*(set(p.samples) for p, _ in terms))
    if not seeds:
        raise KeyError(f"no seed common to the parts of {label or 'the claim'}")
    out = {}
    for s in sorted(seeds):
        common = terms[0][0].samples[s][0]
        for p, _ in terms[1:]:
            common = np.intersect1d(common, p.samples[s][0], assume_unique=True)
        d = np.zeros(len(common))
        for p, w in terms:
            idx, v = p.samples[s]
            d += w * v[np.searchsorted(idx, common)]
        out[s] = (common, d - shift)
    return Part(out, label)


def ratio(num: pd.DataFrame, den: pd.DataFrame, *, label: str = "") -> Part:
    """The ratio of two mean accuracies per seed (corrupted / clean: relative corruption accuracy), in %,
    as per-image values whose mean is the ratio and whose spread is its linearization (the delta method):
    v_i = 100 (r + (c_i - r k_i) / K), r = C / K, with c_i, k_i the image's mean outcome over the `num` and
    `den` rows and C, K their means over the seed's images."""
    c, k = difference(num, label=label).samples, difference(den, label=label).samples
    out = {}
    for s in sorted(set(c) & set(k)):
        common = np.intersect1d(c[s][0], k[s][0], assume_unique=True)
        ci = c[s][1][np.searchsorted(c[s][0], common)] / 100.0
        ki = k[s][1][np.searchsorted(k[s][0], common)] / 100.0
        K = ki.mean()
        if K <= 0:
            raise ValueError(f"seed {s}: no image correct in the denominator of {label or 'the ratio'}")
        r = ci.mean() / K
        out[s] = (common, 100.0 * (r + (ci - r * ki) / K))
    if not out:
        raise KeyError(f"no seed has both sides of {label or 'the ratio'}")
    return Part(out, label)


def result(parts: Sequence[Part] | Part, evidence: str, combine: str = "one", **extra) -> dict:
    parts = [parts] if isinstance(parts, Part) else list(parts)
    if not parts:
        raise KeyError("nothing to compare")
    if combine not in ("one", "all", "any") or (combine == "one" and len(parts) != 1):
        raise ValueError(f"combine must be one (with one part), all or any, got {combine!r} with {len(parts)} part(s)")
    return {"parts": parts, "combine": combine, "evidence": evidence, **extra}


def ranking(probability: float, n_seeds: int, n_images: int, evidence: str, **extra) -> dict:
    """A ranking claim's result: the share of two-way bootstrap resamples in which the claimed order holds."""
    return {"rank_probability": float(probability), "n_seeds": int(n_seeds), "n_images": int(n_images),
            "evidence": evidence, **extra}


# audit checks whose flag means the worst case itself may be too high: even the best attack did not reach
# chance at a large eps, more steps and restarts or a second smooth staircase fooled more images than new
# random numbers do, or AutoAttack's own checks fired
ENSEMBLE_FLAGS = ("eps_reaches_chance", "more_steps_stable", "second_surrogate", "autoattack_checks")


def with_masking(res: dict, rows: pd.DataFrame, describe: Callable, table: str) -> dict:
    """`res` judged on the worst-case rows `rows` of long table `table` (with a `masking` column of ";"-joined
    flags): adds `masking` (flagged models, by `describe(row)`, and their flags), `critical` (the ENSEMBLE_FLAGS
    among them) and `critical_rows` ({table: the rows' index labels}): the engine then judges the claim again
    with those models' worst case at its lower bound, zero, and calls it masked only if that changes the verdict."""
    res = dict(res)
    flags = rows["masking"].astype(object).where(rows["masking"].notna(), "").astype(str)
    flagged = rows[flags != ""]
    seen: dict = {}
    critical_rows = []
    for idx, r in flagged.iterrows():
        fs = set(str(r["masking"]).split(";"))
        seen.setdefault(describe(r), set()).update(fs)
        if fs & set(ENSEMBLE_FLAGS):
            critical_rows.append(idx)
    res["masking"] = "; ".join(f"{m}: {', '.join(sorted(f))}" for m, f in seen.items())
    res["critical"] = sorted({f for fs in seen.values() for f in fs} & set(ENSEMBLE_FLAGS))
    res["critical_rows"] = {table: critical_rows}
    return res


def at_lower_bound(tables: dict, critical_rows: dict) -> dict:
    """The tables with the given worst-case rows at zero: every image fooled (the bound a stronger attack cannot
    go below)."""
    out = dict(tables)
    for name, idx in critical_rows.items():
        df = out[name].copy()
        for i in idx:
            df.at[i, "correct"] = "0" * len(str(df.at[i, "correct"]))
            for col in ("acc", "value"):
                if col in df:
                    df.at[i, col] = 0.0
        out[name] = df
    return out
