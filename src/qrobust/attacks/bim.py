"""BIM / I-FGSM: Basic Iterative Method.

Paper: Kurakin, Goodfellow, Bengio, "Adversarial Examples in the Physical World", ICLR workshop 2017
(arXiv 1607.02533, 2016).
Distance measure: Linf.
Arguments: eps (maximum perturbation, default 8/255); alpha (step size, default None = 1/255);
steps (default None = int(min(eps*255 + 4, 1.25 * eps*255)), at least 1: Kurakin's rule, as in DQ
section 2; 10 steps for eps = 8/255); seed (unused: BIM is deterministic; kept for the registry);
keep (default "best"): per example, "best" returns the first iterate that fools the model, or the final
iterate if none does (the logits of each step's forward judge its iterate, one extra forward the final
one; "fools" under the attack's gradient path, see pgd.py); "last" the final iterate, as torchattacks.BIM.
Starts at x; each step x <- clip_{x, eps}(x + alpha * sign(grad CE)), the clip to the eps-ball and
[0, 1] done by min/max exactly as torchattacks.BIM does it.
Example:
    >>> adv = BIM(model, eps=8 / 255)(images, labels)  # alpha 1/255, 10 steps
    >>> adv = BIM(model, eps=8 / 255, keep="last")(images, labels)  # == torchattacks.BIM
"""
from __future__ import annotations

import torch

from qrobust.attacks._base import register_attack
from qrobust.attacks._linf import BestIterate, LinfAttack, check_keep, kurakin_defaults


@register_attack("bim")
class BIM(LinfAttack):
    def __init__(self, model, eps: float = 8 / 255, alpha: float | None = None, steps: int | None = None,
                 seed: int = 0, keep: str = "best"):
        super().__init__(model, eps, seed)
        self.alpha, self.steps = kurakin_defaults(eps, alpha, steps)
        self.keep = check_keep(keep)

    def perturb(self, x, y):
        lo = (x - self.eps).clamp_(min=0.0)
        hi = (x + self.eps).clamp_(max=1.0)
        adv = x
        track = BestIterate(adv) if self.keep == "best" else None
        for _ in range(self.steps):
            grad = self.step_grad(adv, y, track)
            adv = torch.sign(grad).mul_(self.alpha).add_(adv)
            adv = torch.minimum(torch.maximum(adv, lo, out=adv), hi, out=adv)
        if track is None:
            return adv
        return track.final(adv, self.fools(adv, y))[0]
