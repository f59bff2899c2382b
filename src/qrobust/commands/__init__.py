"""User commands (not Snakemake jobs): one module each, with a docstring, `add_arguments` and `run`.

The subcommand is the module name with `-` for `_` (check_config.py -> `qrobust check-config`).
`run` returns an exit status (None = 0)."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

CMD_DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules([str(CMD_DIR)]) if not m.name.startswith("_"))


def load(name: str):
    return importlib.import_module(f"qrobust.commands.{name.replace('-', '_')}")


def add_records(p) -> None:
    p.add_argument("--records", default="results/provenance", help="folder of provenance records")
