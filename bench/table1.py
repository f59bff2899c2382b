"""Benchmark: the default table1 DAG from scratch, the no-op dry run after it, and peak memory per job.

Usage: python bench/table1.py [--cores 2] [--configfile config/config.yaml]
Runs in a scratch copy (bench/_work) so the repository's own results/ are untouched, and writes
the figures to bench/RESULTS.md (section "table1").
"""
from __future__ import annotations

import argparse
import csv
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from _helpers import copy_workflow  # noqa: E402

TARGETS = ["results/table1.csv", "results/figures/fig1.png"]


def timed(cmd, cwd) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return dt, r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--configfile", default="config/config.yaml")
    a = ap.parse_args()
    work = ROOT / "bench" / "_work" / "table1"
    shutil.rmtree(work, ignore_errors=True)
    copy_workflow(work)
    smk = str(Path(sys.executable).parent / "snakemake")
    base = [smk, *TARGETS, "--cores", str(a.cores), "--configfile", a.configfile]
    full, _ = timed(base, work)
    noop, r = timed([*base, "-n"], work)
    assert "Nothing to be done" in r.stdout + r.stderr, "dry run after a full run still has jobs"
    peaks = []
    for tsv in (work / "benchmarks").rglob("*.tsv"):
        row = next(csv.DictReader(open(tsv), delimiter="\t"))
        peaks.append((float(row["max_rss"]), f"{tsv.parent.name}/{tsv.stem}"))
    peak_mb, peak_job = max(peaks)
    n_jobs = len(list((work / "logs").rglob("*.log")))
    with open(work / "results" / "table1.csv") as f:
        rows = list(csv.DictReader(f))
    fp_clean = float(rows[0]["Full Prec."])
    lines = [
        "## table1",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores; "
        f"config {a.configfile}; `snakemake --cores {a.cores}`; {n_jobs} jobs.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| table1 DAG from scratch (install excluded) | {full:.1f} s | <= 300 s |",
        f"| no-op dry run after it | {noop:.2f} s | <= 3 s |",
        f"| peak RSS of the largest job ({peak_job}) | {peak_mb:.0f} MB | <= 2048 MB |",
        f"| Vanilla full-precision clean accuracy | {fp_clean:.2f} % | >= 95 % |",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    out = ROOT / "bench" / "RESULTS.md"
    text = out.read_text() if out.exists() else "# Benchmark results\n\nEach section is written by its script under bench/.\n\n"
    start = text.find("## table1")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + text[end + 1:] if end >= 0 else text[:start]
    out.write_text(text.rstrip("\n") + "\n\n" + report)


if __name__ == "__main__":
    main()
