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
seed of the starts, default 0); keep (default "best"): which iterate of a run is returned, per example:
  "best"  the first iterate that fools the model, or the final iterate if none does. A step of size
          alpha can leave the decision region again (large alpha, oscillating iterates); "best" never
          returns a weaker point than "last". The logits of the forward that each gradient step makes
          anyway tell whether its iterate fools the model; one extra forward judges the final iterate.
  "last"  the final iterate, as torchattacks.PGD returns it (for parity with torchattacks).
"Fools" is always judged by the real model: the forward the attack itself sees for the ste and bpda
paths (create_attack's path=); for surrogate and float, which craft on the smooth copy or the float twin,
and inside a transfer, one more forward of the real model at every iterate (LinfAttack.judge).
Each step: x <- clip_[0,1](x0 + clip_[-eps,eps](x + alpha * sign(grad CE) - x0)), the update and
projection of torchattacks.PGD; its start draws `uniform_(-eps, eps)` from the global RNG, ours the
same call from a generator seeded with `seed`, i.e. the same numbers as after torch.manual_seed(seed).
Example:
    >>> adv = PGD(model, eps=8 / 255, restarts=3)(images, labels)
    >>> adv = PGD(model, eps=8 / 255, keep="last")(images, labels)  # == torchattacks.PGD, same seed
"""
from __future__ import annotations

import torch

from qrobust.attacks._base import register_attack
from qrobust.attacks._linf import BestIterate, LinfAttack, check_keep, kurakin_defaults, make_generator


@register_attack("pgd")
class PGD(LinfAttack):
    def __init__(self, model, eps: float = 8 / 255, alpha: float | None = None, steps: int | None = None,
                 restarts: int = 1, random_start: bool = True, seed: int = 0, keep: str = "best"):
        super().__init__(model, eps, seed)
        self.alpha, self.steps = kurakin_defaults(eps, alpha, steps)
        if restarts < 1:
            raise ValueError(f"restarts must be >= 1, got {restarts}")
        self.restarts, self.random_start = int(restarts), bool(random_start)
        self.keep = check_keep(keep)

    def _run(self, x, y, g, need_fooled: bool):
        """One run from a (random) start: (the iterate kept, whether it fools the model or None)."""
        if self.random_start:
            adv = (x + torch.empty_like(x).uniform_(-self.eps, self.eps, generator=g)).clamp_(0.0, 1.0)
        else:
            adv = x
        track = BestIterate(adv) if self.keep == "best" else None
        for _ in range(self.steps):
            grad = self.step_grad(adv, y, track)
            adv = torch.sign(grad).mul_(self.alpha).add_(adv)
            delta = adv.sub_(x).clamp_(-self.eps, self.eps)
            adv = delta.add_(x).clamp_(0.0, 1.0)
        if track is None and not need_fooled:
            return adv, None
        fooled = self.fools(adv, y)
        return (adv, fooled) if track is None else track.final(adv, fooled)

    def perturb(self, x, y):
        g = make_generator(self.seed, x.device) if self.random_start else None
        once = self.restarts == 1 or not self.random_start  # without a random start every restart is the same
        adv, fooled = self._run(x, y, g, need_fooled=not once)
        if once:
            return adv
        adv = adv.clone()
        for _ in range(self.restarts - 1):
            idx = (~fooled).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            cand, cand_fooled = self._run(x[idx], y[idx], g, need_fooled=True)
            adv[idx] = cand
            fooled[idx] = cand_fooled
        return adv
