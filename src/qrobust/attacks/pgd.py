"""PGD: Projected Gradient Descent with a random start and restarts.

Paper: Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning Models Resistant to
Adversarial Attacks", ICLR 2018.
Distance measure: Linf.
Arguments: eps (maximum perturbation, default 8/255); alpha (step size, default None = 1/255) and
steps (default None = int(min(eps*255 + 4, 1.25 * eps*255)), at least 1), Kurakin's rule as in DQ
section 2; restarts (default 1): per example the first restart that fools the model is kept, the
last one if none does (later restarts only run on the examples still classified correctly; with
random_start=False all restarts would be identical, so one is run);
random_start (default True: start at x + U(-eps, eps), clamped to [0, 1]); seed (torch.Generator
seed of the starts, default 0).
Each step: x <- clip_[0,1](x0 + clip_[-eps,eps](x + alpha * sign(grad CE) - x0)), the update and
projection of torchattacks.PGD; its start draws `uniform_(-eps, eps)` from the global RNG, ours the
same call from a generator seeded with `seed`, i.e. the same numbers as after torch.manual_seed(seed).
Example:
    >>> adv = PGD(model, eps=8 / 255, restarts=3)(images, labels)
"""
from __future__ import annotations

import torch

from qrobust.attacks._base import register_attack
from qrobust.attacks._linf import LinfAttack, kurakin_defaults, make_generator


@register_attack("pgd")
class PGD(LinfAttack):
    def __init__(self, model, eps: float = 8 / 255, alpha: float | None = None, steps: int | None = None,
                 restarts: int = 1, random_start: bool = True, seed: int = 0):
        super().__init__(model, eps, seed)
        self.alpha, self.steps = kurakin_defaults(eps, alpha, steps)
        if restarts < 1:
            raise ValueError(f"restarts must be >= 1, got {restarts}")
        self.restarts, self.random_start = int(restarts), bool(random_start)

    def _run(self, x, y, g):
        if self.random_start:
            adv = (x + torch.empty_like(x).uniform_(-self.eps, self.eps, generator=g)).clamp_(0.0, 1.0)
        else:
            adv = x
        for _ in range(self.steps):
            adv = torch.sign(self.loss_grad(adv, y)).mul_(self.alpha).add_(adv)
            delta = adv.sub_(x).clamp_(-self.eps, self.eps)
            adv = delta.add_(x).clamp_(0.0, 1.0)
        return adv

    def _fooled(self, adv, y):
        with torch.no_grad():
            return self.model(adv).argmax(1) != y

    def perturb(self, x, y):
        g = make_generator(self.seed, x.device) if self.random_start else None
        adv = self._run(x, y, g)
        if self.restarts == 1 or not self.random_start:  # without a random start every restart is the same
            return adv
        adv = adv.clone()
        fooled = self._fooled(adv, y)
        for _ in range(self.restarts - 1):
            idx = (~fooled).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            cand = self._run(x[idx], y[idx], g)
            adv[idx] = cand
            fooled[idx] = self._fooled(cand, y[idx])
        return adv
