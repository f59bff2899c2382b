"""FGSM: Fast Gradient Sign Method.

Paper: Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.
Distance measure: Linf.
Arguments: eps (maximum perturbation, default 8/255).
Example:
    >>> adv = FGSM(model, eps=8 / 255)(images, labels)
"""
from __future__ import annotations

from qrobust.attacks._base import Attack, register_attack


@register_attack("fgsm")
class FGSM(Attack):
    def __init__(self, model, eps: float = 8 / 255, seed: int = 0):
        super().__init__(model, eps, seed)

    def perturb(self, x, y):
        return x + self.eps * self.input_grad(x, y).sign()
