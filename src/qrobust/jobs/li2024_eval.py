"""Table 7 (Li et al. 2024): clean, PGD and Square accuracy of one quantized model at the section's eps."""
from __future__ import annotations

from qrobust.jobs import robust_eval


def add_arguments(p) -> None:
    robust_eval.add_arguments(p)


def run(a) -> dict:
    import json

    t = json.loads(a.cfg)["li2024"]
    r = {"attacks": t["attacks"], "blackbox": [], "eps": [t["eps"]], "attack_kwargs": t["attack_kwargs"], "squeeze": {},
         "attack_images": t.get("attack_images")}
    return robust_eval.evaluate_robust(a, r)
