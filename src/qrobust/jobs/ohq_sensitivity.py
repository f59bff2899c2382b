"""OHQ: per-layer KL sensitivity to each precision on calibration images."""
from __future__ import annotations

from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "ohq, threads")
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)


def run(a) -> dict:
    import json

    from qrobust.checkpoint import load_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.papers.ohq.sensitivity import sensitivity_job
    from qrobust.runtime import atomic
    from qrobust.runtime.seeding import seed_everything, set_threads

    cfg = json.loads(a.cfg)
    set_threads(cfg.get("threads", 1))
    seed_everything(a.seed)
    model, _ = load_checkpoint(a.checkpoint, "cpu")
    split, _ = load_prepared(a.data, "train")
    atomic.write_json(a.out, sensitivity_job(model, split.x, cfg["ohq"], a.seed))
    return {"config": cfg, "seed": a.seed, "device": "cpu"}
