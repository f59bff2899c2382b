"""How the default DAG grows with seeds, bit-widths and the training set.

Three parts, each written to bench/RESULTS.md under "## Scaling: seeds, bit-widths, training images":

1. Job counts (measured: Snakemake's dry run from scratch) of the `all` target for the default config,
   3 seeds, and each added bit-width (Table 1's activation bits, the quantizer suite's bit pairs,
   Table 7's bit-widths), and the new jobs each grown grid needs beyond the default's (model jobs:
   the tables and figures that gather a grid are remade anyway). With `--finished DIR` (a finished
   run of the same config and code) also what growing each grid plans on it, and how many existing
   jobs it would rerun.
2. Wall time (a projection, labelled so): each rule's jobs times its mean job seconds in a finished
   run's `benchmarks/` (`--means DIR`, e.g. the scratch folder bench/dag.py leaves in bench/_work/dag),
   summed, over the cores; calibrated with that run's measured wall time (`--wall`).
3. Training-set size (measured): one chain (the float model, a 2-bit model, the substitute its
   worst case's transfer member crafts on, the 2-bit model's worst case) from scratch at n_train 1000, 2000, 4000
   in scratch copies: wall time
   and each job's seconds and peak memory.

Usage: python bench/scaling.py [--means bench/_work/dag --wall SECONDS] [--finished DIR]
       [--sizes 1000 2000 4000 | --no-sizes] [--configfile config/config.yaml] [--no-write]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
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
from dag import profile_settings  # noqa: E402

from _helpers import copy_workflow  # noqa: E402

HEADING = "## Scaling: seeds, bit-widths, training images"
GATHER = ("table", "figure", "claims", "scorecard", "all")


def _env() -> dict:
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def _yaml(value) -> str:
    return json.dumps(value)  # JSON is YAML: what --config parses


def scenarios(cfg: dict) -> list[tuple[str, list[str]]]:
    """(label, --config overrides) of each grown grid, from the config's own grids."""
    act = cfg["quant"]["act_bits"]
    more_act = max(b for b in act if b is not None) + 1
    pairs = cfg["quantize"]["bits"]
    li_bits = cfg["li2024"]["bits"]
    out = [("default", []),
           (f"3 seeds ({_yaml(sorted(set(cfg['seeds']) | {0, 1, 2}))})", [f"seeds={_yaml(sorted(set(cfg['seeds']) | {0, 1, 2}))}"]),
           (f"Table 1 + {more_act}-bit activations", [f"quant={{act_bits: {_yaml(act + [more_act])}}}"]),
           ("quantizer suite + w6a6", [f"quantize={{bits: {_yaml(pairs + [[6, 6]])}}}"]),
           (f"Table 7 + {8 if 8 not in li_bits else 2}-bit", [f"li2024={{bits: {_yaml(li_bits + [8 if 8 not in li_bits else 2])}}}"])]
    return out


def dry_run(work: Path, configfile: str, overrides: list[str], cores: int) -> tuple[dict, str]:
    """Per-rule counts of the jobs a dry run of `all` plans, and its output."""
    cmd = ["snakemake", "all", "-n", "--cores", str(cores), "--configfile", configfile, *profile_settings()]
    if overrides:
        cmd += ["--config", *overrides]
    r = subprocess.run(cmd, cwd=work, env=_env(), capture_output=True, text=True)
    out = r.stdout + r.stderr
    if r.returncode:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{out[-2000:]}")
    if "Nothing to be done" in out:
        return {}, out
    stats = out.split("Job stats:", 1)[1]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", stats, re.M)
              if m.group(1) not in ("total", "all")}
    return counts, out


def reruns(out: str) -> int:
    """Jobs a dry run on a finished run plans for another reason than a missing output (gathering jobs aside)."""
    n = 0
    parts = re.split(r"^(?:local)?rule (\w+):$", out, flags=re.M)[1:]
    for rule, block in zip(parts[::2], parts[1::2]):
        reason = re.search(r"^    reason: (.+)$", block, re.M)
        if rule not in GATHER and reason and not reason.group(1).startswith("Missing output files"):
            n += 1
    return n


def mean_seconds(run_dir: Path) -> dict:
    """Mean job seconds per rule from a finished run's benchmarks/ (rules without one: 2 s)."""
    total, count = defaultdict(float), defaultdict(int)
    for tsv in (run_dir / "benchmarks").rglob("*.tsv"):
        row = next(csv.DictReader(open(tsv), delimiter="\t"))
        rule = tsv.relative_to(run_dir / "benchmarks").parts[0]
        total[rule] += float(row["s"])
        count[rule] += 1
    return {r: total[r] / count[r] for r in total}


def project(counts: dict, means: dict, cores: int) -> float:
    return sum(n * means.get(rule, 2.0) for rule, n in counts.items()) / cores


def size_chain(sizes: list[int], configfile: str, cores: int) -> list[str]:
    """Rows: one chain (float model, 2-bit model, substitute, the 2-bit model's worst case) per n_train."""
    rows = []
    for n in sizes:
        work = ROOT / "bench" / "_work" / f"scaling_{n}"
        shutil.rmtree(work, ignore_errors=True)
        copy_workflow(work)
        over = ["--config", f"data={{n_train: {n}}}"]
        _, out = dry_run(work, configfile, over[1:], cores)
        worst = re.search(r"output: (results/metrics/worst/[^,\s]+/train-[0-9a-f]{8}/vanilla_beta0_a2_s0_none\.json)", out)
        fp = re.search(r"output: (results/checkpoints/train-[0-9a-f]{8}/vanilla_beta0_afp_s0\.pt)", out)
        if not (worst and fp):
            sys.exit("bench: no float checkpoint or worst-case file of the 2-bit vanilla model in the dry run")
        cmd = ["snakemake", fp.group(1), worst.group(1), "--cores", str(cores), "--configfile", configfile,
               *profile_settings(), *over]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=work, env=_env(), capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode:
            sys.exit(f"bench: {' '.join(cmd)} failed:\n{(r.stdout + r.stderr)[-2000:]}")
        jobs = {}
        for tsv in (work / "benchmarks").rglob("*.tsv"):
            row = next(csv.DictReader(open(tsv), delimiter="\t"))
            jobs[tsv.stem] = (float(row["s"]), float(row["max_rss"]))
        peak = {}
        for rec in (work / "results" / "provenance").rglob("*.json"):
            try:
                d = json.loads(rec.read_text())
            except ValueError:
                continue
            if isinstance(d, dict) and d.get("peak_rss_mb"):
                peak[rec.stem] = d["peak_rss_mb"]

        def job(stem):
            s = jobs.get(stem, (float("nan"), 0))[0]
            return f"{s:.1f} ({peak.get(stem, float('nan')):.0f} MB)"
        rows.append(f"| {n} | {wall:.1f} | {job('vanilla_beta0_afp_s0')} | {job('vanilla_beta0_a2_s0')} | "
                    f"{job('substitute_s0')} | {job('vanilla_beta0_a2_s0_none')} |")
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> None:
    import yaml

    ap = argparse.ArgumentParser()
    ap.add_argument("--configfile", default="config/config.yaml")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--means", type=Path, help="a finished run whose benchmarks/ give each rule's mean job seconds")
    ap.add_argument("--wall", type=float, help="that run's measured wall time (s), to calibrate the projection")
    ap.add_argument("--finished", type=Path, help="a finished run of this config and code: grow each grid on it")
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 2000, 4000])
    ap.add_argument("--no-sizes", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    cfg = yaml.safe_load((ROOT / a.configfile).read_text())
    if a.configfile != "config/config.yaml":
        from qrobust.config import merge
        cfg = merge(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), cfg)

    scratch = ROOT / "bench" / "_work" / "scaling_dry"
    shutil.rmtree(scratch, ignore_errors=True)
    copy_workflow(scratch)
    means = mean_seconds(a.means) if a.means else {}
    base = None
    lines = [HEADING, "",
             f"`python bench/scaling.py{' --means ' + str(a.means) if a.means else ''}"
             f"{f' --wall {a.wall:.0f}' if a.wall else ''}{' --finished ' + str(a.finished) if a.finished else ''}`; "
             f"{os.cpu_count()} cores, `--cores {a.cores}`, config {a.configfile}.", "",
             "**Jobs** (measured: Snakemake's dry run of `all` from scratch). *New model jobs*: the grown config's "
             "jobs beyond the default's, tables, figures and claims (which gather a grid and are remade) aside. "
             + ("*On the finished run*: what growing the grid plans there, and how many existing jobs it would "
                "rerun (gathering jobs aside). " if a.finished else "")
             + ("**Wall time** is a projection: each rule's jobs times its mean job seconds in the finished run "
                f"`{a.means}`, summed, over {a.cores} cores, times that run's measured/projected ratio." if means else ""), "",
             "| config | jobs from scratch | projected wall from scratch (min) | new model jobs |"
             + (" on the finished run | existing jobs rerun |" if a.finished else ""),
             "|---|---:|---:|---:|" + ("---:|---:|" if a.finished else "")]
    calib = 1.0
    for label, over in scenarios(cfg):
        counts, _ = dry_run(scratch, a.configfile, over, a.cores)
        total = sum(counts.values())
        if base is None:
            base = counts
            if means and a.wall:
                calib = a.wall / project(counts, means, a.cores)
        proj = f"{project(counts, means, a.cores) * calib / 60:.1f}" if means else "-"
        new = sum(max(0, n - base.get(rule, 0)) for rule, n in counts.items() if rule not in GATHER)
        row = f"| {label} | {total} | {proj} | {new} |"
        if a.finished:
            fin_counts, out = dry_run(a.finished, a.configfile, over, a.cores)
            row += f" {sum(fin_counts.values())} | {reruns(out)} |"
        lines.append(row)
    if means and a.wall:
        lines += ["", f"Calibration: the finished run took {a.wall / 60:.1f} min; the projection of its own jobs "
                      f"{project(base, means, a.cores) / 60:.1f} min (ratio {calib:.2f}: the cores are not always both busy)."]
    shutil.rmtree(scratch, ignore_errors=True)
    if not a.no_sizes:
        lines += ["", "**Training-set size** (measured, from scratch, one run each): the float model, the 2-bit vanilla "
                      "model, the substitute and the 2-bit model's worst case. Job seconds from "
                      "`benchmarks/`, peak memory from the job's provenance record. The test split stays at the config's "
                      "size, so evaluation does not grow.", "",
                  "| n_train | wall (s) | float model s (MB) | 2-bit model s (MB) | substitute s (MB) | worst case s (MB) |",
                  "|---:|---:|---:|---:|---:|---:|", *size_chain(a.sizes, a.configfile, a.cores)]
    report = "\n".join(lines)
    print(report)
    if not a.no_write:
        write_section(HEADING, report)


if __name__ == "__main__":
    main()
