"""Train one checkpoint: a (method, beta, activation bits, activation) run.

Covers Table 1's runs, DQ Tables 3-4's runs with another activation, and the black-box
substitute (whose model section the rule passes). Adversarial training is train_adv."""
from __future__ import annotations

import time

from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "model, train, quant, device, threads")
    p.add_argument("--data", required=True, help="prepared data folder")
    p.add_argument("--method", required=True, choices=["vanilla", "dq"])
    p.add_argument("--beta", type=float, default=0.0, help="DQ's Lipschitz regularization strength")
    p.add_argument("--act-bits", default="fp", help="integer, or fp for full precision")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--act", help="activation instead of the config's model.act (relu6, relu1, tanh, relu)")
    p.add_argument("--out", required=True, help="checkpoint path")
    p.add_argument("--metrics", required=True, help="training metrics JSON path")


def run(a, extra_loss_factory=None) -> dict:
    """`extra_loss_factory(cfg, gen) -> (extra_loss, AdvConfig)`: train_adv's adversarial term."""
    import torch

    from qrobust.checkpoint import save_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.jobs._common import job_config, model_spec, parse_bits
    from qrobust.models import create_model
    from qrobust.quant import QuantConfig, quantize_
    from qrobust.runtime import atomic
    from qrobust.runtime.seeding import seed_everything
    from qrobust.training.loop import TrainConfig, check_learned, train

    cfg, device = job_config(a)
    gen = seed_everything(a.seed)
    split, meta = load_prepared(a.data, "train")
    qcfg = QuantConfig(act_bits=parse_bits(a.act_bits), weight_bits=cfg["quant"].get("weight_bits"))
    model_cfg = dict(cfg["model"], act=a.act) if a.act else cfg["model"]  # Table 3/4 runs swap the activation
    spec_model = model_spec(model_cfg, meta)
    model = quantize_(create_model(**spec_model), qcfg)
    extra, adv = (None, None) if extra_loss_factory is None else extra_loss_factory(cfg, gen)
    tcfg = TrainConfig(**cfg["train"], beta=a.beta if a.method == "dq" else 0.0,
                       clean_weight=1.0 - adv.weight if adv else 1.0)
    t0 = time.time()
    history = train(model, split.x, split.y, tcfg, gen, device, extra_loss=extra)
    check_learned(history, int(meta["num_classes"]), tcfg)
    run_ = {"method": a.method, "beta": a.beta, "act_bits": qcfg.act_bits, "weight_bits": qcfg.weight_bits, "seed": a.seed,
            "act": spec_model["act"], "adv": adv.attack if adv else None}
    spec = {"model": spec_model, "quant": {"act_bits": qcfg.act_bits, "weight_bits": qcfg.weight_bits}}
    save_checkpoint(a.out, model, spec, extra={"run": run_, "history": history})
    atomic.write_json(a.metrics, {"run": run_, "history": history, "train_seconds": round(time.time() - t0, 3),
                               "device": str(device), "torch": torch.__version__})
    return {"config": cfg, "seed": a.seed, "device": str(device)}
