"""What a run will cost before you start it: the jobs per rule that `snakemake TARGETS -n` would run,
each rule's expected seconds per job on this host (qrobust/plan/cost.py: the config's work, this host's
measured rates, the reference run's per-rule factors), CPU-minutes and the wall time on --cores.

With --gpu-rates (bench/gpu_rates.json, written by `bench/gpu_sizing.py --device cuda`), also the GPU-hours
of the same jobs at the rates measured there for the config's model.

  qrobust plan                                   # what `snakemake all` would run now
  qrobust plan results/table1.csv --forceall     # table 1 from scratch
  qrobust plan --configfile config/paper.yaml --gpu-rates bench/gpu_rates.json
"""
from __future__ import annotations

import json
import os
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("targets", nargs="*", default=["all"], help="Snakemake targets (default: all)")
    p.add_argument("--configfile", nargs="+", default=[], help="config files as given to snakemake (after config/config.yaml)")
    p.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE", help="overrides as given to snakemake --config")
    p.add_argument("--forceall", action="store_true", help="price every job of the targets, made or not")
    p.add_argument("--cores", type=int, default=os.cpu_count(), help="cores the run will use (the wall-time estimate)")
    p.add_argument("--gpu-rates", type=Path, help="bench/gpu_rates.json: also print GPU-hours")
    p.add_argument("--costs", type=Path, default=None, help="reference costs (default: qrobust/plan/costs.json)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")


def _config(a) -> dict:
    """The config snakemake would see: config/config.yaml, then --configfile, then --config."""
    import yaml

    from qrobust.config import load_configs

    files = ["config/config.yaml", *a.configfile]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: no such config file (run qrobust plan in the repository root)")
    over = {}
    for kv in a.config:
        k, _, v = kv.partition("=")
        if not _:
            raise ValueError(f"--config {kv}: expected KEY=VALUE")
        over[k] = yaml.safe_load(v)
    return load_configs(files, over)


def run(a) -> int:
    from qrobust.plan import cost

    cfg = _config(a)
    jobs = cost.dry_run(a.targets, a.configfile, forceall=a.forceall, config=a.config)
    if not jobs:
        print("qrobust plan: nothing to be done")
        return 0
    ref = cost.load_costs(a.costs or cost.COSTS_FILE)
    per_job = cost.job_seconds(cfg, ref)
    rows = sorted(((rule, n, per_job.get(rule, ref["overhead_s"])) for rule, n in jobs.items()), key=lambda r: -r[1] * r[2])
    cpu_s = sum(n * s for _, n, s in rows)
    # jobs run `cores` at a time (each on cfg threads); the longest single job bounds the wall time from below
    wall_s = max(cpu_s / max(1, a.cores // max(1, int(cfg.get("threads") or 1))), max(s for _, _, s in rows))
    gpu = None
    if a.gpu_rates:
        if not a.gpu_rates.is_file():
            raise FileNotFoundError(f"{a.gpu_rates}: no GPU rates; `python bench/gpu_sizing.py --device cuda` on a GPU writes them")
        models = json.loads(a.gpu_rates.read_text())["models"]
        name = cfg["model"]["name"]
        if name not in models:
            raise KeyError(f"{a.gpu_rates}: no rates for model {name!r} (has {sorted(models)}); add it to bench/gpu_sizing.py's MODELS")
        gpu = cost.gpu_hours(cfg, jobs, models[name])
    if a.json:
        print(json.dumps({"jobs": jobs, "seconds_per_job": {r: s for r, _, s in rows}, "cpu_seconds": cpu_s,
                          "wall_seconds": wall_s, "cores": a.cores, "gpu_hours": gpu[0] if gpu else None}, indent=1))
        return 0
    print(f"{'rule':<16} {'jobs':>5} {'s/job':>8} {'CPU-min':>8}")
    for rule, n, s in rows:
        print(f"{rule:<16} {n:>5} {s:>8.1f} {n * s / 60:>8.1f}")
    print(f"{'total':<16} {sum(jobs.values()):>5} {'':>8} {cpu_s / 60:>8.1f}")
    print(f"qrobust plan: {sum(jobs.values())} jobs, {cpu_s / 60:.1f} CPU-minutes; about {wall_s / 60:.0f} min on "
          f"{a.cores} cores (reference: {ref['host']}, {ref['made']})")
    if gpu:
        print(f"qrobust plan: {gpu[0]:.1f} GPU-hours at the rates in {a.gpu_rates} (no per-job overheads, no pruning)")
    return 0
