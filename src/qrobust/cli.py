"""`qrobust`: user commands, and the jobs that the Snakemake rules run.

A dispatcher: `qrobust.jobs` and `qrobust.commands` hold one module per subcommand, each
with `add_arguments(parser)` and `run(args)`. A job first tries the warm job server
(qrobust/runtime/server.py); the parser and the in-process run are qrobust/runtime/dispatch.py.
"""
from __future__ import annotations

import os
import sys

from qrobust import jobs
from qrobust.runtime.dispatch import run_here


def main(argv=None) -> int:
    """The console script; quiet when the reader of stdout goes away (`qrobust provenance ... | head`)."""
    try:
        rc = _dispatch(argv)
        sys.stdout.flush()
        return rc
    except BrokenPipeError:
        # Python's recipe: point stdout at devnull so the interpreter's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _dispatch(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].replace("-", "_") in jobs.names():
        argv[0] = argv[0].replace("-", "_")  # rule names; `prepare-data` works too
        from qrobust.runtime import server

        if server.enabled():  # a job starts in a warm fork with torch imported (qrobust/runtime/server.py)
            rc = server.run_client(argv)
            if rc is not None:
                return rc
    return run_here(argv)


if __name__ == "__main__":
    sys.exit(main())
