"""Per-job start-up, in-process (QROBUST_SERVER=0) beside the warm job
server (qrobust/runtime/server.py), side by side in one run.

Start-up of a job = wall time of `qrobust <job>` from launch until the job has imported every
module it runs (its source closure, qrobust/plan/sources.py; torch, torchvision and the rest come with
them), measured with QROBUST_STARTUP_ONLY=1, which stops there. Each job is timed ROUNDS times each
way, alternating; the table gives per-job medians and the median over jobs. Writes the section
"Per-job start-up".

Usage: python bench/startup.py [--rounds 3] [--jobs evaluate table ...]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

from qrobust import jobs  # noqa: E402

HEADING = "## Per-job start-up"
QROBUST = str(Path(sys.executable).parent / "qrobust")


def _time(job: str, env: dict) -> float:
    t = time.perf_counter()
    subprocess.run([QROBUST, job], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def measure(names: list[str], rounds: int) -> dict[str, tuple[float, float]]:
    tmp = tempfile.mkdtemp(prefix="qsb", dir="/tmp")  # a private server, stopped at the end
    base = dict(os.environ, QROBUST_STARTUP_ONLY="1", TMPDIR=tmp, QROBUST_SERVER_IDLE="20")
    cold, warm = dict(base, QROBUST_SERVER="0"), dict(base, QROBUST_SERVER="1")
    try:
        _time(names[0], warm)  # start the server (its one-off cost is the first job's, as in a DAG)
        out = {}
        for job in names:
            c, w = [], []
            for r in range(rounds):
                for env, acc in ((cold, c), (warm, w)) if r % 2 == 0 else ((warm, w), (cold, c)):
                    acc.append(_time(job, env))
            out[job] = (statistics.median(c), statistics.median(w))
        return out
    finally:
        subprocess.run(["pkill", "-f", f"qrobust.runtime.server {tmp}"], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", nargs="+", default=jobs.names())
    ap.add_argument("--no-write", action="store_true", help="print only (the tests)")
    a = ap.parse_args()
    res = measure(a.jobs, a.rounds)
    lines = [HEADING, "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
             f"`python bench/startup.py --rounds {a.rounds}`: wall time of `qrobust <job>` until the job has imported "
             "what it runs, median of the rounds.", "",
             "| job | in-process (s) | warm server (s) | ratio |", "|---|---:|---:|---:|"]
    for job, (c, w) in res.items():
        lines.append(f"| {job} | {c:.2f} | {w:.2f} | {c / w:.1f}x |")
    mc, mw = statistics.median(c for c, _ in res.values()), statistics.median(w for _, w in res.values())
    lines += [f"| **median over jobs** | **{mc:.2f}** | **{mw:.2f}** | **{mc / mw:.1f}x** |", ""]
    report = "\n".join(lines)
    print(report)
    if not a.no_write:
        write_section(HEADING, report)


if __name__ == "__main__":
    main()
