"""OHQ: per-layer latency at every precision on this machine (measured or cost-modelled)."""
from __future__ import annotations

import sys
from pathlib import Path

from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "model, ohq, threads")
    p.add_argument("--data", required=True, help="prepared data folder (for input shape and classes)")
    p.add_argument("--out", required=True)


def run(a) -> dict:
    from qrobust.jobs._common import job_config, model_spec
    from qrobust.models import create_model
    from qrobust.papers.ohq.latency import profile_model
    from qrobust.runtime import atomic
    from qrobust.runtime.seeding import seed_everything

    cfg, device = job_config(a, device_key="ohq")
    seed_everything(0)
    meta = atomic.read_json(Path(a.data) / "meta.json")
    model = create_model(**model_spec(cfg["model"], meta)).eval()  # latency depends on shapes, not on trained weights
    prof = profile_model(model, meta["shape"], cfg["ohq"], device)
    atomic.write_json(a.out, prof)
    for lay in prof["layers"]:
        cells = ", ".join(f"{p} {v:.3f}{'' if lay['source'][p] == 'measured' else '*'}" for p, v in lay["latency_ms"].items())
        print(f"{lay['name']}: {cells} ms (* cost model)", file=sys.stderr)
    return {"config": cfg, "seed": 0, "device": str(device)}
