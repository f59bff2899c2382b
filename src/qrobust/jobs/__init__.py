"""One module per Snakemake rule: file name = rule name = `qrobust` subcommand.

A job module has a docstring (its first line is the help), `add_arguments(parser)` and
`run(args) -> dict`. `run` returns what only the job knows for its provenance record (the
config slice it read, seed, device); the files it read and wrote come from Snakemake
(`--prov-io`). Job modules import their heavy dependencies inside `run`, so listing them is cheap
and each job's source inputs are exactly the modules it executes (see qrobust.plan.sources).
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

JOB_DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    """Every job (= Snakemake rule) name, sorted."""
    return sorted(m.name for m in pkgutil.iter_modules([str(JOB_DIR)]) if not m.name.startswith("_"))


def load(name: str):
    return importlib.import_module(f"qrobust.jobs.{name}")
