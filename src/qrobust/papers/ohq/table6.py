"""Table 6: OHQ-style LP bit allocation vs uniform and random allocations (OHQ, Huang et al. 2023;
HAWQ-V3, Yao et al. 2021, Table 2's layout: precision, size, BitOPs, latency, accuracy).

One row per uniform baseline, and per budget one OHQ-LP row and one row summarising the random
allocations that meet the same budget (mean; `_long.csv` has every plan and seed). Latency is
measured end to end on the machine that ran the deploy job; `latency_model_ms` is the sum of the
per-layer profile, where precisions without a kernel come from the fitted cost model (named in
`latency_model_source`).

`table6_long.csv`, one row per (deployed plan, seed), raw values:
    plan_id               uniform-<precision>, or the LP / random plan's id
    kind                  uniform, ohq-lp or random
    budget                the config's budget name; empty for uniform plans
    seed                  seed
    plan                  per-layer precisions in layer order, joined by /
    accuracy              test accuracy (%) at full precision
    latency_ms            measured end to end, per batch
    latency_model_ms      sum of the per-layer latency profile
    latency_model_source  where the per-layer figures come from
    size_bytes            model size in bytes
    bitops                bit operations per image
    solve_s               the LP's solve time (s); empty for other plans
    hardware              the machine that ran the deploy job
    latency_times_ms      every timed round of the end-to-end latency, space-separated (the rounds of all
                          plans of one deploy job are interleaved: round r of each ran in the same round)
    images                the test images measured (evaluation/images.encode)
    correct               per image of `images`: "1" classified correctly, "0" not
Labels ("Uniform INT8", "OHQ-LP") and units (KB, GBitOPs) exist only in the table.
"""
from __future__ import annotations

import pandas as pd

from qrobust.runtime import atomic
from qrobust.tables._base import register_table, sibling, write_csv, write_latex, write_long_csv, write_markdown
from qrobust.tables.intervals import ci_frame, outcome_columns

KIND_LABEL = {"uniform": "Uniform", "ohq-lp": "OHQ-LP", "random": "Random"}


def plan_label(plan: dict, layers: list[str]) -> str:
    return "/".join(plan[n] for n in layers)


def long_frame(deploys: list[dict]) -> pd.DataFrame:
    rows = []
    for d in deploys:
        for pid, r in d["plans"].items():
            alloc = d["allocations"].get(r["budget"], {}) if r["budget"] else {}
            rows.append({"plan_id": pid, "kind": r["kind"], "budget": r["budget"] or "", "seed": d["seed"],
                         "plan": plan_label(r["plan"], d["layers"]), "accuracy": r["accuracy"],
                         "latency_ms": r["latency_ms"], "latency_model_ms": r["latency_model_ms"],
                         "latency_model_source": r["latency_model_source"], "size_bytes": r["size_bytes"],
                         "bitops": r["bitops"],
                         "solve_s": alloc.get("allocation", {}).get("solve_seconds") if r["kind"] == "ohq-lp" else None,
                         "hardware": d["hardware"],
                         "latency_times_ms": " ".join(repr(v) for v in r.get("latency_times_ms", [])),
                         **outcome_columns(r.get("images", ""), r.get("correct"))})
    return pd.DataFrame(rows)


def _status_rows(deploys: list[dict]) -> list[dict]:
    """Budgets whose LP was infeasible: a row that says so and names the smallest feasible budget."""
    out = []
    for name, a in deploys[0]["allocations"].items():
        if a["allocation"]["status"] == "Optimal":
            continue
        smallest = a.get("smallest_feasible", {})
        note = "; ".join(f"smallest feasible {m}: {v['absolute']:.4g}"
                         + (f" (fraction {v['fraction']:.3f})" if v.get("fraction") is not None else "")
                         for m, v in smallest.items() if v.get("absolute") is not None)
        out.append({"Method": "OHQ-LP", "Budget": name, "Status": f"{a['allocation']['status']}: {note or 'no plan meets it'}"})
    return out


def build(deploys: list[dict], out_csv) -> tuple[pd.DataFrame, list]:
    raw = long_frame(deploys)
    long = raw.assign(size_kb=raw.size_bytes / 1024, gbitops=raw.bitops / 1e9)
    budgets = list(deploys[0]["allocations"])
    # uniform baselines from high to low precision (the JSON files keep keys sorted, not in plan order)
    uniform = [f"uniform-{p}" for p in deploys[0]["precisions"] if f"uniform-{p}" in set(long.plan_id)]
    groups = [("uniform", pid, "") for pid in uniform]
    groups += [(k, None, b) for b in budgets for k in ("ohq-lp", "random")]
    rows = []
    for kind, pid, budget in groups:
        sub = long[(long.kind == kind) & ((long.plan_id == pid) if pid else (long.budget == budget))]
        if sub.empty:
            continue
        n_plans = sub.plan_id.nunique()
        rows.append({
            "Method": KIND_LABEL[kind] + (f" {pid.split('-', 1)[1].upper()}" if kind == "uniform" else ""),
            "Budget": budget, "Status": "Optimal" if kind == "ohq-lp" else ("" if kind == "uniform" else f"{n_plans} plans"),
            "Plan": sub.plan.iloc[0] if n_plans == 1 else "(various)",
            "Accuracy": sub.accuracy.mean(), "Accuracy std": sub.accuracy.std(ddof=1) if len(sub) > 1 else 0.0,
            "Latency (ms)": sub.latency_ms.mean(), "Model latency (ms)": sub.latency_model_ms.mean(),
            "Size (KB)": sub.size_kb.mean(), "GBitOPs": sub.gbitops.mean(),
            "Solve (s)": sub.solve_s.mean() if kind == "ohq-lp" else None,
            "Latency model": "; ".join(sorted(set(sub.latency_model_source))),
        })
    table = pd.DataFrame(rows + _status_rows(deploys))
    files = [out_csv] + [sibling(out_csv, s) for s in ("_long.csv", ".md", ".tex", ".json", "_ci.csv")]
    write_csv(table, files[0])
    write_long_csv(raw, files[1])
    write_long_csv(ci_frame(raw.rename(columns={"accuracy": "value"}), ["plan_id", "kind", "budget"]), files[5])
    hw = deploys[0]["hardware"]
    batch = next(iter(deploys[0]["plans"].values())).get("batch_size", "?")
    title = (f"Table 6: LP bit allocation vs uniform and random plans; latency per batch of {batch} images, "
             f"measured end to end on {hw}; model latency = sum of the per-layer profile; "
             f"mean over {long.seed.nunique()} seed(s)")
    write_markdown(table, files[2], title)
    write_latex(table.drop(columns=["Latency model"]), files[3], title)
    cols = ("Accuracy", "Latency (ms)", "Size (KB)")
    atomic.write_json(files[4], {f"{r['Method']} {r['Budget']}".strip(): {k: round(float(r[k]), 4) for k in cols if pd.notna(r.get(k))}
                                 for r in rows})
    return table, files


@register_table("table6")
def from_files(paths: list[str], out_csv, cfg: dict) -> tuple[pd.DataFrame, list]:
    return build([atomic.read_json(p) for p in paths], out_csv)
