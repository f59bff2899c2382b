"""Worst-case robust accuracy over an attack ensemble, per example, and its gradient-masking audit.

Runs evaluation.worst_case (every member on every image; an image is robust only if no member
fools it) on worst_case.n_images test images, the run seed's own sample (evaluation/images.sample:
every model of one seed the same images), then evaluation.masking.audit on the same images, whose
attacks at eps are folded into the worst case ("worst_acc", "worst_correct"; the ensemble's alone:
"worst_acc_ensemble"). Writes one JSON: the worst case's dict plus "images" (the test indices,
evaluation/images.encode), "audit", "run", "defense", "checkpoint" and "seconds" ({"ensemble", "audit"}).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from qrobust.jobs._common import add_cfg

AUDIT_KEYS = ("sweep_eps", "pgd", "chance_margin", "blackbox_tolerance", "gap_tolerance")


def add_arguments(p) -> None:
    add_cfg(p, "worst_case (eps, n_images, paths, temperature, ensemble, audit), eval, device, threads, dq.squeeze")
    p.add_argument("--data", required=True, help="prepared data folder")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--substitute", help="checkpoint of the separately trained model transfer members craft on")
    p.add_argument("--defense", default="none", choices=["none", "fs"],
                   help="fs: Feature Squeezing (dq.squeeze) in front of the model")
    p.add_argument("--out", required=True)


def _summary(name: str, defense: str, res: dict) -> str:
    best = next((m for m in res["members"] if m["name"] == res["best"]), None)
    best_s = f"{best['name']} {best['acc']:.2f}" if best else "none"
    flags = ", ".join(res["audit"]["flags"]) or "none"
    return (f"{name} [{defense}]: clean {res['clean_acc']:.2f}; worst {res['worst_acc']:.2f} over "
            f"{len(res['members'])} members (n={res['n']}); best member {best_s}; masking flags: {flags}")


def run(a) -> dict:
    import torch

    from qrobust.checkpoint import load_checkpoint
    from qrobust.datasets import load_prepared
    from qrobust.evaluation import images
    from qrobust.evaluation.ensemble import plan
    from qrobust.evaluation.masking import audit
    from qrobust.evaluation.worst_case import worst_case
    from qrobust.jobs._common import job_config, load_run
    from qrobust.runtime import atomic

    cfg, device = job_config(a)
    w = cfg.get("worst_case")
    if not isinstance(w, dict):
        raise ValueError("the config slice (--cfg) has no worst_case section (eps, n_images, paths, ensemble, audit)")
    eps = w.get("eps")
    if eps is None:
        eps = cfg.get("attack", {}).get("eps")
    if eps is None:
        raise ValueError("worst_case.eps is null and the config slice has no attack.eps to fall back on")
    n_images = w.get("n_images")
    if n_images is not None and (not isinstance(n_images, int) or isinstance(n_images, bool) or n_images < 1):
        raise ValueError(f"worst_case.n_images must be a positive integer or null (all), got {n_images!r}")
    audit_cfg = dict(w.get("audit") or {})
    unknown = sorted(set(audit_cfg) - set(AUDIT_KEYS))
    if unknown:
        raise ValueError(f"worst_case.audit: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(AUDIT_KEYS)}")
    paths = w.get("paths", ["ste", "bpda"])
    temperature = w.get("temperature", 0.25)
    batch_size = cfg.get("eval", {}).get("batch_size", 500)
    plan(w.get("ensemble"), paths)  # a bad ensemble fails before anything loads

    squeeze = (cfg.get("dq") or {}).get("squeeze")
    if a.defense == "fs" and squeeze is None:
        raise ValueError("--defense fs needs the squeezer's settings in the config slice (dq.squeeze: bits, median)")

    model, run_ = load_run(a.checkpoint, device)
    if a.defense == "fs":
        from qrobust.papers.dq.defenses import wrap

        model = wrap(model, a.defense, **squeeze)
    substitute = load_checkpoint(a.substitute, device)[0] if a.substitute else None
    split, meta = load_prepared(a.data, "test")
    idx = images.sample(len(split.y), n_images, run_["seed"])  # this seed's own sample of the test split
    x, y = split.x[torch.from_numpy(idx)], split.y[torch.from_numpy(idx)]
    n_classes = meta.get("num_classes")

    t0 = time.perf_counter()
    res = worst_case(model, x, y, eps=eps, ensemble=w.get("ensemble"), paths=paths, temperature=temperature,
                     substitute=substitute, device=device, seed=run_["seed"], batch_size=batch_size,
                     n_classes=n_classes, progress=True)
    t1 = time.perf_counter()
    res["audit"] = audit(model, x, y, res, eps=eps, paths=paths, temperature=temperature, device=device,
                         seed=run_["seed"], batch_size=batch_size, **audit_cfg)
    t2 = time.perf_counter()
    # the audit's attacks at eps are attacks too: what they fool is not robust (the ensemble's own figure stays)
    robust = res["audit"].pop("robust")
    res["worst_acc_ensemble"] = res["audit"].pop("worst_acc_ensemble")
    res["worst_correct"], res["worst_acc"] = robust, 100.0 * robust.count("1") / len(robust)
    res.update(run=run_, defense=a.defense, checkpoint=str(a.checkpoint), images=images.encode(idx),
               seconds={"ensemble": round(t1 - t0, 3), "audit": round(t2 - t1, 3)})
    atomic.write_json(a.out, res)
    print(_summary(Path(a.checkpoint).stem, a.defense, res), file=sys.stderr)
    return {"config": cfg, "seed": run_["seed"], "device": str(device)}
