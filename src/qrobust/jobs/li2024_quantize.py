"""Table 7 (Li et al. 2024): one (init, PTQ/QAT, robust optimization) scheme on one target (w, a, wa)."""
from __future__ import annotations

import time

from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "model, train, li2024, adv_train, device, threads")
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint", help="the initial float model (omit for init: random)")
    p.add_argument("--scheme", required=True, help="a name from li2024.schemes")
    p.add_argument("--target", required=True, choices=["w", "a", "wa"], help="quantize weights, activations or both")
    p.add_argument("--bits", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--metrics", required=True)


def run(a) -> dict:
    from qrobust.checkpoint import load_checkpoint, save_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.jobs._common import job_config, model_spec
    from qrobust.jobs.quantize import pick
    from qrobust.papers.li2024.method import apply_table7_scheme, target_config
    from qrobust.runtime import atomic
    from qrobust.runtime.seeding import seed_everything
    from qrobust.training.adversarial import AdvConfig

    cfg, device = job_config(a)
    t7 = cfg["li2024"]
    gen = seed_everything(a.seed)
    scheme = pick(t7["schemes"], a.scheme, "li2024")
    qcfg = target_config(scheme, a.target, a.bits)
    split, meta = load_prepared(a.data, "train")
    if a.checkpoint:
        init_model, blob = load_checkpoint(a.checkpoint, device)
        spec_model = blob["spec"]["model"]
    else:
        init_model, spec_model = None, model_spec(cfg["model"], meta)
    adv = AdvConfig(**{**cfg["adv_train"], "attack": t7["adv_attack"]})
    t0 = time.time()
    model, info = apply_table7_scheme(init_model, spec_model, scheme, qcfg, t7, cfg["train"], adv, split.x, split.y,
                                      gen, a.seed, device)
    run_ = {"scheme": a.scheme, "init": scheme["init"], "mode": scheme["mode"], "robust": scheme["robust"],
            "target": a.target, "bits": a.bits, "seed": a.seed, "quant": qcfg.to_dict()}
    spec = {"model": spec_model, "quant": qcfg.to_dict(), "folded": info["folded"]}
    save_checkpoint(a.out, model, spec, extra={"run": run_, "history": info["history"]})
    atomic.write_json(a.metrics, {"run": run_, **info, "seconds": round(time.time() - t0, 3), "device": str(device)})
    return {"config": cfg, "seed": a.seed, "device": str(device)}
