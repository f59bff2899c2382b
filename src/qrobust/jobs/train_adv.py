"""Train one checkpoint with adversarial examples mixed in (DQ section 5.2; Tables 2 and 4)."""
from __future__ import annotations

from qrobust.jobs import train


def add_arguments(p) -> None:
    train.add_arguments(p)
    p.add_argument("--adv", required=True, choices=["fgsm", "rfgsm", "pgd"], help="attack that crafts the training examples")


def run(a) -> dict:
    from qrobust.training.adversarial import AdvConfig, adversarial_loss

    def factory(cfg, gen):
        adv = AdvConfig(**{**cfg["adv_train"], "attack": a.adv})
        return adversarial_loss(adv, gen), adv

    return train.run(a, factory)
