"""PTQ or QAT of a float checkpoint with one configured scheme of `quantize.schemes`."""
from __future__ import annotations

import time

from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "model, train, quantize, device, threads")
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint", required=True, help="the float checkpoint")
    p.add_argument("--scheme", required=True, help="a name from quantize.schemes")
    p.add_argument("--wbits", type=int, required=True)
    p.add_argument("--abits", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="quantized checkpoint path")
    p.add_argument("--metrics", required=True)


def pick(schemes: list[dict], name: str, section: str) -> dict:
    by_name = {s["name"]: s for s in schemes}
    if name not in by_name:
        raise ValueError(f"scheme '{name}' is not in {section}.schemes ({', '.join(by_name) or 'none'}); add it to the config")
    return by_name[name]


def run(a) -> dict:
    from qrobust.checkpoint import load_checkpoint, save_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.jobs._common import job_config
    from qrobust.quant.schemes import apply_scheme, scheme_config
    from qrobust.runtime import atomic
    from qrobust.runtime.seeding import seed_everything

    cfg, device = job_config(a)
    gen = seed_everything(a.seed)
    scheme = pick(cfg["quantize"]["schemes"], a.scheme, "quantize")
    qcfg = scheme_config(scheme, a.wbits, a.abits)
    float_model, blob = load_checkpoint(a.checkpoint, device)
    split, _ = load_prepared(a.data, "train")
    t0 = time.time()
    model, info = apply_scheme(float_model, blob["spec"]["model"], scheme, qcfg, cfg["quantize"], cfg["train"],
                               split.x, split.y, gen, a.seed, device)
    run_ = {"scheme": a.scheme, "mode": scheme["mode"], "weight_bits": a.wbits, "act_bits": a.abits, "seed": a.seed,
            "beta": scheme["beta"], "quant": qcfg.to_dict()}
    spec = {"model": blob["spec"]["model"], "quant": qcfg.to_dict(), "folded": info["folded"]}
    save_checkpoint(a.out, model, spec, extra={"run": run_, "history": info["history"], "source": str(a.checkpoint)})
    atomic.write_json(a.metrics, {"run": run_, **info, "seconds": round(time.time() - t0, 3), "device": str(device)})
    return {"config": cfg, "seed": a.seed, "device": str(device)}
