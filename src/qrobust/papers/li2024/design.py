"""Which models Table 7 needs (Li et al. 2024): experiment design as data, no torch.

A model is one (scheme, target, bits, seed); a scheme names its initial model (random, the
float model, or the PGD-trained float model), PTQ or QAT, and where robust optimization sits.
"""
from __future__ import annotations

from qrobust.plan.keys import key
from qrobust.training.runs import run_id

# section keys that choose which models to make or how to attack them, not what one model is
GRID_KEYS = ("bits", "targets", "schemes", "attacks", "eps", "attack_kwargs", "attack_images")
# what a li2024_eval job reads (its key and its params: editing the quantization settings reruns no evaluation)
EVAL_KEYS = ("attacks", "eps", "attack_kwargs", "attack_images")
EVAL_SLICES = ["li2024.attacks", "li2024.eps", "li2024.attack_kwargs", "li2024.attack_images", "eval"]


def scheme(config: dict, name: str) -> dict:
    return next(s for s in config["li2024"]["schemes"] if s["name"] == name)


def init_run(config: dict, name: str) -> tuple[bool, str] | None:
    """(adversarially trained?, run name) of the scheme's initial float model; None for a random start."""
    init = scheme(config, name)["init"]
    if init == "random":
        return None
    adv = "pgd" if init == "adv" else None
    return adv is not None, run_id(config, "vanilla", 0.0, None, adv=adv)


def init_checkpoint(config: dict, name: str, train_key: str, adv_key: str) -> str | None:
    """Path template (over {seed}) of the scheme's initial checkpoint, in its training folder."""
    init = init_run(config, name)
    if init is None:
        return None
    adv, run = init
    return f"results/checkpoints/{adv_key if adv else train_key}/{run}_s{{seed}}.pt"


def scheme_key(config: dict, name: str, data_key: str, init_key: str | None) -> str:
    """Each scheme's own folder: adding or editing one scheme remakes no other."""
    own = {k: v for k, v in config["li2024"].items() if k not in GRID_KEYS}
    return key("li2024", config, ["model", "train", "adv_train"], [data_key, init_key or "random"],
               extra={"li2024": own, "scheme": scheme(config, name)})


def job_section(config: dict, name: str) -> dict:
    """The li2024 section a quantize job reads: its own scheme, none of the grid (bits, targets: its
    wildcards; the evaluation's settings), so adding a bit-width or a scheme reruns no existing job."""
    return {**{k: v for k, v in config["li2024"].items() if k not in GRID_KEYS}, "schemes": [scheme(config, name)]}


def eval_section(config: dict) -> dict:
    """The li2024 section an evaluation job reads."""
    return {k: config["li2024"][k] for k in EVAL_KEYS if k in config["li2024"]}


def models(config: dict) -> list[tuple[str, str]]:
    """(scheme, `<scheme>_<target><bits>_s<seed>`) of every Table 7 model."""
    t = config["li2024"]
    return [(s["name"], f"{s['name']}_{tg}{b}_s{seed}") for s in t["schemes"] for tg in t["targets"] for b in t["bits"]
            for seed in config["seeds"]]


def adv_attack(config: dict, name: str) -> list[str]:
    """The attack of a scheme's robust steps (adversarial QAT or fine-tuning), if it has any."""
    return [] if scheme(config, name)["robust"] == "none" else [config["li2024"]["adv_attack"]]
