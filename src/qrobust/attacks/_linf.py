"""Shared pieces of the Linf attacks: an exact projection, seeded generators, Kurakin's defaults."""
from __future__ import annotations

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


class LinfAttack(Attack):
    """Attack with an exact, idempotent Linf projection and a gradient helper."""

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
