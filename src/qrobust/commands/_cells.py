"""Cell-level provenance for every registered table: which input files one cell was computed from.

Generic over tables: the table job's record holds the exact command that built it (table name,
config slice, its metrics files in order), and the table is rebuilt from those files in a scratch
folder, once per input and test, with no per-table code. An input is one of the cell's when
  - its measured numbers reach the cell: shifting every measured number of the record (floats
    above 1, outside what the record says was done: run, config, attack) by +100 changes the
    cell. A mean over seeds reads every seed's file, a best-of column (Best Acc.) every candidate,
    a difference both sides; or
  - the cell does not exist, or reads otherwise (labels, flags), without it.
An input a table merely cannot be built without (Table 1 needs its whole grid; a worst-case file
needs its model's metrics file) is not one of the cell's unless one of those holds.

Rows are named by their leading label columns, as few as tell the rows apart, joined by ", "
(Table 1: "Vanilla, adv."; Table 2: "Normal"); `--metric` may give the last of them on its own
(`--row Vanilla --metric adv`). Columns are the table's other columns, by their headers.
"""
from __future__ import annotations

import json
import math
import shlex
import tempfile
from pathlib import Path

from qrobust.provenance.record import ProvenanceError
from qrobust.provenance.refs import relpath


def _table_command(table_csv: str, index: dict[str, dict]) -> tuple[str, dict, list[str]]:
    rec = index.get(table_csv)
    if rec is None:
        raise ProvenanceError(f"{table_csv}: no provenance record made it; run the pipeline (or pass a file under results/)")
    argv = shlex.split(rec.get("command", ""))
    if rec.get("rule") != "table" or argv[:2] != ["qrobust", "table"]:
        raise ProvenanceError(f"{table_csv}: made by rule {rec.get('rule')!r}, not a table; --row/--col name cells of results/table*.csv")
    from qrobust.runtime.dispatch import build_parser

    a = build_parser("table").parse_args(argv[1:])  # the job's own parser, as it ran
    if relpath(a.out) != table_csv:
        raise ProvenanceError(f"{table_csv}: cells are read from the table's own CSV, {relpath(a.out)}")
    return a.name, json.loads(a.cfg), list(a.metrics)


def _build(name: str, cfg: dict, metrics: list[str], scratch: Path):
    from qrobust.tables import TABLES

    scratch.mkdir(parents=True, exist_ok=True)
    table, _ = TABLES.get(name)(metrics, scratch / "table.csv", cfg)
    return table


def _keys(df, k: int | None = None) -> tuple[int, list[str]]:
    """(k, each row's name): rows are named by their first k columns, the fewest that tell them
    apart (or the `k` given), joined by ", ", empty labels left out (Table 1: "Vanilla, adv.";
    Table 2: "Normal")."""
    cells = df.astype(object).where(df.notna(), "").astype(str).values.tolist()

    def names(k):
        return [", ".join(c for c in r[:k] if c) for r in cells]
    if k is not None:
        return k, names(k)
    for k in range(1, df.shape[1]):
        if len(set(names(k))) == len(cells):
            return k, names(k)
    return df.shape[1] - 1, names(df.shape[1] - 1)


def _locate(df, row: str, metric: str | None, col: str, where: str, k: int | None = None):
    """The value of cell (row, col) of `df`; one-line errors list the valid names. A row is named by
    its first k label columns joined by ", ", or by fewer with --metric naming the next one."""
    k, names = _keys(df, k)
    wanted = row if metric is None else f"{row}, {metric}"
    hits = [i for i, n in enumerate(names) if n == wanted]
    if not hits and metric is not None:  # --metric adv for "adv."
        hits = [i for i, n in enumerate(names) if n == wanted + "."]
    if not hits:
        several = [n for n in names if n.startswith(wanted + ", ")]
        if len(several) == 1:  # a prefix that names one row
            hits = [names.index(several[0])]
        elif several:
            raise ProvenanceError(f"--row {wanted!r} names {len(several)} rows of {where}; name one: {'; '.join(several)}"
                                  + (" (or give the last part as --metric)" if metric is None else ""))
        else:
            raise ProvenanceError(f"--row {wanted!r} is not in {where}; rows: {'; '.join(names)}")
    cols = [str(c) for c in df.columns[k:]]
    if col not in cols:
        raise ProvenanceError(f"--col {col!r} is not in {where}; columns: {', '.join(cols)}")
    return df.iloc[hits[0], k + cols.index(col)]


SHIFT = 100.0  # added to a measured number: moves any mean or rounding that reads it, tops any max
NOT_MEASURED = ("run", "config", "cfg", "attack", "args")  # what a record says was done, not what it measured


def _shifted(obj, key=""):
    """The record with every measured number above 1 shifted (accuracies, losses, times; eps, beta
    and other settings are at most 1 or sit under NOT_MEASURED keys and stay)."""
    if key in NOT_MEASURED:
        return obj
    if isinstance(obj, dict):
        return {k: _shifted(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_shifted(v) for v in obj]
    if isinstance(obj, float) and obj > 1:
        return obj + SHIFT
    return obj


def _numbers_reach(name, cfg, metrics, m, where, value, scratch: Path) -> bool:
    """Does the cell change when `m`'s measured numbers do? (The changed copy keeps m's path under
    `scratch`, as builders read paths; a rebuild that fails says no.)"""
    if not m.endswith(".json"):
        return False
    # m's path inside scratch (no anchor, no ..): the copy never lands on a real file
    copy = scratch.joinpath("shifted", *(part for part in Path(m).parts if part not in (Path(m).anchor, "..", ".")))
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(json.dumps(_shifted(json.loads(Path(m).read_text()))))
    try:
        other = _locate(_build(name, cfg, [str(copy) if x == m else x for x in metrics], scratch), *where[:4], where[4])
    except Exception:
        return False
    return not _same(other, value)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def cell_inputs(table_csv: str, row: str, col: str, metric: str | None, index: dict[str, dict]) -> tuple[object, list[str]]:
    """The value of one cell of a registered table and the inputs it came from (module docstring)."""
    table_csv = relpath(table_csv)
    name, cfg, metrics = _table_command(table_csv, index)
    missing = [m for m in metrics if not Path(m).is_file()]
    if missing:
        raise ProvenanceError(f"{missing[0]}: an input of {table_csv} is gone; rerun the pipeline (snakemake {table_csv})")
    with tempfile.TemporaryDirectory(prefix="qrobust-cell-") as tmp:
        n = iter(range(10 ** 9))
        first = Path(tmp) / str(next(n))
        try:
            full = _build(name, cfg, metrics, first)
        except Exception as e:
            raise ProvenanceError(f"{table_csv}: rebuilding it from its recorded inputs failed ({type(e).__name__}: {e}); "
                                  f"rerun it (snakemake {table_csv})") from None
        if full.empty:
            raise ProvenanceError(f"{table_csv}: rebuilt from its recorded inputs it has no rows; rerun it (snakemake {table_csv})")
        if (first / "table.csv").read_bytes() != Path(table_csv).read_bytes():
            raise ProvenanceError(f"{table_csv} differs from a rebuild from its recorded inputs (its code or inputs changed "
                                  f"since it was made); rerun it (snakemake {table_csv}) and ask again")
        value = _locate(full, row, metric, col, table_csv)
        k = _keys(full)[0]  # rebuilt tables name their rows by as many columns as the full one
        where = (row, metric, col, table_csv, k)
        picked = []
        for m in metrics:
            scratch = Path(tmp) / str(next(n))
            if _numbers_reach(name, cfg, metrics, m, where, value, scratch):
                picked.append(m)
                continue
            try:  # numbers aside, does the cell exist, or read as it does, without it?
                without = _build(name, cfg, [x for x in metrics if x != m], scratch)
            except Exception:  # a table that needs every input: a structural need, not this cell's
                continue
            try:
                other = _locate(without, *where[:4], k)
            except ProvenanceError:  # the cell is gone without it
                other = None
            if not _same(other, value):
                picked.append(m)
    if hasattr(value, "item"):  # a numpy scalar: as JSON writes it
        value = value.item()
    if isinstance(value, float):
        value = None if math.isnan(value) else round(value, 6)
    return value, picked
