"""Table registry and writers: every table is a CSV for machines plus Markdown and LaTeX for papers.

Two kinds of CSV. The wide table (`write_csv`) is for reading: display labels ("Vanilla",
"Full Prec.", "W4A4") and numbers rounded to two decimals. The long form (`write_long_csv`,
`<table>_long.csv`) is for machines (claims, figures): raw config/metrics values (method `dq`,
beta 0.0003, bits 4 or empty for full precision, attack `fgsm`) and every float at full precision
(the shortest text that reads back to the same float), so nothing downstream re-parses a label or
loses a digit.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from qrobust.plan.registry import Registry
from qrobust.runtime import atomic

TABLES: Registry = Registry("table")
register_table = TABLES.register


def wa_bits_label(weight_bits, act_bits) -> str:
    """W4A4; W32A32 for a float model (no bits)."""
    return "W32A32" if pd.isna(weight_bits) else f"W{int(weight_bits)}A{int(act_bits)}"


def write_csv(df: pd.DataFrame, path) -> None:
    # fixed float format: the same numbers give byte-identical files
    atomic.write_text(path, df.to_csv(index=False, float_format="%.2f", lineterminator="\n"))


def write_long_csv(df: pd.DataFrame, path, int_cols: tuple[str, ...] = ()) -> None:
    """Raw long-format CSV: no rounding; `int_cols` as integers with an empty cell for none (full precision)."""
    out = df.copy()
    for col in int_cols:
        out[col] = out[col].astype("Int64")
    atomic.write_text(path, out.to_csv(index=False, lineterminator="\n"))


# long-CSV columns that hold text even when they look like numbers ("0101" outcomes, "5" an image index)
TEXT_COLUMNS = ("images", "correct", "latency_times_ms")


def read_long(path, **read_csv) -> pd.DataFrame:
    """A long CSV as written (`write_long_csv`): the per-image outcome columns stay text."""
    given = read_csv.pop("dtype", {})
    dtype = given if not isinstance(given, dict) else {c: str for c in TEXT_COLUMNS} | given  # one type: every column
    return pd.read_csv(path, dtype=dtype, **read_csv)


def write_markdown(df: pd.DataFrame, path, title: str = "") -> None:
    head = f"{title}\n\n" if title else ""
    # None (not NaN) is what tabulate leaves blank
    cells = df.astype(object).where(df.notna(), None)
    atomic.write_text(path, head + cells.to_markdown(index=False, floatfmt=".2f", missingval="") + "\n")


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    """Plain text as LaTeX source (booktabs tables compile with any label, e.g. per_channel, 99.99%)."""
    return "".join(_TEX_SPECIAL.get(c, c) for c in str(text))


def write_latex(df: pd.DataFrame, path, caption: str = "") -> None:
    """A booktabs table, cells and headers escaped, with a caption and the label tab:<file stem>."""
    cells = df.copy()
    for col in cells.columns:
        if not pd.api.types.is_numeric_dtype(cells[col]):  # labels (object or pandas' string dtype)
            cells[col] = cells[col].map(lambda v: tex_escape(v) if isinstance(v, str) else v).astype(object)
    cells.columns = [tex_escape(c) for c in cells.columns]
    tex = cells.to_latex(index=False, float_format="%.2f", na_rep="", escape=False,
                         caption=tex_escape(caption) if caption else None, label=f"tab:{Path(path).stem}")
    atomic.write_text(path, tex)


def sibling(path, suffix: str) -> Path:
    """results/table1.csv -> results/table1<suffix> (e.g. _std.csv, .md)."""
    p = Path(path)
    return p.with_name(p.stem + suffix)


def write_table_files(table: pd.DataFrame, long: pd.DataFrame, out_csv, title: str,
                      int_cols: tuple[str, ...] = (), ci_keys: list[str] | None = None) -> list:
    """The table (CSV, Markdown with `title`, LaTeX) and its raw long form (`_long.csv`); with `ci_keys` (the
    long columns that name a cell), `_ci.csv`: each cell's 95 % interval over seeds and test images from the
    long form's per-image outcomes (tables/intervals.py). Returns the paths."""
    files = [out_csv] + [sibling(out_csv, s) for s in ("_long.csv", ".md", ".tex")]
    write_csv(table, files[0])
    write_long_csv(long, files[1], int_cols)
    write_markdown(table, files[2], title)
    write_latex(table, files[3], title)
    if ci_keys is not None:
        from qrobust.tables.intervals import ci_frame

        files.append(sibling(out_csv, "_ci.csv"))
        write_long_csv(ci_frame(long, ci_keys), files[-1], tuple(c for c in int_cols if c in ci_keys))
    return files


def attacked_caption(records: list[dict]) -> str:
    """"; attacks on m of the n test images ..." when the evaluations attacked a subset (robust_accuracy's
    `n_attacked`), else ""."""
    pairs = sorted({(r["n"], r["n_attacked"]) for r in records if "n_attacked" in r})
    if all(n == m for n, m in pairs):
        return ""
    return ("; attacks on " + ", ".join(f"{m:,} of the {n:,}" for n, m in pairs)
            + " test images, each seed its own sample (clean: all)")
