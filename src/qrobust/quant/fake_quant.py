"""Uniform fake quantization with a straight-through estimator (Bengio et al. 2013).

Forward: x -> clamp(round(x / scale) + zero_point, qmin, qmax) - zero_point) * scale.
Backward: identity inside the clamp range, zero outside (the usual STE, as in torch.ao's FakeQuantize).
"""
from __future__ import annotations

import torch


class _PassThrough(torch.autograd.Function):
    """Forward: `value` exactly. Backward: the gradient goes to `x` unchanged.

    Exact where `x + (value - x).detach()` would leave float noise off the grid (1-bit weights).
    """

    @staticmethod
    def forward(ctx, x, value):
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _FakeQuantize(torch.autograd.Function):
    """Forward: the k-bit grid value. Backward: gradient where round(x/scale)+zp lies in [qmin, qmax].

    An explicit mask, because torch.clamp's own backward drops the gradient of values that land
    exactly on qmin or qmax (every output of a 1-bit quantizer does).
    """

    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        q = torch.round(x * (1.0 / scale)) + zero_point  # x * (1/scale): ties round as in torch.ao
        ctx.save_for_backward((q >= qmin) & (q <= qmax))
        return (torch.clamp(q, qmin, qmax) - zero_point) * scale

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None, None, None


def fake_quantize(x: torch.Tensor, scale, zero_point, qmin: int, qmax: int) -> torch.Tensor:
    """Same values and gradient as torch.fake_quantize_per_tensor_affine; `scale` gets no gradient."""
    if isinstance(scale, torch.Tensor):
        scale = scale.detach()
    return _FakeQuantize.apply(x, scale, zero_point, qmin, qmax)


def quantize_range(x: torch.Tensor, lo: float, hi: float, bits: int) -> torch.Tensor:
    """k-bit uniform grid over [lo, hi]: 2**bits levels, lo and hi included (DQ section 2.1)."""
    levels = 2 ** bits - 1
    scale = (hi - lo) / levels
    return fake_quantize(x - lo, scale, 0, 0, levels) + lo


def quantize_weight_symmetric(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-tensor symmetric weights; 1 bit is sign(w) * mean|w| (XNOR-Net), which has no zero level."""
    if bits == 1:
        w0 = w.detach()
        return _PassThrough.apply(w, w0.abs().mean() * torch.where(w0 >= 0, 1.0, -1.0))
    qmax = 2 ** (bits - 1) - 1
    scale = w.abs().max().detach().clamp_min(1e-12) / qmax
    return fake_quantize(w, scale, 0, -qmax, qmax)
