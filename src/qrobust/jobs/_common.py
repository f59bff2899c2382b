"""Helpers every job shares: its config slice, thread count and device; model specs."""
from __future__ import annotations

import json


def job_config(a, device_key: str | None = None):
    """A job's config slice (`--cfg`), with torch's thread count set and `device: auto` resolved.

    `device_key` names a section whose own `device` wins (OHQ times kernels on its own device)."""
    from qrobust.runtime.seeding import resolve_device, set_threads

    cfg = json.loads(a.cfg)
    set_threads(cfg.get("threads", 1))
    device = cfg[device_key].get("device", "cpu") if device_key else cfg.get("device", "auto")
    return cfg, resolve_device(device)


def load_run(path, device):
    """An evaluation's model and its training run (whose seed the evaluation's draws use)."""
    from qrobust.checkpoint import load_checkpoint
    from qrobust.runtime.seeding import seed_everything

    model, blob = load_checkpoint(path, device)
    run = blob["extra"]["run"]
    seed_everything(run["seed"])
    return model, run


def parse_bits(s: str):
    return None if s in ("fp", "null", "None") else int(s)


def model_spec(model_cfg: dict, meta: dict) -> dict:
    """create_model kwargs from the config's model section and the prepared data's meta.json."""
    return {"name": model_cfg["name"], "num_classes": meta["num_classes"], "in_channels": meta["shape"][0],
            "act": model_cfg.get("act", "relu6"), "mean": meta["mean"], "std": meta["std"], **model_cfg.get("kwargs", {})}


def add_cfg(p, what: str) -> None:
    p.add_argument("--cfg", required=True, help=f"JSON of the config slice the job reads ({what})")


def read_long_tables(items: list[str], **read_csv) -> dict:
    """{name: DataFrame} from NAME=PATH arguments (the claims' and the scorecard's long CSVs)."""
    from qrobust.tables._base import read_long

    tables = {}
    for item in items:
        name, _, path = item.partition("=")
        if not path:
            raise ValueError(f"'{item}': give tables as NAME=PATH, e.g. table1=results/table1_long.csv")
        tables[name] = read_long(path, **read_csv)
    return tables
