"""AdaRound (Nagel, Amjad, van Baalen, Louizos, Blankevoort, "Up or Down? Adaptive Rounding for
Post-Training Quantization", ICML 2020): each weight is rounded up or down as a layer-wise
reconstruction on calibration data decides, not to its nearest level.

The weight quantizer `adaround` holds a uniform grid (range from its calibrator on the weights, at
the first forward pass, then frozen: the learned rounding belongs to that grid) and one rounding
choice per weight (`up`, 0 or 1; before any reconstruction: nearest rounding). `adaround_` learns the
choices, layer by layer in forward order, on the calibration images:

    W~ = s * clip(floor(W / s) + h(V), qmin, qmax)             h(V) = clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1)
    min_V  || W x - W~ x~ ||^2  +  lam * sum(1 - |2 h(V) - 1|^beta)                      (eq. 21-25)

zeta = 1.1, gamma = -0.1; V starts where h(V) is the fractional part of W / s (so W~ = W); x~ is
the layer's input in the quantized model (the layers before it already rounded, its own input
quantizer applied) and the target its output in the float model (BatchNorm folded, as the PTQ model
has it). The regularizer joins after `warmup` of the iterations, with beta falling linearly from
beta[0] to beta[1] (the BRECQ/QDrop authors' schedule), so h(V) is driven to 0 or 1; then each weight
is rounded up where h(V) >= 1/2. Adam at `lr` on V, `batch_size` calibration images per step. The
paper runs 10,000 steps at lr 1e-3; the default here is 1,000 at 1e-2 (on a small CNN at 2 bits this
lowered the reconstruction loss 2-5x where 1,000 steps at 1e-3 lowered it 1.2-3x).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from qrobust.quant.fake_quant import SeededDraws, current_path, straight_through
from qrobust.quant.quantizers import Quantizer, register_quantizer
from qrobust.quant.spec import QuantizerSpec

ZETA, GAMMA = 1.1, -0.1


def rectified_sigmoid(v: torch.Tensor) -> torch.Tensor:
    """h(V) of eq. 23."""
    return torch.clamp(torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


def init_v(rest: torch.Tensor) -> torch.Tensor:
    """V with h(V) = rest (rest in [0, 1))."""
    return -torch.log((ZETA - GAMMA) / (rest - GAMMA) - 1.0)


def rounding_reg(h: torch.Tensor, beta: float) -> torch.Tensor:
    """f_reg of eq. 24: sum(1 - |2 h - 1|^beta); 0 where every h is 0 or 1."""
    return (1.0 - (2.0 * h - 1.0).abs().pow(beta)).sum()


@register_quantizer("adaround")
class AdaRoundQuantizer(Quantizer):
    """A frozen uniform grid with one learned rounding choice per weight; see the module docstring."""

    role_allowed = ("weight",)
    role_hint = "it learns how weights round: use uniform for activations"
    nearest_only = True     # before reconstruction it rounds to nearest; after, as learned
    range_options = False   # the range comes from the weights, once
    ptq_only = True         # the rounding is learned for fixed weights: training would move them off it

    def __init__(self, spec: QuantizerSpec, role: str, channels: int = 1, draws: SeededDraws | None = None):
        super().__init__(spec, role, channels, draws)
        self.register_buffer("up", torch.zeros(0, dtype=torch.uint8))  # per weight, 1: round up; empty: nearest

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if prefix + "up" in state_dict:  # its shape is the weight's, unknown until it was learned
            self.up = torch.zeros_like(state_dict[prefix + "up"], dtype=torch.uint8)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not bool(self.calibrated):  # the grid, once: a learned rounding is tied to it
            with torch.no_grad():
                self.set_range(*self._range_of(w))
        if current_path()[0] == "float":
            return w
        return self.quantize(w)

    def floor_codes(self, w: torch.Tensor):
        """(floor(w / s) + zero point, its fractional part, scale, zero point, qmin, qmax)."""
        scale, zp, qmin, qmax = self.grid(w)
        v = w.detach() / scale
        fl = torch.floor(v)
        return fl + zp, v - fl, scale, zp, qmin, qmax

    def quantize(self, w: torch.Tensor) -> torch.Tensor:
        base, _, scale, zp, qmin, qmax = self.floor_codes(w)
        if self.up.numel():
            up = self.up.to(w.dtype)
        else:  # nearest (ties to even, as torch.round): up where round(w / s) is above floor(w / s)
            up = torch.round(w.detach() / scale) - (base - zp)
        codes = base + up
        value = (torch.clamp(codes, qmin, qmax) - zp) * scale
        y = straight_through(w, value)
        return torch.where((codes >= qmin) & (codes <= qmax), y, y.detach())  # no gradient beyond the grid


def _layer_out(layer: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    x = layer.qinput(x)
    if isinstance(layer, nn.Conv2d):
        return layer._conv_forward(x, w, layer.bias)
    return F.linear(x, w, layer.bias)


@torch.no_grad()
def _capture(model: nn.Module, layer: nn.Module, x: torch.Tensor, batch_size: int, device, output: bool) -> torch.Tensor:
    """The layer's input (output=False) or output over x (uint8 images), in calibration order."""
    seen = []
    if output:
        h = layer.register_forward_hook(lambda m, a, out: seen.append(out.detach()))
    else:
        h = layer.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach()))
    try:
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size].float().div_(255.0).to(device))
    finally:
        h.remove()
    return torch.cat(seen)


def adaround_(qmodel: nn.Module, float_model: nn.Module, calib: torch.Tensor, *, iters: int = 1000, lam: float = 0.01,
              warmup: float = 0.2, beta: tuple = (20.0, 2.0), lr: float = 1e-2, batch_size: int = 32,
              seed: int = 0, device="cpu") -> list[dict]:
    """Learn the rounding of every `adaround` weight quantizer of `qmodel` (PTQ'd, activations
    calibrated) against `float_model` (the same architecture, BatchNorm folded, no quantizers), layer
    by layer; returns per layer the reconstruction loss before and after and the weights rounded
    otherwise than to nearest."""
    from qrobust.quant.config import quant_layers

    qmodel.to(device).eval()
    float_model.to(device).eval()
    flayers = dict(quant_layers(float_model))
    gen = torch.Generator().manual_seed(seed)
    report = []
    for name, layer in quant_layers(qmodel):
        wq = getattr(layer, "wq", None)
        if not isinstance(wq, AdaRoundQuantizer):
            continue
        x_in = _capture(qmodel, layer, calib, 256, device, output=False)
        target = _capture(float_model, flayers[name], calib, 256, device, output=True)
        w = layer.weight.detach()
        wq(w)  # the grid, from the weights
        base, rest, scale, zp, qmin, qmax = wq.floor_codes(w)
        v = init_v(rest.clamp(0.0, 1.0 - 1e-6)).requires_grad_(True)
        opt = torch.optim.Adam([v], lr=lr)
        n, start = len(x_in), int(warmup * iters)

        def rec_loss(soft, idx):
            w_soft = (torch.clamp(base + soft, qmin, qmax) - zp) * scale
            return (_layer_out(layer, x_in[idx], w_soft) - target[idx]).pow(2).flatten(1).sum(1).mean()

        with torch.no_grad():
            nearest = (torch.round(w / scale) - (base - zp))
            before = rec_loss(nearest, torch.arange(n)).item()
        for t in range(iters):
            idx = torch.randint(0, n, (min(batch_size, n),), generator=gen).to(device)
            h = rectified_sigmoid(v)
            loss = rec_loss(h, idx)
            if t >= start:
                b = beta[1] + (beta[0] - beta[1]) * max(0.0, 1.0 - (t - start) / max(iters - start, 1))
                loss = loss + lam * rounding_reg(h, b)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            up = (rectified_sigmoid(v) >= 0.5).to(w.dtype)
            wq.up = up.to(torch.uint8)
            after = rec_loss(up, torch.arange(n)).item()
            changed = (up != nearest).float().mean().item()
        report.append({"layer": name, "loss_nearest": before, "loss_adaround": after, "changed": changed,
                       "weights": w.numel()})
    return report
