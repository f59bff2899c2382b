"""Test every published finding against the long-format tables; CSV and Markdown."""
from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("--out", required=True, help="claims CSV; a Markdown table is written beside it")
    p.add_argument("--summary", help="folder for one JSON per paper: verdict counts and headline numbers (DVC's metrics)")
    p.add_argument("tables", nargs="+", help="NAME=PATH of long CSVs, e.g. table1=results/table1_long.csv")


def run(a) -> dict:
    from qrobust.claims import evaluate_claims, summaries
    from qrobust.jobs._common import read_long_tables
    from qrobust.runtime import atomic
    from qrobust.tables._base import write_csv, write_markdown

    tables = read_long_tables(a.tables)
    df = evaluate_claims(tables)
    write_csv(df, a.out)
    cols = ["paper", "source", "claim", "verdict", "note", "effect", "ci_low", "ci_high", "delta", "p_adj", "n_seeds",
            "n_images", "needed", "evidence", "masking"]
    write_markdown(df[[c for c in cols if c in df]], Path(a.out).with_suffix(".md"),
                   "Claims: each published finding tested on the regenerated numbers (effect in points with its 95 % "
                   "interval over seeds and test images)")
    if a.summary:
        for module, row in summaries(tables, df).items():
            atomic.write_json(Path(a.summary) / f"{module}.json", row)
    print(df[["id", "verdict"]].to_string(index=False), file=sys.stderr)
    return {"config": {}}
