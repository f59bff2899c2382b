"""Provenance, DVC and SLURM, each pair measured side by side in one run on the tiny config:
- provenance overhead: the tiny table1 DAG with records vs with QROBUST_PROVENANCE=0, plus the
  seconds each job spent making its record (stored in the record);
- a fresh clone: dvc pull, qrobust restore and the no-op dry run, in seconds;
- the tiny DAG run locally vs through the slurm profile on this machine's one-node cluster.
Writes the section "provenance, DVC, SLURM" of bench/RESULTS.md.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from _helpers import BIN, copy_workflow, dvc_env, make_dvc_repo  # noqa: E402

WORK = ROOT / "bench" / "_work" / "provenance_dvc_slurm"
TARGETS = ["results/table1.csv", "results/figures/fig1.png"]
ENV = dvc_env()


def run(cwd, *cmd, env=None) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env or ENV, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, cmd))} failed:\n{(r.stdout + r.stderr)[-2000:]}")
    return time.perf_counter() - t0


def tiny_dag(name, *extra, env=None) -> tuple[float, Path]:
    wd = copy_workflow(WORK / name)
    return run(wd, BIN / "snakemake", *TARGETS, "--configfile", "config/tiny.yaml", *extra, env=env), wd


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    rows = []
    # 1. provenance overhead: 5 runs each, alternating which goes first, medians (single 30 s runs vary by +-15 % here)
    on, off, wd = [], [], None
    for i in range(5):
        pair = [("on", {}), ("off", {"QROBUST_PROVENANCE": "0"})]
        for mode, extra_env in (pair if i % 2 == 0 else pair[::-1]):  # swap the order every other pair
            t, d = tiny_dag(f"prov_{mode}{i}", "--cores", "2", env=dict(ENV, **extra_env))
            (on if mode == "on" else off).append(t)
            wd = d if mode == "on" else wd
    with_p, without_p = sorted(on)[1], sorted(off)[1]
    recs = [json.loads(p.read_text()) for p in (wd / "results" / "provenance").rglob("*.json")]
    in_jobs = sum(r["provenance_seconds"] for r in recs)
    rows += [("tiny DAG with provenance records (median of 5)", f"{with_p:.1f} s ({', '.join(f'{t:.1f}' for t in on)})", ""),
             ("tiny DAG with QROBUST_PROVENANCE=0 (median of 5)", f"{without_p:.1f} s ({', '.join(f'{t:.1f}' for t in off)})", ""),
             ("difference of medians (resolves only what exceeds the run-to-run spread)",
              f"{100 * (with_p - without_p) / without_p:+.1f} %", "< 5 %"),
             (f"time making the {len(recs)} records, summed over jobs",
              f"{in_jobs:.2f} s = {100 * in_jobs / with_p:.1f} % of the DAG", "< 5 %")]

    # 2. DVC: repro + push in a scratch repo, then a fresh clone pulls
    t0 = time.perf_counter()
    repo = make_dvc_repo(WORK / "dvc_repo", WORK / "remote", run)
    repro_push = time.perf_counter() - t0
    clone = WORK / "dvc_clone"
    run(WORK, "git", "clone", "-q", str(repo), str(clone))
    pull = run(clone, BIN / "dvc", "pull")
    restore = run(clone, BIN / "qrobust", "restore")
    dry = run(clone, BIN / "snakemake", "-n", *TARGETS, "--cores", "1")
    rows += [("scratch repo: dvc repro + dvc push (tiny run, includes the DAG)", f"{repro_push:.1f} s", ""),
             ("fresh clone: dvc pull", f"{pull:.2f} s", ""),
             ("fresh clone: qrobust restore", f"{restore:.2f} s", ""),
             ("fresh clone: snakemake -n (nothing to do)", f"{dry:.2f} s", ""),
             ("fresh clone: pull + restore + dry run", f"{pull + restore + dry:.2f} s", "")]

    # 3. local vs SLURM, same DAG, same machine
    have_slurm = shutil.which("sinfo") and subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True,
                                                          text=True).stdout.strip() in ("idle", "mix")
    if have_slurm:
        slurm, _ = tiny_dag("slurm", "--profile", "profiles/slurm", "--set-resources", "train:gpu=0", "evaluate:gpu=0",
                            "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2")
        rows += [("tiny DAG, local --cores 2", f"{with_p:.1f} s", ""),
                 ("tiny DAG, slurm profile (1-node cluster, polling every 2 s)", f"{slurm:.1f} s", ""),
                 ("SLURM / local", f"{slurm / with_p:.2f}x", "")]
    else:
        rows.append(("tiny DAG through SLURM", "not run: no idle SLURM node (bash .ci/slurm-up.sh as root)", ""))

    lines = ["## provenance, DVC, SLURM", "",
             f"{os.cpu_count()} cores; config/tiny.yaml (11 jobs); `python bench/provenance_dvc_slurm.py`.", "",
             "| measure | value | target |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows] + [""]
    report = "\n".join(lines)
    print(report)
    out = ROOT / "bench" / "RESULTS.md"
    text = out.read_text()
    start = text.find(lines[0])
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + (text[end + 1:] if end >= 0 else "")
    out.write_text(text.rstrip("\n") + "\n\n" + report)


if __name__ == "__main__":
    main()
