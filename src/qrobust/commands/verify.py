"""Check what has been made: present, recorded, untouched, current; optionally recompute jobs.

By default the outputs of the whole DAG (`all`) that exist or that a record names are checked, and one
line says how many of `all`'s outputs are not made yet (not an error: `snakemake all` makes them).
`--target T ...` checks the DAG of those targets strictly: every output of it must be there.

Findings are of three kinds, each line saying which file and what to run (see qrobust.commands._freshness):
  tampered  bytes differ from the record (or, with --recompute, from what rerunning the job writes)
  missing   an output the current DAG should have, or the provenance record that covers it
  stale     older code, another config slice or changed inputs: Snakemake would remake it
and notes (env) where a record was made with other package versions than the running ones.

exit status: 0 all match; 1 tampered; 3 missing; 4 stale (the first that applies, in that
order); 2 a usage error (as for every command).
"""
from __future__ import annotations

import sys

from qrobust.commands import add_records


def add_arguments(p) -> None:
    add_records(p)
    p.add_argument("--target", nargs="+", default=None,
                   help="check every output of these targets' DAG, made or not (`--target all`: the whole DAG); "
                        "default: what has been made of `all`")
    p.add_argument("--configfile", nargs="+", default=[],
                   help="config files as given to snakemake (after config/config.yaml)")
    p.add_argument("--records-only", action="store_true",
                   help="check the records' hashes and code only, not the DAG (no snakemake call)")
    p.add_argument("--recompute", metavar="FILE|RULE|N",
                   help="also rerun the job that made FILE, every job of RULE, or a seeded sample of N jobs, "
                        "in a scratch folder from their recorded inputs, and compare the outputs")
    p.add_argument("--seed", type=int, default=0, help="seed of the --recompute N sample")


def _say(kind: str, lines: list[str]) -> None:
    for line in lines:
        print(f"qrobust verify: {kind}: {line}", file=sys.stderr)


def run(a) -> int:
    from qrobust.commands import _freshness as freshness
    from qrobust.provenance.record import load_records

    index = load_records(a.records)
    summary = None if a.records_only else freshness.dag_summary(a.target or ["all"], a.configfile)
    lacking = []
    if summary is not None and a.target is None:  # what has been made: outputs on disk or named by a record
        summary, lacking = freshness.split_made(summary, index)
    current = freshness.current_config(["config/config.yaml", *a.configfile])
    found = freshness.check(index, summary, current)
    if a.recompute:
        from qrobust.commands._recompute import recompute, select

        for rec in select(index, a.recompute, a.seed):
            status, lines = recompute(rec)
            if status in ("tampered", "failed"):
                found["tampered"] += lines
            else:
                print("\n".join(f"qrobust verify: recompute: {ln}" for ln in lines))
    for kind in (*freshness.KINDS, "env"):
        _say(kind, found[kind])
    n_rec = len({r["_path"] for r in index.values()})
    code = freshness.exit_code(found)
    counts = ", ".join(f"{len(found[k])} {k}" for k in freshness.KINDS if found[k])
    scope = ("records" if summary is None else f"records; {len(summary)} outputs of the DAG" if a.target
             else f"records; {len(summary)} outputs made")
    if lacking:
        print(f"qrobust verify: not made yet: {len(lacking)} of the {len(summary) + len(lacking)} outputs of `all` "
              f"(`snakemake all` makes them; `--target all` counts them as missing)")
    if code:
        print(f"qrobust verify: {counts} ({n_rec} {scope})", file=sys.stderr)
        return code
    print(f"qrobust verify: {n_rec} {scope}: every output present, recorded, matching its sha256 and current")
    return 0
