"""Build one registered table (CSV, long CSV, Markdown, LaTeX, JSON) from its jobs' metrics files.

Tables whose builder writes no JSON of its own get the wide table as JSON records (for
`dvc metrics`); every table has a `_ci.csv` (each cell's 95 % interval over seeds and test images, where its
long form has per-image outcomes); table1 also writes `_std.csv` (spread over seeds)."""
from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("name", help="a name from the table registry, e.g. table1")
    p.add_argument("--cfg", default="{}", help="JSON of the config slice the table reads")
    p.add_argument("--out", required=True, help="the table's CSV; its siblings are written beside it")
    p.add_argument("metrics", nargs="+")


def run(a) -> dict:
    import json

    from qrobust.runtime import atomic
    from qrobust.tables import TABLES
    from qrobust.tables._base import sibling

    cfg = json.loads(a.cfg)
    table, files = TABLES.get(a.name)(a.metrics, a.out, cfg)
    json_path = sibling(a.out, ".json")
    if str(json_path) not in map(str, files):
        atomic.write_json(json_path, {"table": a.name, "rows": json.loads(table.to_json(orient="records"))})
    ci_path = sibling(a.out, "_ci.csv")
    if str(ci_path) not in map(str, files):  # a table whose long form has no per-image outcomes
        atomic.write_text(ci_path, "table,note\n" f"{a.name},no per-image outcomes: no intervals\n")
    print(table.to_string(index=False), file=sys.stderr)
    return {"config": cfg}
