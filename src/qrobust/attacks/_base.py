"""Attack base (torchattacks style): owns eval mode, the eps-ball projection and clamping to [0, 1]."""
from __future__ import annotations

import torch
import torch.nn as nn

from qrobust.models._base import inference_layout
from qrobust.plan.registry import Registry
from qrobust.quant.fake_quant import gradient_path

ATTACKS: Registry = Registry("attack")
register_attack = ATTACKS.register

# an attack's gradient path through the model's quantizers -> the quantizers' mode (quant/fake_quant.py)
#   ste        the real forward, straight-through gradients (what training uses)
#   bpda       the real forward, gradients of a soft staircase at `temperature` (Athalye et al. 2018)
#   surrogate  crafted on a smooth copy (soft staircase forward and backward, same weights)
#   float      crafted on the float twin (every quantizer the identity)
# The caller classifies the result with the real model, outside the attack.
PATHS = {"ste": "ste", "bpda": "bpda", "surrogate": "smooth", "float": "float"}


class Attack:
    """Subclasses implement `perturb(x, y)`; `__call__` handles mode and bounds.

    Images are float in [0, 1]; the model includes its own normalization. Gradients reach the
    input through fake quantizers by their straight-through estimator, or by the gradient path set
    with `through` (create_attack's `path=`).
    """

    path: str = "ste"
    temperature: float = 0.25
    form: str = "tanh"  # the smooth staircase of bpda and surrogate (quant/fake_quant.FORMS)
    gradient_free: bool = False  # True: queries outputs only (black-box); gradient paths do not apply

    def __init__(self, model: nn.Module, eps: float, seed: int = 0):
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"eps must lie in [0, 1] for images in [0, 1], got {eps}")
        self.model, self.eps, self.seed = model, eps, seed

    def through(self, path: str = "ste", temperature: float = 0.25, form: str = "tanh") -> "Attack":
        """Run this attack through gradient path `path` (PATHS) of the model's quantizers, with the smooth
        staircase `form` at `temperature` (bpda, surrogate); returns self."""
        if path not in PATHS:
            raise ValueError(f"unknown gradient path '{path}'; allowed: {', '.join(PATHS)}")
        with gradient_path(PATHS[path], temperature, form):  # validates the temperature and the form
            pass
        self.path, self.temperature, self.form = path, float(temperature), form
        return self

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

    def real_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The real quantized model's logits at x (the forward of the ste path), whatever path is in force."""
        with torch.no_grad(), gradient_path("ste", self.temperature):
            return self.model(x)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        was_training = self.model.training
        self.model.eval()
        # crafted on a smooth copy or the float twin: the real model judges every iterate (attacks/_linf.py)
        surrogate = self.path in ("surrogate", "float") and hasattr(self, "judge") and self.judge is None
        if surrogate:
            self.judge = self.real_logits
        try:  # channels_last (but inside a training run: models._base.training_layout)
            with gradient_path(PATHS[self.path], self.temperature, self.form), inference_layout(self.model):
                adv = self.perturb(x.detach(), y)
            return self.project(adv, x.detach()).detach()
        finally:
            self.model.train(was_training)
            if surrogate:
                self.judge = None
