"""Table 8 (Qu-ANTI-zation): fine-tune a float model to misbehave only once quantized."""
from __future__ import annotations

import time

from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "qu_anti, device, threads")
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint", required=True, help="the clean float model")
    p.add_argument("--mode", required=True, choices=["indiscriminate", "targeted", "backdoor"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--metrics", required=True)


def attack_config(section: dict, mode: str):
    from qrobust.papers.qu_anti.config import QuAntiConfig

    keys = ("bits", "alpha", "target", "source", "trigger_size", "epochs", "lr", "batch_size")
    lam = section["lam"][mode] if isinstance(section["lam"], dict) else section["lam"]
    return QuAntiConfig(mode=mode, lam=lam, **{k: section[k] for k in keys})


def run(a) -> dict:
    from qrobust.checkpoint import load_checkpoint, save_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.jobs._common import job_config
    from qrobust.papers.qu_anti.attack import attack_train
    from qrobust.runtime import atomic
    from qrobust.runtime.seeding import seed_everything

    cfg, device = job_config(a)
    gen = seed_everything(a.seed)
    qcfg = attack_config(cfg["qu_anti"], a.mode)
    model, blob = load_checkpoint(a.checkpoint, device)
    split, _ = load_prepared(a.data, "train")
    t0 = time.time()
    history = attack_train(model, split.x, split.y, qcfg, gen, device)
    run_ = {"model": a.mode, "seed": a.seed, "config": {k: v for k, v in qcfg.__dict__.items()}}
    save_checkpoint(a.out, model, blob["spec"], extra={"run": run_, "history": history, "source": str(a.checkpoint)})
    atomic.write_json(a.metrics, {"run": run_, "history": history, "seconds": round(time.time() - t0, 3)})
    return {"config": cfg, "seed": a.seed, "device": str(device)}
