"""Transfer: black-box attack by transferability (DQ's FGSM(B), PGD(B) columns).

Paper: Papernot, McDaniel, Goodfellow, "Transferability in Machine Learning: from Phenomena to
Black-Box Attacks using Adversarial Samples", arXiv 1605.07277 (2016); as used by Lin, Gan, Han,
"Defensive Quantization", ICLR 2019, section 5.
Distance measure: that of the inner attack (Linf for every registered one).
Arguments: eps (maximum perturbation, default 8/255); seed (passed to the inner attack, default 0);
substitute (keyword, required: the nn.Module the examples are crafted on); inner (name of a
registered attack, default "fgsm"); **inner_kw (its other arguments, e.g. steps=10).
The examples are crafted white-box on `substitute` with labels y; `model` is queried only to judge the
iterates of an iterative inner attack (PGD, BIM keep, per image, the first that fools `model`), never for a
gradient. With substitute = model the result is exactly the white-box inner attack.
Example:
    >>> adv = Transfer(model, eps=8 / 255, substitute=vgg, inner="pgd")(images, labels)
"""
from __future__ import annotations

import torch.nn as nn

from qrobust.attacks._base import ATTACKS, register_attack
from qrobust.attacks._linf import LinfAttack


@register_attack("transfer")
class Transfer(LinfAttack):
    def __init__(self, model, eps: float = 8 / 255, seed: int = 0, *, substitute: nn.Module,
                 inner: str = "fgsm", **inner_kw):
        super().__init__(model, eps, seed)
        if inner == "transfer":
            raise ValueError("the inner attack of a transfer attack cannot be 'transfer'")
        if not isinstance(substitute, nn.Module):
            raise TypeError(f"substitute must be an nn.Module, got {type(substitute).__name__}")
        self.substitute, self.inner_name = substitute, inner
        self.inner = ATTACKS.get(inner)(substitute, eps=eps, seed=seed, **inner_kw)

    def perturb(self, x, y):
        # the inner attack owns the substitute's mode and its own projection; an iterative one has its iterates
        # judged by the target model (never its gradients): the first that fools the target is kept
        if hasattr(self.inner, "judge"):
            self.inner.judge = self.real_logits
        try:
            return self.inner(x, y)
        finally:
            if hasattr(self.inner, "judge"):
                self.inner.judge = None
