"""Uniform fake quantization with a straight-through estimator (Bengio et al. 2013).

Forward: x -> clamp(round(x / scale) + zero_point, qmin, qmax) - zero_point) * scale.
Backward: identity inside the clamp range, zero outside (the usual STE, as in torch.ao's FakeQuantize).
"""
from __future__ import annotations

import torch


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """round() in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()


def fake_quantize(x: torch.Tensor, scale, zero_point, qmin: int, qmax: int) -> torch.Tensor:
    q = round_ste(x / scale) + zero_point
    # clamp passes gradient only inside [qmin, qmax], matching torch.ao's straight-through mask
    q = torch.clamp(q, qmin, qmax)
    return (q - zero_point) * scale


def quantize_range(x: torch.Tensor, lo: float, hi: float, bits: int) -> torch.Tensor:
    """k-bit uniform grid over [lo, hi]: 2**bits levels, lo and hi included (DQ section 2.1)."""
    levels = 2 ** bits - 1
    scale = (hi - lo) / levels
    return fake_quantize(x - lo, scale, 0, 0, levels) + lo


def quantize_weight_symmetric(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-tensor symmetric weights; 1 bit is sign(w) * mean|w| (XNOR-Net), which has no zero level."""
    if bits == 1:
        alpha = w.abs().mean().detach()
        return alpha * (torch.sign(w) + (w == 0).to(w.dtype)).detach() + w - w.detach()
    qmax = 2 ** (bits - 1) - 1
    scale = w.abs().max().detach().clamp_min(1e-12) / qmax
    return fake_quantize(w, scale, 0, -qmax, qmax)
