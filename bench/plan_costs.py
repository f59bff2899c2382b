"""The reference costs `qrobust plan` prices from (src/qrobust/plan/costs.json), from a whole run's records.

Run after `snakemake all` of the default config has finished, on the same host, with nothing else running:

    python bench/plan_costs.py --records results/provenance [--configfile FILE ...]

Per rule: the mean seconds per job its provenance records show; the host's rates (qrobust.plan.cost.measure,
now, for the same config's model and substitute); the overhead per job (the lower quartile of the gaps
between a scaled rule's median job and what its passes alone take here); the host's CPU as the records give it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=Path, default=ROOT / "results" / "provenance")
    ap.add_argument("--configfile", nargs="*", default=[], help="config files the run was given (after config/config.yaml)")
    ap.add_argument("--out", type=Path, default=None, help="default: src/qrobust/plan/costs.json")
    a = ap.parse_args(argv)
    from qrobust.config import load_configs
    from qrobust.plan import cost

    seconds, cpus, configs = defaultdict(list), set(), set()
    for f in sorted(a.records.rglob("*.json")):
        try:
            r = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(r, dict) or "seconds" not in r or r.get("disabled"):
            continue
        # a job's CPU time where the record has it (unmoved by other work on the host), else its wall time
        seconds[r["rule"]].append(r["cpu_seconds"] if r.get("cpu_seconds") is not None else r["seconds"])
        cpus.add(json.dumps(r.get("cpu"), sort_keys=True))
        configs.add(((r.get("run") or {}).get("config_sha256")))
    if not seconds:
        sys.exit(f"plan_costs: no records under {a.records}; run `snakemake all` first")
    if len(cpus) > 1 or len(configs) > 1:
        sys.exit(f"plan_costs: the records come from {len(cpus)} CPUs and {len(configs)} configs; use one whole run's")
    files = ["config/config.yaml", *a.configfile]
    cfg = load_configs([ROOT / f for f in files])
    rates = cost.measure(cfg, seconds=1.0)
    pred = cost.predicted(cfg, rates)
    gaps = [statistics.median(v) - pred[rule] for rule, v in seconds.items() if rule in pred]
    # the lower quartile of those gaps: most jobs spend at least that beyond their passes
    overhead = max(0.05, statistics.quantiles(gaps, n=4)[0]) if len(gaps) > 1 else 0.5
    cpu = json.loads(cpus.pop())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    out = {
        "host": f"{cpu.get('model')} ({cpu.get('torch_capability')}, {cpu.get('cores')} cores)",
        "made": f"{time.strftime('%Y-%m-%d')}, commit {commit}, {sum(map(len, seconds.values()))} jobs of {' + '.join(files)}",
        "configfiles": files,
        "config": cfg,  # the whole config, so a plan prices against it wherever the package is installed
        "overhead_s": round(overhead, 3),
        "rates": {m: {k: round(v, 1) for k, v in r.items()} for m, r in rates.items()},
        "rules": {rule: {"seconds": round(statistics.fmean(v), 3), "jobs": len(v)} for rule, v in sorted(seconds.items())},
    }
    path = a.out or ROOT / "src" / "qrobust" / "plan" / "costs.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"plan_costs: {path}: {len(out['rules'])} rules, overhead {out['overhead_s']} s per job, host {out['host']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
