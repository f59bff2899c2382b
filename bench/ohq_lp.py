"""Wall time of the OHQ/HAWQ-V3 bit-allocation integer program (PuLP + bundled CBC).

Random problems with 10..60 layers x 4 precisions (sensitivity falls with precision, latency and size
rise, with noise), latency budget at fraction 0.5. `solve` is timed end to end (model build + CBC),
median of 5; brute force runs where 4**L <= 1.1e6 and must find the same optimum.
Writes the section "OHQ LP solve time" of bench/RESULTS.md.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from qrobust.papers.ohq.allocate import Problem, brute_force, budget_from_fraction, solve

ROOT = Path(__file__).resolve().parents[1]
from _results import write_section  # noqa: E402  (bench/ is the script's folder)

from qrobust.runtime.hardware import hardware_name  # noqa: E402  (model name + cores, as the profiles record it)

HEADING = "## OHQ LP solve time"
PRECISIONS = ["fp32", "int8", "int4", "int2"]


def random_problem(n_layers: int, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0.85, 1.15, (n_layers, 4))
    sens = rng.lognormal(0, 0.7, (n_layers, 1)) * np.array([0.0, 0.02, 0.2, 1.0]) * noise
    lat = rng.lognormal(0, 0.5, (n_layers, 1)) * np.array([1.0, 0.45, 0.3, 0.25]) * noise[:, ::-1]
    size = rng.lognormal(0, 0.8, (n_layers, 1)) * np.array([32, 8, 4, 2]) / 8
    return Problem([f"layer{i}" for i in range(n_layers)], PRECISIONS, sens, lat, size)




def main() -> None:
    rows = []
    for n in (10, 20, 30, 40, 50, 60):
        problem = random_problem(n, seed=n)
        budget = budget_from_fraction(problem, "latency", 0.5)
        times, alloc = [], None
        for _ in range(5):
            t0 = time.perf_counter()
            alloc = solve(problem, latency_budget=budget)
            times.append(time.perf_counter() - t0)
        assert alloc.status == "Optimal" and alloc.latency <= budget * (1 + 1e-9), alloc
        cbc = alloc.solve_seconds
        if len(PRECISIONS) ** n <= 1.1e6:
            ref = brute_force(problem, latency_budget=budget)
            same = "yes" if abs(ref.objective - alloc.objective) <= 1e-7 * max(1.0, abs(ref.objective)) else "NO"
            bf = f"{ref.solve_seconds:.2f}"
        else:
            same, bf = "n/a", "n/a"
        rows.append((n, n * len(PRECISIONS), statistics.median(times), cbc, bf, same))
        print(f"{n} layers: solve median {statistics.median(times):.3f} s, brute force {bf} s, same optimum {same}", flush=True)

    lines = [HEADING, "",
             f"Machine: {hardware_name('cpu')}; `python bench/ohq_lp.py`. 4 precisions "
             f"({', '.join(PRECISIONS)}), latency budget at fraction 0.5, no ties; `solve` timed end to end "
             "(PuLP model build + bundled CBC), median of 5. Target: 20 layers x 4 precisions under 1 s.", "",
             "| layers | variables | solve median (s) | CBC call, last run (s) | brute force (s) | same optimum |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {n} | {v} | {med:.3f} | {cbc:.3f} | {bf} | {same} |" for n, v, med, cbc, bf, same in rows]
    t20 = next(med for n, _, med, *_ in rows if n == 20)
    lines += ["", f"20 layers x 4 precisions: {t20:.3f} s ({'meets' if t20 < 1 else 'misses'} the 1 s target).", ""]
    report = "\n".join(lines)
    print(report)
    write_section(HEADING, report)


if __name__ == "__main__":
    main()
