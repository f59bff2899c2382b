"""Table 8 (Qu-ANTI-zation): float and k-bit accuracy with the attack's quantizer and the repairs."""
from __future__ import annotations

import sys

from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "qu_anti, device, threads")
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--model", required=True, help="clean, indiscriminate, targeted or backdoor (the row)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)


def variants(repairs: list[str], calib) -> dict[str, dict]:
    """The attack's own quantizer, then each configured repair as evaluate_bits options."""
    out = {"attack quantizer": {}}
    for r in repairs:
        if r == "per_channel":
            out[r] = {"per_channel": True}
        elif r in ("floor", "stochastic"):
            out[f"{r} rounding"] = {"rounding": r}
        else:
            out[f"PTQ {r.split('-', 1)[1]}"] = {"calibrate": r.split("-", 1)[1], "calib_x": calib, "per_channel": True}
    return out


def run(a) -> dict:
    from qrobust.checkpoint import load_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.evaluation import images
    from qrobust.jobs._common import job_config
    from qrobust.papers.qu_anti.evaluate import evaluate_bits
    from qrobust.quant.ptq import calibration_images
    from qrobust.runtime import atomic
    from qrobust.runtime.seeding import seed_everything

    cfg, device = job_config(a)
    t8 = cfg["qu_anti"]
    seed_everything(a.seed)
    model, blob = load_checkpoint(a.checkpoint, device)
    test, _ = load_prepared(a.data, "test")
    train, _ = load_prepared(a.data, "train")
    calib = calibration_images(train.x, 256, a.seed)
    bits = [None] + list(t8["eval_bits"])
    # the bit-widths this model was attacked at (none for the clean model)
    attack_bits = list(blob["extra"]["run"].get("config", {}).get("bits", [])) if a.model != "clean" else []
    backdoor = {"trigger": t8["trigger_size"], "target": t8["target"]} if a.model == "backdoor" else {}
    if a.model == "targeted" and t8["source"] is not None:
        backdoor = {"source": t8["source"], "target": t8["target"]}
    out = {"model": a.model, "seed": a.seed, "checkpoint": str(a.checkpoint), "attack_bits": attack_bits, "variants": {},
           "images": images.encode(range(len(test.y)))}
    for name, kw in variants(t8["repairs"], calib).items():
        res = evaluate_bits(model, test.x, test.y, bits, seed=a.seed, device=device, **kw, **backdoor)
        out["variants"][name] = {key: {("float" if b is None else str(b)): v for b, v in res[src].items()}
                                 for key, src in (("accuracy", "acc"), ("asr", "asr"), ("tsr", "tsr"), ("correct", "correct"))
                                 if src in res}
        print(f"{a.model} [{name}]: " + ", ".join(f"{k} {v:.1f}" for k, v in out["variants"][name]["accuracy"].items()),
              file=sys.stderr)
    atomic.write_json(a.out, out)
    return {"config": cfg, "seed": a.seed, "device": str(device)}
