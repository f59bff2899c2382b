"""Two runs' claims side by side: the verdicts of the same commit and config on two hosts, or on one host
with native and with forced-down CPU kernels. No claim may flip between holds and fails (a move to or from
inconclusive is the interval doing its job).

    ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 snakemake all --cores 2   # in a second clone
    python bench/claims_side_by_side.py A/results/claims.csv B/results/claims.csv --labels "native AVX2" "no vectors"

Writes the section "## Claims across CPU kernels" of bench/RESULTS.md (unless --no-write); exit 1 when a
claim flips between holds and fails.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_section  # noqa: E402

HEADING = "## Claims across CPU kernels"
DECIDED = {"holds", "fails"}


def _cell(r) -> str:
    if pd.isna(r.effect):
        return r.verdict
    ci = f" [{r.ci_low:.1f}, {r.ci_high:.1f}]" if pd.notna(r.ci_low) else ""
    return f"{r.verdict}: {r.effect:.1f}{ci}"


def compare(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    m = a.set_index("id").merge(b.set_index("id"), left_index=True, right_index=True, suffixes=("_a", "_b"), how="outer")
    flips = [i for i, r in m.iterrows() if {r.verdict_a, r.verdict_b} == DECIDED]
    return m, flips


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--labels", nargs=2, default=["A", "B"])
    ap.add_argument("--note", default="", help="a sentence on how the runs were made (hosts, kernels, commit)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    ta, tb = pd.read_csv(a.a), pd.read_csv(a.b)
    m, flips = compare(ta, tb)
    la, lb = a.labels
    lines = [HEADING, "", a.note, "", f"| claim | {la} | {lb} | |", "|---|---|---|---|"]
    for cid, r in m.iterrows():
        ra = pd.Series({"verdict": r.verdict_a, "effect": r.effect_a, "ci_low": r.ci_low_a, "ci_high": r.ci_high_a})
        rb = pd.Series({"verdict": r.verdict_b, "effect": r.effect_b, "ci_low": r.ci_low_b, "ci_high": r.ci_high_b})
        mark = "**flip**" if cid in flips else ("moved" if r.verdict_a != r.verdict_b else "")
        lines.append(f"| {cid} | {_cell(ra)} | {_cell(rb)} | {mark} |")
    same = int((m.verdict_a == m.verdict_b).sum())
    lines += ["", f"{same} of {len(m)} verdicts the same; {len(flips)} flips between holds and fails"
              + (f" ({', '.join(flips)})" if flips else "") + "."]
    report = "\n".join(lines) + "\n"
    print(report)
    if not a.no_write:
        write_section(HEADING, report)
    return 1 if flips else 0


if __name__ == "__main__":
    sys.exit(main())
