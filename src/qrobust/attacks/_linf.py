"""Shared pieces of the Linf attacks: an exact projection, seeded generators, derived seeds, Kurakin's
defaults, the best-iterate bookkeeping of the iterative attacks."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from qrobust.attacks._base import Attack


def kurakin_defaults(eps: float, alpha: float | None, steps: int | None) -> tuple[float, int]:
    """Kurakin et al. 2016 (and DQ section 2): alpha = 1/255, steps = min(eps*255 + 4, 1.25 eps*255), >= 1."""
    if alpha is None:
        alpha = 1 / 255
    if steps is None:
        steps = max(int(min(eps * 255 + 4, 1.25 * eps * 255)), 1)
    if alpha < 0 or steps < 1:
        raise ValueError(f"need alpha >= 0 and steps >= 1, got alpha={alpha}, steps={steps}")
    return alpha, int(steps)


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A generator on the input's device: draws never touch the global RNG. On CPU a fresh generator
    seeded s gives the same stream as the global one after torch.manual_seed(s)."""
    return torch.Generator(device=device).manual_seed(seed)


def derive_seed(*parts: int) -> int:
    """A seed in [0, 2**32) for the tuple `parts` of non-negative ints, e.g. derive_seed(run_seed, batch).

    The tuple is first written as 32-bit words without ambiguity (its length, then per part its number of
    words and the words), so tuples of different lengths or with parts >= 2**32 never share an input
    (numpy's SeedSequence alone treats [0] and [0, 0], or [2**32] and [0, 1], alike); numpy's
    SeedSequence then hashes these words. Unlike an arithmetic rule such as seed * 1000 + batch, nothing
    repeats systematically across runs, cells or batches; two distinct tuples get the same value only by
    a hash coincidence (probability about k**2 / 2**33 among k tuples). 32 bits so that every seeder
    accepts it (torch.manual_seed, torch.Generator, numpy's legacy np.random.seed).

        >>> derive_seed(0, 1000) != derive_seed(1, 0)
        True
    """
    words = [len(parts)]
    for p in parts:
        p = int(p)
        if p < 0:
            raise ValueError(f"derive_seed takes non-negative ints, got {parts}")
        chunk = []
        while True:
            chunk.append(p & 0xFFFFFFFF)
            p >>= 32
            if not p:
                break
        words += [len(chunk), *chunk]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


KEEP = ("best", "last")  # which iterate an iterative attack returns (pgd, bim)


def check_keep(keep: str) -> str:
    """`keep` if it is one of KEEP (ValueError naming them otherwise)."""
    if keep not in KEEP:
        raise ValueError(f"unknown keep '{keep}'; allowed: {', '.join(KEEP)}")
    return keep


def _rows(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-example mask shaped to broadcast over `like` (N x ...)."""
    return mask.view(-1, *([1] * (like.dim() - 1)))


class BestIterate:
    """Per example, the first iterate seen that fools the model (seen via the logits at that iterate: the
    attack's own forward, or its `judge`'s, the real model's, when it crafts on a surrogate)."""

    def __init__(self, x: torch.Tensor):
        self.best = x.clone()
        self.fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)

    def see(self, adv: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        now = (logits.argmax(1) != y) & ~self.fooled  # fooled for the first time
        self.best = torch.where(_rows(now, adv), adv, self.best)
        self.fooled |= now

    def final(self, adv: torch.Tensor, fooled_final: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The first fooling iterate where one fooled the model; the final iterate elsewhere."""
        return torch.where(_rows(self.fooled, adv), self.best, adv), fooled_final | self.fooled


class LinfAttack(Attack):
    """Attack with an exact, idempotent Linf projection and a gradient helper. `judge` (None: the attack's own
    forward) gives the logits that decide whether an iterate fools the model: the real quantized model's when
    the attack crafts on a surrogate (create_attack's path surrogate or float, a transfer's substitute), so an
    iterate that fools the real model is kept even when the attack walks on past it."""

    judge = None

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # min/max against fl(x - eps) and fl(x + eps) selects values and never rounds, so projecting an
        # iterate that is already inside the box (however it got there) leaves it bit-for-bit unchanged.
        return torch.min(torch.max(x_adv, x - self.eps), x + self.eps).clamp_(0.0, 1.0)

    def loss_grad(self, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Gradient of the mean cross-entropy at `x_adv` (detached here; works under torch.no_grad too)."""
        with torch.enable_grad():
            x_adv = x_adv.detach().requires_grad_(True)
            loss = F.cross_entropy(self.model(x_adv), y)
            (grad,) = torch.autograd.grad(loss, x_adv)
        return grad

    def loss_grad_logits(self, x_adv: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """loss_grad and the (detached) logits at `x_adv` of the same forward: whether the iterate already
        fools the model comes for free."""
        with torch.enable_grad():
            x_adv = x_adv.detach().requires_grad_(True)
            logits = self.model(x_adv)
            loss = F.cross_entropy(logits, y)
            (grad,) = torch.autograd.grad(loss, x_adv)
        return grad, logits.detach()

    def step_grad(self, x_adv: torch.Tensor, y: torch.Tensor, track: "BestIterate | None") -> torch.Tensor:
        """The loss gradient at an iterate; with `track` (keep=best) the iterate is shown to it from the
        same forward's logits."""
        if track is None:
            return self.loss_grad(x_adv, y)
        if self.judge is not None:  # the real model judges the iterate: one more forward
            grad = self.loss_grad(x_adv, y)
            with torch.no_grad():
                track.see(x_adv, self.judge(x_adv), y)
            return grad
        grad, logits = self.loss_grad_logits(x_adv, y)
        track.see(x_adv, logits, y)
        return grad

    def fools(self, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per example, whether the model misclassifies `x_adv` (under the attack's gradient path, or by
        `judge`)."""
        with torch.no_grad():
            return (self.model(x_adv) if self.judge is None else self.judge(x_adv)).argmax(1) != y
