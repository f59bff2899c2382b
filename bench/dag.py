"""Benchmark: a DAG target from scratch with per-stage times from Snakemake's benchmark files.

Usage: python bench/dag.py [--target all] [--cores 2] [--configfile config/config.yaml] [--section NAME]
Runs in a scratch copy (bench/_work/dag) so the repository's own results/ are untouched; writes
wall time, job count, the no-op dry run after it and the summed seconds per rule to
bench/RESULTS.md under "## <section>".
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from _results import write_section  # noqa: E402

from _helpers import copy_workflow  # noqa: E402


def profile_settings() -> list[str]:
    """The workflow's default profile (profiles/default) but its logger, as command-line flags: the run is
    scheduled as a user's is, with Snakemake's own output, which this script parses."""
    import yaml

    prof = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
    return [arg for k, v in prof.items() if k != "logger" for arg in (f"--{k}", str(v))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", nargs="+", default=["all"])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--configfile", default="config/config.yaml")
    ap.add_argument("--section", default="whole default DAG (table1 + quantizers + table6)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="snakemake --config overrides (scaling runs: seeds=[0,1,2], data={...})")
    a = ap.parse_args()
    work = ROOT / "bench" / "_work" / "dag"
    shutil.rmtree(work, ignore_errors=True)
    copy_workflow(work)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = ["snakemake", *a.target, "--cores", str(a.cores), "--configfile", a.configfile, *profile_settings()]
    if a.set:
        cmd += ["--config", *a.set]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    t0 = time.perf_counter()
    dry = subprocess.run([*cmd, "-n"], cwd=work, env=env, capture_output=True, text=True)
    noop = time.perf_counter() - t0
    # Snakemake's own start (its imports and executor plugins; no Snakefile): the part of the dry run
    # that is not this workflow's. On a machine with SLURM's client but no controller answering, the
    # SLURM executor plugin's `scontrol show config` at import waits up to 10 s here.
    t0 = time.perf_counter()
    subprocess.run(["snakemake", "--version"], cwd=work, env=env, capture_output=True, text=True)
    start = time.perf_counter() - t0
    (work.parent / "dag_dry_run.log").write_text(dry.stdout + dry.stderr)  # what a non-empty dry run wants, and why
    # one "Rule: <name>" per finished job; the 'all' target is a rule too but no work
    done = re.findall(r"^Finished jobid: \d+ \(Rule: (\w+)\)", r.stdout + r.stderr, re.M)
    jobs = sum(name != "all" for name in done)
    per_rule, count = defaultdict(float), defaultdict(int)
    for tsv in (work / "benchmarks").rglob("*.tsv"):
        row = next(csv.DictReader(open(tsv), delimiter="\t"))
        rule = tsv.relative_to(work / "benchmarks").parts[0]
        per_rule[rule] += float(row["s"])
        count[rule] += 1
    # the job's own peak memory, from its provenance record (the benchmark files measure the shell)
    peak = defaultdict(float)
    for rec in (work / "results" / "provenance").rglob("*.json"):
        try:
            r_ = json.loads(rec.read_text())
        except ValueError:
            continue
        if isinstance(r_, dict) and r_.get("peak_rss_mb"):
            peak[r_["rule"]] = max(peak[r_["rule"]], r_["peak_rss_mb"])
    from qrobust.runtime.hardware import hardware_name

    lines = [f"Machine: {platform.machine()}, {hardware_name('cpu')}; config {a.configfile}; "
             f"`snakemake {' '.join(a.target)} --cores {a.cores}` in a scratch copy, from scratch.", "",
             "| measure | value |", "|---|---|",
             f"| wall time from scratch | {wall:.1f} s ({wall / 60:.1f} min) |",
             f"| jobs | {jobs} |",
             f"| no-op dry run after it | {noop:.2f} s "
             f"({'nothing to do' if 'Nothing to be done' in dry.stdout + dry.stderr else 'JOBS LEFT'}) |",
             f"| of which Snakemake's own start (`snakemake --version`) | {start:.2f} s |",
             "", "Per rule, summed job seconds from `benchmarks/` (jobs run 2 at a time, so the sum exceeds the wall time; "
             "rules without a benchmark file, the tables and figures, take about 2 s each):", "",
             "| rule | jobs | summed s | peak memory of one job (MB) |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {count[k]} | {v:.1f} | {peak.get(k, float('nan')):.0f} |"
              for k, v in sorted(per_rule.items(), key=lambda kv: -kv[1])]
    body = "\n".join(lines)
    print(body)
    write_section(f"## {a.section}", f"## {a.section}\n\n{body}\n")


if __name__ == "__main__":
    main()
