"""Black-box (transferred) examples of DQ's (B) columns, crafted once on the substitute for every model."""
from __future__ import annotations

import sys

from qrobust.jobs._common import add_cfg

FORMAT = "qrobust-blackbox-2"  # 2: the examples of the seed's sample of the test split ("images")


def add_arguments(p) -> None:
    add_cfg(p, "dq (attacks, blackbox, eps, attack_kwargs, attack_images), eval, device, threads")
    p.add_argument("--data", required=True)
    p.add_argument("--substitute", required=True, help="the substitute's checkpoint")
    p.add_argument("--seed", type=int, required=True,
                   help="the run seed of the models the examples are shown to (it seeds the attacks)")
    p.add_argument("--out", required=True)


def run(a) -> dict:
    import torch

    from qrobust.datasets import load_prepared
    from qrobust.evaluation import images
    from qrobust.evaluation.robust import craft_blackbox
    from qrobust.jobs._common import job_config, load_run
    from qrobust.runtime import atomic
    from qrobust.runtime.seeding import seed_everything

    cfg, device = job_config(a)
    r = cfg["dq"]
    substitute = load_run(a.substitute, device)[0]
    seed_everything(a.seed)
    split, _ = load_prepared(a.data, "test")
    idx = images.sample(len(split.y), r.get("attack_images"), a.seed)  # the images robust_eval attacks for this seed
    sel = torch.from_numpy(idx)
    examples = craft_blackbox(split.x[sel], split.y[sel], substitute=substitute, attacks=r["attacks"],
                              blackbox=r["blackbox"], eps=r["eps"], attack_kwargs=r["attack_kwargs"], device=device,
                              seed=a.seed, batch_size=cfg.get("eval", {}).get("batch_size", 500))
    atomic.torch_save(a.out, {"format": FORMAT, "seed": a.seed, "n": len(idx), "images": images.encode(idx),
                              "examples": examples})
    print(f"{len(examples)} black-box cells x {len(idx)} images crafted on {a.substitute}", file=sys.stderr)
    return {"config": cfg, "seed": a.seed, "device": str(device)}


def load(path, seed: int, images: str | None = None) -> dict:
    """The examples of `path`, checked to be black-box examples made with `seed` (for the test images
    `images`, evaluation/images.encode, when given)."""
    from pathlib import Path

    import torch

    from qrobust.runtime import atomic

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: black-box examples not found; {atomic.rerun(path)}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: corrupted or not a torch file ({type(e).__name__}); {atomic.rerun(path)}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file; {atomic.rerun(path)}")
    if blob["seed"] != seed:
        raise ValueError(f"{path}: crafted with seed {blob['seed']}, the model's run has seed {seed}; {atomic.rerun(path)}")
    if images is not None and blob.get("images") != images:
        raise ValueError(f"{path}: crafted for other test images than this evaluation attacks; {atomic.rerun(path)}")
    return blob["examples"]
