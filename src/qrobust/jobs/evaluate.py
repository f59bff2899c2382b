"""Clean and attacked accuracy of a checkpoint under the config's `attack` (Table 1)."""
from __future__ import annotations

import sys

from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "attack, eval, device, threads")
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)


def run(a) -> dict:
    from qrobust.datasets import load_prepared
    from qrobust.evaluation.attack import evaluate
    from qrobust.jobs._common import job_config, load_run
    from qrobust.runtime import atomic

    cfg, device = job_config(a)
    model, run_ = load_run(a.checkpoint, device)
    split, _ = load_prepared(a.data, "test")
    res = evaluate(model, split.x, split.y, cfg["attack"], device, cfg.get("eval", {}).get("batch_size", 500), seed=run_["seed"])
    res["run"] = run_
    atomic.write_json(a.out, res)
    print(f"{run_}: clean {res['clean_acc']:.2f} adv {res['adv_acc']:.2f}", file=sys.stderr)
    return {"config": cfg, "seed": run_["seed"], "device": str(device)}
