"""Random: uniform noise in the eps-ball (the weakest attack, DQ's lower reference).

Paper: the baseline of Lin, Gan, Han, "Defensive Quantization: When Efficiency Meets
Robustness", ICLR 2019 (DQ); no gradient, no model query.
Distance measure: Linf.
Arguments: eps (maximum perturbation, default 8/255); seed (torch.Generator seed, default 0).
Each pixel gets delta ~ U(-eps, eps), drawn like torchattacks' PGD start
(`empty_like(x).uniform_(-eps, eps)`) but from a generator seeded with `seed`; the result is
clamped to [0, 1] (so pixels at 0 or 1 move less).
Example:
    >>> adv = Random(model, eps=8 / 255, seed=0)(images, labels)
"""
from __future__ import annotations

import torch

from qrobust.attacks._base import register_attack
from qrobust.attacks._linf import LinfAttack, make_generator


@register_attack("random")
class Random(LinfAttack):
    gradient_free = True

    def __init__(self, model, eps: float = 8 / 255, seed: int = 0):
        super().__init__(model, eps, seed)

    def perturb(self, x, y):
        g = make_generator(self.seed, x.device)
        return x + torch.empty_like(x).uniform_(-self.eps, self.eps, generator=g)
