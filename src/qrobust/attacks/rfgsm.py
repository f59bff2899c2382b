"""R+FGSM: FGSM from a random sign step.

Paper: Tramer, Kurakin, Papernot, Goodfellow, Boneh, McDaniel, "Ensemble Adversarial Training:
Attacks and Defenses", ICLR 2018.
Distance measure: Linf.
Arguments: eps (maximum perturbation, default 8/255); alpha (size of the random step, default
None = eps/2 as in the paper, must be <= eps); seed (torch.Generator seed, default 0).
    x' = clip(x + alpha * sign(N(0, I)), 0, 1)
    x_adv = x' + (eps - alpha) * sign(grad_x' CE(model(x'), y)), projected to the eps-ball and [0, 1]
With alpha = eps/2 this is torchattacks.RFGSM(eps, alpha=eps/2, steps=1) with the same normal
draws (torchattacks draws them from the global RNG).
Example:
    >>> adv = RFGSM(model, eps=8 / 255)(images, labels)
"""
from __future__ import annotations

import torch

from qrobust.attacks._base import register_attack
from qrobust.attacks._linf import LinfAttack, make_generator


@register_attack("rfgsm")
class RFGSM(LinfAttack):
    def __init__(self, model, eps: float = 8 / 255, alpha: float | None = None, seed: int = 0):
        super().__init__(model, eps, seed)
        self.alpha = eps / 2 if alpha is None else alpha
        if not 0.0 <= self.alpha <= eps:
            raise ValueError(f"R+FGSM needs 0 <= alpha <= eps, got alpha={self.alpha}, eps={eps}")

    def perturb(self, x, y):
        g = make_generator(self.seed, x.device)
        x1 = (x + self.alpha * torch.empty_like(x).normal_(generator=g).sign()).clamp_(0.0, 1.0)
        adv = x1.add_(torch.sign(self.loss_grad(x1, y)), alpha=self.eps - self.alpha)
        delta = adv.sub_(x).clamp_(-self.eps, self.eps)  # torchattacks' projection, same rounding
        return delta.add_(x).clamp_(0.0, 1.0)
