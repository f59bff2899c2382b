"""Accuracy under every configured attack and eps, white-box and transferred (DQ Tables 2-4)."""
from __future__ import annotations

import sys
from pathlib import Path

from qrobust.jobs import craft_blackbox
from qrobust.jobs._common import add_cfg


def add_arguments(p) -> None:
    add_cfg(p, "robustness (attacks, blackbox, eps, attack_kwargs, squeeze, attack_images), eval, device, threads")
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--blackbox", help="the black-box examples (craft_blackbox's output) for the (B) columns")
    p.add_argument("--defense", default="none", choices=["none", "fs"], help="fs: Feature Squeezing in front of the model")
    p.add_argument("--out", required=True)


def evaluate_robust(a, r: dict) -> dict:
    """The job body, shared with li2024_eval (same measurement, another config section)."""
    from qrobust.datasets import load_prepared
    from qrobust.evaluation import images
    from qrobust.evaluation.robust import robust_accuracy
    from qrobust.jobs._common import job_config, load_run
    from qrobust.runtime import atomic

    cfg, device = job_config(a)
    model, run_ = load_run(a.checkpoint, device)
    if a.defense == "fs":
        from qrobust.papers.dq.defenses import wrap

        model = wrap(model, a.defense, **r["squeeze"])
    split, _ = load_prepared(a.data, "test")
    attacked = images.encode(images.sample(len(split.y), r.get("attack_images"), run_["seed"]))
    examples = craft_blackbox.load(a.blackbox, run_["seed"], attacked) if a.blackbox else None
    res = robust_accuracy(model, split.x, split.y, attacks=r["attacks"], blackbox=r["blackbox"] if examples else [],
                          eps=r["eps"], attack_kwargs=r["attack_kwargs"], substitute=None, device=device,
                          seed=run_["seed"], batch_size=cfg.get("eval", {}).get("batch_size", 500),
                          blackbox_examples=examples, attack_images=r.get("attack_images"))
    res.update(run=run_, defense=a.defense, checkpoint=str(a.checkpoint))
    atomic.write_json(a.out, res)
    print(f"{Path(a.checkpoint).stem} [{a.defense}]: clean {res['clean_acc']:.2f}; "
          + ", ".join(f"{c['attack']}{'(B)' if c['blackbox'] else ''}@{c['eps']:.3g} {c['acc']:.1f}" for c in res["results"]),
          file=sys.stderr)
    return {"config": cfg, "seed": run_["seed"], "device": str(device)}


def run(a) -> dict:
    import json

    return evaluate_robust(a, json.loads(a.cfg)["dq"])
