"""DQ Figure 3: normalized distance of each layer's input between clean and attacked images."""
from __future__ import annotations

from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "eps, n_images, device, threads")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("checkpoints", nargs="+")


def run(a) -> dict:
    from qrobust.checkpoint import load_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.jobs._common import job_config
    from qrobust.papers.dq.act_distance import normalized_distances
    from qrobust.runtime import atomic
    from qrobust.runtime.seeding import seed_everything

    cfg, device = job_config(a)
    seed_everything(0)
    test, _ = load_prepared(a.data, "test")
    x = test.x[: cfg["n_images"]].float().div(255.0).to(device)
    y = test.y[: cfg["n_images"]].to(device)
    out = []
    for path in a.checkpoints:
        model, blob = load_checkpoint(path, device)
        res = normalized_distances(model, x, y, cfg["eps"], seed=blob["extra"]["run"]["seed"])
        out.append({"run": blob["extra"]["run"], "checkpoint": str(path), **res})
    atomic.write_json(a.out, {"models": out, "n_images": len(y)})
    return {"config": cfg}
