"""From profile and sensitivity to plans: the integer-program problem, budgets, the LP and random
plans per budget (the ohq_allocate job), and the set of plans the deploy job builds."""
from __future__ import annotations

import sys
import zlib

import numpy as np

from qrobust.papers.ohq.allocate import Problem, budget_from_fraction, plan_cost, random_plans, solve

__all__ = ["problem", "budget_values", "allocate", "uniform_plans", "all_plans", "plan_cost"]


def problem(profile_: dict, sens: dict) -> Problem:
    by_name = {lay["name"]: lay for lay in profile_["layers"]}
    missing = [n for n in sens["layers"] if n not in by_name]
    if missing or profile_["precisions"] != sens["precisions"]:
        raise ValueError("the latency profile and the sensitivity file describe different layers or precisions; "
                         "rerun both from the same config")
    rows = [by_name[n] for n in sens["layers"]]
    table = lambda key: np.array([[r[key][p] for p in sens["precisions"]] for r in rows])  # noqa: E731
    return Problem(layers=sens["layers"], precisions=sens["precisions"], sensitivity=np.array(sens["sensitivity"]),
                   latency=table("latency_ms"), size=table("size_bytes"), ties=sens["ties"])


def budget_values(prob: Problem, budget: dict) -> dict:
    """Absolute {latency: ms, size: bytes} of a config budget (fractions or absolute values)."""
    out = {"latency": None, "size": None}
    for metric, absolute, unit in (("latency", "latency_ms", 1.0), ("size", "size_kb", 1024.0)):
        if budget.get(metric) is not None:
            out[metric] = budget_from_fraction(prob, metric, budget[metric])
        elif budget.get(absolute) is not None:
            out[metric] = budget[absolute] * unit
    return out


def _as_fraction(prob: Problem, metric: str, value):
    lo, hi = budget_from_fraction(prob, metric, 0.0), budget_from_fraction(prob, metric, 1.0)
    return None if value is None or hi == lo else (value - lo) / (hi - lo)


def allocate(profile_: dict, sens: dict, budget: dict, n_random: int, seed: int) -> dict:
    prob = problem(profile_, sens)
    b = budget_values(prob, budget)
    alloc = solve(prob, latency_budget=b["latency"], size_budget=b["size"])
    # one random stream per (seed, budget name): budgets loose enough to admit the same plans still get their own draws
    plans = random_plans(prob, n_random, b["latency"], b["size"], seed=seed * 100003 + zlib.crc32(budget["name"].encode()) % 100003)
    out = {"budget": budget, "absolute": b, "allocation": alloc.to_dict(), "random": plans,
           "layers": prob.layers, "precisions": prob.precisions, "ties": prob.ties,
           "random_sensitivity": [plan_cost(prob, p, "sensitivity") for p in plans]}
    if alloc.status != "Optimal":
        smallest = {m: {"absolute": v, "fraction": _as_fraction(prob, m, v)} for m, v in alloc.smallest_feasible.items()}
        out["smallest_feasible"] = smallest
        parts = [f"{m} {v['absolute']:.4g}{' ms' if m == 'latency' else ' bytes'}"
                 + (f" (fraction {v['fraction']:.3f})" if v["fraction"] is not None else "")
                 for m, v in smallest.items() if v["absolute"] is not None]
        print(f"qrobust: warning: budget '{budget['name']}' is infeasible ({alloc.status}); smallest feasible: "
              f"{'; '.join(parts) or 'none (the other budget alone is infeasible)'}", file=sys.stderr)
    return out


def uniform_plans(layers: list[str], precisions: list[str]) -> dict[str, dict[str, str]]:
    """Table 6's uniform baselines: every layer at fp32, int8, int4 (those of them in the config)."""
    return {f"uniform-{p}": dict.fromkeys(layers, p) for p in ("fp32", "int8", "int4") if p in precisions}


def all_plans(sens: dict, allocations: list[dict]) -> tuple[dict, dict]:
    """Every plan to deploy, by id, and what each is (kind, budget) for the table."""
    plans, about = {}, {}
    for pid, plan in uniform_plans(sens["layers"], sens["precisions"]).items():
        plans[pid], about[pid] = plan, {"kind": "uniform", "budget": None}
    for a in allocations:
        name = a["budget"]["name"]
        if a["allocation"]["plan"] is not None:
            plans[f"ohq-{name}"] = a["allocation"]["plan"]
            about[f"ohq-{name}"] = {"kind": "ohq-lp", "budget": name}
        for k, plan in enumerate(a["random"]):
            plans[f"random-{name}-{k}"] = plan
            about[f"random-{name}-{k}"] = {"kind": "random", "budget": name}
    return plans, about
