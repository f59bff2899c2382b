"""Table registry and writers: every table is a CSV for machines plus Markdown and LaTeX for papers."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from qrobust import _io
from qrobust._registry import Registry

TABLES: Registry = Registry("table")
register_table = TABLES.register


def write_csv(df: pd.DataFrame, path) -> None:
    # fixed float format: the same numbers give byte-identical files
    _io.write_text(path, df.to_csv(index=False, float_format="%.2f", lineterminator="\n"))


def write_markdown(df: pd.DataFrame, path, title: str = "") -> None:
    head = f"{title}\n\n" if title else ""
    # None (not NaN) is what tabulate leaves blank
    cells = df.astype(object).where(df.notna(), None)
    _io.write_text(path, head + cells.to_markdown(index=False, floatfmt=".2f", missingval="") + "\n")


def write_latex(df: pd.DataFrame, path) -> None:
    _io.write_text(path, df.to_latex(index=False, float_format="%.2f", na_rep=""))


def sibling(path, suffix: str) -> Path:
    """results/table1.csv -> results/table1<suffix> (e.g. _std.csv, .md)."""
    p = Path(path)
    return p.with_name(p.stem + suffix)


def write_table_files(table: pd.DataFrame, long: pd.DataFrame, out_csv, title: str) -> list:
    """The table (CSV, Markdown with `title`, LaTeX) and its long form (`_long.csv`); returns the paths."""
    files = [out_csv] + [sibling(out_csv, s) for s in ("_long.csv", ".md", ".tex")]
    write_csv(table, files[0])
    write_csv(long, files[1])
    write_markdown(table, files[2], title)
    write_latex(table, files[3])
    return files
