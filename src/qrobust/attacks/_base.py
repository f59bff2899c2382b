"""Attack base (torchattacks style): owns eval mode, the eps-ball projection and clamping to [0, 1]."""
from __future__ import annotations

import torch
import torch.nn as nn

from qrobust._registry import Registry

ATTACKS: Registry = Registry("attack")
register_attack = ATTACKS.register


class Attack:
    """Subclasses implement `perturb(x, y)`; `__call__` handles mode and bounds.

    Images are float in [0, 1]; the model includes its own normalization. Gradients reach the
    input through fake quantizers by their straight-through estimator.
    """

    def __init__(self, model: nn.Module, eps: float, seed: int = 0):
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"eps must lie in [0, 1] for images in [0, 1], got {eps}")
        self.model, self.eps, self.seed = model, eps, seed

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        delta = torch.clamp(x_adv - x, -self.eps, self.eps)
        return torch.clamp(x + delta, 0.0, 1.0)

    def input_grad(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():  # callers may sit under no_grad (evaluation loops)
            x = x.clone().detach().requires_grad_(True)
            loss = nn.functional.cross_entropy(self.model(x), y)
            (grad,) = torch.autograd.grad(loss, x)
        return grad

    def perturb(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        try:
            return self.project(self.perturb(x.detach(), y), x.detach()).detach()
        finally:
            self.model.train(was_training)
