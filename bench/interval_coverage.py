"""Coverage of qrobust.stats' 95 % interval on simulated seeds x images data with a known truth (the model of
tests/test_stats.py: per-seed random effects, image difficulty shared by two models, each model's own image
effect), in the crossed design (every seed the same images) and the fresh one (each seed its own sample of a
10,000-image split), for 3, 5, 10 seeds and 100, 250, 1000 images; also the mean interval width and, beside
it, what the plain t interval over the seeds' means (which ignores shared images) covers.

Usage: python bench/interval_coverage.py [--runs 2000] [--no-write]; writes "## Interval coverage" of bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from _results import write_section  # noqa: E402
from test_stats import SIM, _simulate, _truth  # noqa: E402

from qrobust.stats import two_way  # noqa: E402

HEADING = "## Interval coverage"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    t0 = time.perf_counter()
    lines = [HEADING, "", f"`python bench/interval_coverage.py --runs {a.runs}`: {a.runs} simulated runs per cell, the model of "
             f"tests/test_stats.py ({', '.join(f'{k} {v}' for k, v in SIM.items())}, logit scale). Coverage of the "
             "95 % interval (target 0.95; the test asks 0.93-0.99), its mean width in points, and the coverage of a "
             "plain t interval over the seeds' means.", "",
             "| design | seeds | images | coverage | mean width | t over seeds' means |", "|---|---:|---:|---:|---:|---:|"]
    for design in ("crossed", "fresh"):
        rng = np.random.default_rng(7 if design == "crossed" else 8)
        truth = _truth(rng)
        for seeds in (3, 5, 10):
            for n in (100, 250, 1000):
                hit = naive = 0
                width = []
                for _ in range(a.runs):
                    sample = _simulate(rng, seeds, n, design)
                    e = two_way(sample)
                    hit += e.low <= truth <= e.high
                    width.append(e.high - e.low)
                    means = [v.mean() for _, v in sample.values()]
                    lo, hi = st.t.interval(0.95, seeds - 1, np.mean(means), np.std(means, ddof=1) / np.sqrt(seeds))
                    naive += lo <= truth <= hi
                lines.append(f"| {design} | {seeds} | {n} | {hit / a.runs:.3f} | {100 * np.mean(width):.1f} | "
                             f"{naive / a.runs:.3f} |")
                print(lines[-1], flush=True)
    lines += ["", f"{time.perf_counter() - t0:.0f} s."]
    if not a.no_write:
        write_section(HEADING, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
