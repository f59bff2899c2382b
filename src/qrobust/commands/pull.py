"""dvc pull with clear errors, then restore: a fresh clone's results, ready for snakemake."""
from __future__ import annotations

from qrobust.commands import add_records, restore


def add_arguments(p) -> None:
    add_records(p)


def run(a) -> None:
    from qrobust.provenance.dvc import pull

    pull()
    restore.run(a)
