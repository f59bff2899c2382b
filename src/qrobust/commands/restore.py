"""After dvc pull: verify hashes, then order mtimes as the DAG made them."""
from __future__ import annotations

from qrobust.commands import add_records


def add_arguments(p) -> None:
    add_records(p)


def run(a) -> None:
    from qrobust.provenance.record import load_records, restore_mtimes

    n = restore_mtimes(load_records(a.records))
    print(f"qrobust restore: hashes verified; mtimes of {n} files set in DAG order (snakemake -n now reflects real changes)")
