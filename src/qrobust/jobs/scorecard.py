"""Each number the papers report beside qrobust's regenerated value for the same cell; CSV and Markdown."""
from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("--cfg", default="{}", help="JSON of the config's data and model sections")
    p.add_argument("--out", required=True, help="scorecard CSV; a Markdown table is written beside it")
    p.add_argument("tables", nargs="+", help="NAME=PATH of long CSVs, e.g. table1=results/table1_long.csv")


def run(a) -> dict:
    import json

    from qrobust.jobs._common import read_long_tables
    from qrobust.runtime import atomic
    from qrobust.scorecard import WITHOUT_NUMBERS, build
    from qrobust.tables._base import write_csv, write_markdown

    cfg = json.loads(a.cfg)
    tables = read_long_tables(a.tables, dtype=str, keep_default_na=False)
    df = build(tables, cfg)
    write_csv(df, a.out)
    n_same = int((df["same_protocol"] == "yes").sum())
    write_markdown(df, Path(a.out).with_suffix(".md"),
                   f"Scorecard: {len(df)} numbers the papers report beside qrobust's value for the same cell "
                   f"(mean over seeds); gap = qrobust - paper, given for the {n_same} cell(s) run under the paper's "
                   "protocol (dataset, model, bit-width, eps)")
    md = Path(a.out).with_suffix(".md")
    missing = "; ".join(f"{p} ({why})" for p, why in WITHOUT_NUMBERS.items())
    atomic.write_text(md, md.read_text() + "\nNot on the scorecard: " + missing + ".\n")
    print(f"{len(df)} reported numbers, {int(df['qrobust_value'].notna().sum())} regenerated, {n_same} under the paper's protocol",
          file=sys.stderr)
    return {"config": cfg}
