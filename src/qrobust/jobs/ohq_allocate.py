"""OHQ: integer program, one precision per layer under one configured budget (plus random plans)."""
from __future__ import annotations

import sys

from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "ohq")
    p.add_argument("--profile", required=True)
    p.add_argument("--sensitivity", required=True)
    p.add_argument("--budget", required=True, help="a name from ohq.budgets")
    p.add_argument("--seed", type=int, default=0, help="seed of the random allocations")
    p.add_argument("--out", required=True)


def run(a) -> dict:
    import json

    from qrobust.papers.ohq.plans import allocate
    from qrobust.runtime import atomic

    cfg = json.loads(a.cfg)
    budgets = {b["name"]: b for b in cfg["ohq"]["budgets"]}
    if a.budget not in budgets:
        raise ValueError(f"budget '{a.budget}' is not in ohq.budgets ({', '.join(budgets)}); add it to the config")
    out = allocate(atomic.read_json(a.profile), atomic.read_json(a.sensitivity), budgets[a.budget],
                   cfg["ohq"]["random_plans"], a.seed)
    atomic.write_json(a.out, out)
    al = out["allocation"]
    print(f"budget {a.budget}: {al['status']} in {al['solve_seconds']:.3f} s; plan {al['plan']}", file=sys.stderr)
    return {"config": cfg, "seed": a.seed}
