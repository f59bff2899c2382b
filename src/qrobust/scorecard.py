"""The scorecard: each number a paper reports, beside qrobust's regenerated value for the same cell.

The papers' numbers live in qrobust/papers/<paper>/reported.csv, copied from the papers' tables
(numbers, not sentences), one row per cell:
    source    where the paper reports it (e.g. "DQ Table 1")
    row, col  the paper's own row and column labels
    value     the paper's number (accuracy in %)
    dataset   the paper's dataset, as qrobust's dataset registry names it (cifar10, svhn, imagenet)
    model     the paper's model: a registry name and the kwargs that pin it (wide_resnet depth=28
              widen_factor=10), a name qrobust does not build (mobilenetv3), or `?` where the
              source does not say
    eps       the paper's attack eps (8/255); empty where the cell has no attack (clean accuracy);
              `?` where the paper's text does not state it (then the protocols never agree)
    bits      the activation bit-width of the paper's model in that cell; empty for full precision; `?`
              where it is not one bit-width (mixed precision) or not stated
    table     the qrobust long CSV holding the same cell (table1 -> results/table1_long.csv)
    select    the long rows of that cell: `column=value` pairs joined by `;`, values compared as
              the long CSV writes them (`act_bits=` selects full precision)
    eps_rank  among the selected rows' eps values, sorted, the one that cell is at (0, 1, 2 or
              `mid`); empty where the cell has one eps
qrobust's value is the mean over seeds of the selected rows (one per seed; more is an error in
the data). The protocol of each side is stated (dataset, model, bit-width, eps); the gap (qrobust minus
the paper) is given only where all four agree, as on config/paper.yaml's CIFAR-10 WRN-28-10 cells. A
cell whose table was not built, or that lacks the selected rows, says so instead of a value.
"""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pandas as pd

from qrobust.claims import PAPERS

PAPERS_DIR = Path(__file__).resolve().parent / "papers"
REPORTED_COLUMNS = ["source", "row", "col", "value", "dataset", "model", "eps", "bits", "table", "select", "eps_rank"]
BITS_COLUMNS = ("act_bits", "bits")  # the long CSVs' column of the model's (activation) bit-width
VALUE_COLUMNS = ("acc", "value", "accuracy")  # the long CSVs' number column (Tables 2-4, 1 and 5-8, 6)
# papers whose text (../shared/papers) gives no table numbers to copy
WITHOUT_NUMBERS = {"robust_bench": "its abstract states findings, no table numbers",
                   "li2024": "its abstract and summary state findings, no table numbers"}
COLUMNS = ["paper", "source", "row", "col", "paper_value", "qrobust_value", "gap", "n_seeds", "same_protocol",
           "paper_protocol", "qrobust_protocol"]


def reported() -> pd.DataFrame:
    """Every paper's reported numbers, papers in the claims' report order."""
    frames = []
    for paper in sorted((p.parent.name for p in PAPERS_DIR.glob("*/reported.csv")),
                        key=lambda m: (PAPERS.index(m) if m in PAPERS else len(PAPERS), m)):
        df = pd.read_csv(PAPERS_DIR / paper / "reported.csv", dtype=str, keep_default_na=False)
        missing = [c for c in REPORTED_COLUMNS if c not in df]
        if missing:
            raise ValueError(f"papers/{paper}/reported.csv lacks column(s) {', '.join(missing)}")
        frames.append(df.assign(paper=paper))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["paper", *REPORTED_COLUMNS])


def parse_select(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"select {text!r}: write column=value pairs joined by ';'")
        out[key.strip()] = value.strip()
    return out


def eps_value(text: str) -> float | None:
    return float(Fraction(text)) if text else None


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def model_spec(model: dict) -> str:
    """How the scorecard writes qrobust's model: its registry name and kwargs (wide_resnet depth=28 ...)."""
    kwargs = model.get("kwargs") or {}
    return " ".join([model["name"], *(f"{k}={v}" for k, v in sorted(kwargs.items()) if v is not None)])


def same_model(paper: str, ours: dict) -> bool:
    name, *pairs = paper.split()
    if name != ours["name"]:
        return False
    kwargs = {k: str(v) for k, v in (ours.get("kwargs") or {}).items() if v is not None}
    return all(kwargs.get(k) == v for k, v in (p.split("=", 1) for p in pairs))


def _bits(rows: pd.DataFrame) -> str | None:
    """The selected rows' one bit-width as reported.csv writes it ("" full precision), None when they have none
    or several (mixed precision)."""
    col = next((c for c in BITS_COLUMNS if c in rows), None)
    if col is None:
        return None
    values = {"" if pd.isna(v) or v == "" else str(int(float(v))) for v in rows[col]}
    return values.pop() if len(values) == 1 else None


def _cell(long: pd.DataFrame, select: dict[str, str], eps_rank: str) -> tuple[float, int, float | None, str | None]:
    """(mean over seeds, number of seeds, eps, bit-width) of the selected long rows."""
    unknown = [k for k in select if k not in long.columns]
    if unknown:
        raise KeyError(f"no column {', '.join(unknown)}")
    rows = long
    for key, value in select.items():
        rows = rows[rows[key] == value]
    eps = None
    if eps_rank:
        values = sorted({float(e) for e in rows["eps"]})
        if not values:
            raise IndexError("no rows")
        eps = values[len(values) // 2] if eps_rank == "mid" else values[int(eps_rank)]
        rows = rows[rows["eps"].astype(float) == eps]
    elif "eps" in rows and len(rows):
        eps = float(rows["eps"].iloc[0])
    if rows.empty:
        raise IndexError("no rows")
    col = next(c for c in VALUE_COLUMNS if c in rows)
    seeds = rows["seed"] if "seed" in rows else pd.Series(["0"] * len(rows))
    if seeds.duplicated().any():
        raise ValueError(f"{len(rows)} rows for {seeds.nunique()} seed(s): the selection is ambiguous")
    return float(rows[col].astype(float).mean()), len(rows), eps, _bits(rows)


def _protocol(dataset: str, model: str, eps: float | str | None, bits: str | None = None) -> str:
    parts = [dataset, "model not stated" if model == "?" else model]
    if bits is not None:
        parts.append("bit-width not stated or mixed" if bits == "?" else "full precision" if bits == "" else f"{bits}-bit")
    if eps == "?":
        parts.append("eps not stated")
    elif eps not in (None, ""):
        parts.append(f"eps {eps}" if isinstance(eps, str) else f"eps {eps:.4g}")
    return ", ".join(parts)


def build(tables: dict[str, pd.DataFrame], cfg: dict) -> pd.DataFrame:
    """One row per reported number: the paper's value, qrobust's, and whether the protocols agree.
    `tables`: long CSVs by table name (read with dtype=str); `cfg`: the config's `data` and `model`."""
    dataset, model = cfg["data"]["dataset"], cfg["model"]
    rows = []
    for r in reported().itertuples(index=False):
        out = {"paper": r.paper, "source": r.source, "row": r.row, "col": r.col, "paper_value": float(r.value),
               "paper_protocol": _protocol(r.dataset, r.model, r.eps, r.bits)}
        long = tables.get(r.table)
        if long is None:
            rows.append({**out, "qrobust_protocol": f"{r.table} not built"})
            continue
        try:
            value, n, eps, bits = _cell(long, parse_select(r.select), r.eps_rank)
        except (KeyError, IndexError) as e:
            rows.append({**out, "qrobust_protocol": f"{r.table} lacks this cell ({e})"})
            continue
        if not r.eps:  # no attack in this cell: eps is no part of either protocol
            eps = None
        # an eps or a bit-width the paper does not state never agrees with ours
        same_eps = r.eps != "?" and (not r.eps or eps is None or abs(eps_value(r.eps) - eps) < 1e-6)
        same_bits = r.bits != "?" and bits is not None and r.bits == bits
        same = _norm(r.dataset) == _norm(dataset) and same_model(r.model, model) and same_eps and same_bits
        rows.append({**out, "qrobust_value": value, "n_seeds": n, "same_protocol": "yes" if same else "no",
                     "gap": value - float(r.value) if same else None,
                     "qrobust_protocol": _protocol(dataset, model_spec(model), eps, "?" if bits is None else bits)})
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["n_seeds"] = df["n_seeds"].astype("Int64")
    return df
