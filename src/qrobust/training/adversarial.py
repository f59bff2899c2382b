"""Adversarial training (DQ section 5.2): each batch also trains on adversarial examples.

Kurakin et al. 2016 ("Adversarial machine learning at scale"), as DQ uses it: per batch, eps is
drawn from a normal N(0, sigma) truncated to [0, eps_max] (sigma = eps_max / 2: DQ's 0-16 of 255
with sigma 8), the examples are crafted by the named attack (R+FGSM as in Tramer et al. 2018,
PGD as in Madry et al. 2018 with Kurakin's step size and steps, or FGSM, which DQ's appendix A.2
shows masks gradients), and the loss is (1 - w) * CE(clean) + w * CE(adversarial), w = 0.5.
Examples are crafted in eval mode (BatchNorm statistics are not updated by them).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from qrobust.attacks import create_attack

ADV_ATTACKS = ("fgsm", "rfgsm", "pgd")


@dataclass(frozen=True)
class AdvConfig:
    attack: str = "rfgsm"      # fgsm | rfgsm | pgd
    eps_max: float = 16 / 255  # upper end of the truncated normal
    sigma: float | None = None  # None: eps_max / 2
    weight: float = 0.5        # share of the adversarial term in the loss
    steps: int | None = None   # PGD: None = Kurakin's min(eps*255 + 4, 1.25 * eps*255)

    def __post_init__(self):
        if self.attack not in ADV_ATTACKS:
            raise ValueError(f"adversarial training attack '{self.attack}' is not supported; use one of {', '.join(ADV_ATTACKS)}")
        if not 0 < self.eps_max <= 1 or not 0 <= self.weight <= 1:
            raise ValueError(f"need 0 < eps_max <= 1 and 0 <= weight <= 1, got {self.eps_max}, {self.weight}")


def sample_eps(cfg: AdvConfig, g: torch.Generator) -> float:
    """|N(0, sigma)| truncated to [0, eps_max] by rejection (the normal is symmetric, so |.| is exact)."""
    sigma = cfg.sigma if cfg.sigma is not None else cfg.eps_max / 2
    while True:
        e = abs(torch.randn((), generator=g).item()) * sigma
        if e <= cfg.eps_max:
            return e


def adversarial_loss(cfg: AdvConfig, g: torch.Generator):
    """The `extra_loss` hook for train.train: w * CE on examples crafted at a freshly drawn eps."""
    step = {"n": 0}

    def extra(model, xb, yb):
        eps = sample_eps(cfg, g)
        # a capped step count gets Madry et al.'s step size 2.5 * eps / steps (reaches the budget)
        kw = {"steps": cfg.steps, "alpha": 2.5 * eps / cfg.steps} if cfg.attack == "pgd" and cfg.steps else {}
        if cfg.attack in ("pgd", "bim"):
            kw["keep"] = "last"  # Madry et al. train on the final iterate (evaluation keeps the best one)
        seed = int(torch.randint(0, 2**31 - 1, (), generator=g))
        x_adv = create_attack(cfg.attack, model, eps=eps, seed=seed, **kw)(xb, yb)
        model.train()
        step["n"] += 1
        return cfg.weight * F.cross_entropy(model(x_adv), yb)

    return extra
