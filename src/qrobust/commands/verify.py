"""Recompute hashes; name every output whose recorded inputs no longer match."""
from __future__ import annotations

import sys

from qrobust.commands import add_records


def add_arguments(p) -> None:
    add_records(p)


def run(a) -> int:
    from qrobust.provenance import load_records, verify

    index = load_records(a.records)
    problems = verify(index)
    for p in problems:
        print(f"qrobust verify: {p}", file=sys.stderr)
    n_rec = len({r["_path"] for r in index.values()})
    if problems:
        print(f"qrobust verify: {len(problems)} problem(s) in {n_rec} records", file=sys.stderr)
        return 1
    print(f"qrobust verify: {n_rec} records, {len(index)} outputs and their inputs match their recorded sha256")
    return 0
