"""Judge every published finding on the long-format tables: claims.csv, claims.md (a one-screen summary, then each
claim), findings.md (the block README shows), power.md (what the run's seeds x images could detect, per claim), one JSON
per paper for DVC's metrics."""
from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("--out", required=True, help="claims CSV; claims.md, findings.md and power.md are written beside it")
    p.add_argument("--summary", help="folder for one JSON per paper: verdict counts and headline numbers (DVC's metrics)")
    p.add_argument("tables", nargs="+", help="NAME=PATH of long CSVs, e.g. table1=results/table1_long.csv")


def run(a) -> dict:
    from qrobust import findings
    from qrobust.claims import evaluate_claims, summaries
    from qrobust.jobs._common import read_long_tables
    from qrobust.runtime import atomic
    from qrobust.tables._base import write_csv

    tables = read_long_tables(a.tables)
    df = evaluate_claims(tables)
    write_csv(df, a.out)
    host = findings.host_name()
    atomic.write_text(Path(a.out).with_suffix(".md"), findings.summary(df, host))
    atomic.write_text(Path(a.out).with_name("findings.md"), findings.block(df, host))
    atomic.write_text(Path(a.out).with_name("power.md"), findings.power(df, host))
    if a.summary:
        for module, row in summaries(tables, df).items():
            atomic.write_json(Path(a.summary) / f"{module}.json", row)
    print(df[["id", "verdict"]].to_string(index=False), file=sys.stderr)
    return {"config": {}}
