"""The CLI's parser and the one way a subcommand runs: `run_here` parses argv and runs the job or user
command in this process, writing a job's provenance record. `qrobust.cli` calls it (after trying the warm
job server), and the server's forked child calls it (qrobust/runtime/server.py).

Errors a user can fix get one line and exit 2; anything else is a bug and keeps its traceback
(QROBUST_DEBUG=1 keeps it for both).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from qrobust import __version__, commands, jobs
from qrobust.runtime import malloc

DESCRIPTION = "qrobust: user commands, and the jobs that the Snakemake rules run."

USER_ERRORS: tuple = (ValueError, KeyError, FileNotFoundError, RuntimeError)


def _summary(mod) -> str:
    return (mod.__doc__ or "").strip().splitlines()[0]


def _add(sub, name: str, mod, kind: str) -> None:
    s = sub.add_parser(name, description=mod.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mod.add_arguments(s)
    if kind == "job":  # every job can record what made its outputs
        s.add_argument("--prov", help="write this job's provenance record here")
        s.add_argument("--prov-io", help="JSON {inputs: [...], outputs: [...]}: the files Snakemake gave the job")
        s.add_argument("--rule", help="the Snakemake rule running this job (default: the job's name)")
    s.set_defaults(_mod=mod, _kind=kind, _job=name)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that subcommand's (a job need not import its siblings)."""
    job_names, cmd_names = jobs.names(), commands.names()
    listing = []
    if only is None:  # a job imports no other subcommand's module (they are not its source inputs)
        listing = ["user commands:"] + [f"  {n:<16} {_summary(commands.load(n))}" for n in cmd_names]
        listing += ["", "jobs (one per Snakemake rule; the workflow calls them):"]
        listing += [f"  {n:<16} {_summary(jobs.load(n))}" for n in job_names]
    p = argparse.ArgumentParser(prog="qrobust", description=DESCRIPTION, epilog="\n".join(listing),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"qrobust {__version__}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    for n in cmd_names:
        if only in (None, n):
            _add(sub, n, commands.load(n), "command")
    for n in job_names:
        if only in (None, n):
            _add(sub, n, jobs.load(n), "job")
    return p


def run_here(argv: list[str]) -> int:
    """Run a subcommand in this process."""
    known = argv[0] if argv and (argv[0] in jobs.names() or argv[0] in commands.names()) else None
    if known in jobs.names() and os.environ.get("QROBUST_STARTUP_ONLY"):  # bench/startup.py: start-up alone
        import importlib

        from qrobust.plan.sources import _job_closure

        for m in sorted(_job_closure(known)):  # what the job imports before its first line of work
            importlib.import_module(m)
        return 0
    args = build_parser(known).parse_args(argv)
    start, cpu_start = time.time(), time.process_time()
    if args._kind == "job":
        malloc.tune()  # large tensors reuse freed memory (qrobust/runtime/malloc.py): same bytes, faster
    try:
        result = args._mod.run(args)
        if args._kind == "command":
            return int(result or 0)
        if args.prov:
            t_prov = time.perf_counter()  # the record's cost includes importing its module
            from qrobust.provenance.record import write_record

            io = json.loads(args.prov_io) if args.prov_io else {"inputs": [], "outputs": []}
            inputs = io["inputs"] + result.pop("raw_inputs", [])
            write_record(args.prov, rule=args.rule or args._job, stage=args._job, inputs=inputs, outputs=io["outputs"],
                         start=start, end=time.time(), t_begin=t_prov,
                         cpu_seconds=time.process_time() - cpu_start, **result)
    except USER_ERRORS as e:
        if os.environ.get("QROBUST_DEBUG"):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"qrobust: error: {msg}", file=sys.stderr)
        return 2
    return 0
