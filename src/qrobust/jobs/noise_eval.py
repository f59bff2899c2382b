"""Accuracy on every noised test set and under each model-side system noise (Table 5)."""
from __future__ import annotations

from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "robust_bench, eval, device, threads")
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("noised", nargs="*", help="files written by make_noise")


def run(a) -> dict:
    import torch

    from qrobust.datasets import load_prepared
    from qrobust.jobs._common import job_config, load_run
    from qrobust.papers.robust_bench.noise_eval import noise_accuracy
    from qrobust.quant.ptq import calibration_images
    from qrobust.runtime import atomic

    cfg, device = job_config(a)
    model, run_ = load_run(a.checkpoint, device)
    test, _ = load_prepared(a.data, "test")
    train, _ = load_prepared(a.data, "train")
    noised = [torch.load(p, weights_only=True) for p in a.noised]
    res = noise_accuracy(model, test.x, test.y, noised, cfg["robust_bench"]["model_side"],
                         calibration_images(train.x, 256, run_["seed"]), device,
                         cfg.get("eval", {}).get("batch_size", 500))
    res.update(run=run_, checkpoint=str(a.checkpoint))
    atomic.write_json(a.out, res)
    return {"config": cfg, "seed": run_["seed"], "device": str(device)}
