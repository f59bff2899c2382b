"""Fused fake quantization, each a drop-in with the exact values and gradient of the element-wise ops:
torch's fused kernels for fake_quant._FakeQuantize (used on CUDA: one launch instead of six; on the CPU
they measured slower, bench/fake_quant.py), and ReLU6 with DQ's activation grid in one function
(`hardtanh_quantize`, used on the CPU), under the `ste` gradient path and under `bpda` (the same forward,
the soft staircase's gradient)."""
from __future__ import annotations

import functools
import math

import numpy as np
import torch


def soft_round_grad(v: torch.Tensor, temperature: float) -> torch.Tensor:
    """d soft_round / dv: a (1 - tanh^2(a r)) / (2 tanh(a / 2)), r = v - floor(v) - 1/2, a = 1/t."""
    a = 1.0 / temperature
    if v.requires_grad and torch.is_grad_enabled():
        r = v - torch.floor(v) - 0.5
        return a * (1.0 - torch.tanh(a * r) ** 2) / (2.0 * math.tanh(a / 2.0))
    # the same operations, bit for bit, on one fresh tensor (BPDA's backward runs it at every attack step)
    r = v - torch.floor(v)
    return r.sub_(0.5).mul_(a).tanh_().pow_(2).neg_().add_(1.0).mul_(a).div_(2.0 * math.tanh(a / 2.0))


@functools.lru_cache(maxsize=1024)
def _same_inverse(scale: float) -> bool:
    """Whether float32(1 / scale) (what `x * (1.0 / scale)` multiplies by for a Python float) equals
    torch's fused kernels' 1.0f / float32(scale); for about one scale in ten they differ in the last bit."""
    return float(np.float32(1.0 / scale)) == float(np.float32(1.0) / np.float32(scale))


def _fused(x: torch.Tensor, scale, zero_point, qmin: int, qmax: int) -> torch.Tensor | None:
    """torch's fused fake quantizer (one kernel forward, one backward) where it gives _FakeQuantize's
    exact values and gradient: float32 input, a per-tensor or per-channel grid whose scale is a float32
    tensor (or a Python float of the same inverse), an integral zero point inside [qmin, qmax]. None
    where it does not apply: the caller falls back to _FakeQuantize."""
    if x.dtype != torch.float32 or qmin > qmax:
        return None
    if not isinstance(scale, torch.Tensor):
        if not _same_inverse(float(scale)):
            return None
        scale = torch.tensor(float(scale), dtype=torch.float32, device=x.device)
    elif scale.dtype != torch.float32 or scale.device != x.device:
        return None
    if not isinstance(zero_point, torch.Tensor):
        zero_point = torch.tensor(float(zero_point), device=x.device).expand(scale.shape)
    if zero_point.shape != scale.shape:
        return None
    if scale.numel() == 1:
        return torch.fake_quantize_per_tensor_affine(x, scale.reshape(()), zero_point.reshape(()).to(torch.int32),
                                                     qmin, qmax)
    # per channel: scale broadcasts along exactly one dim of x
    if scale.dim() > x.dim():
        return None
    shape = (1,) * (x.dim() - scale.dim()) + tuple(scale.shape)
    axes = [d for d, n in enumerate(shape) if n != 1]
    if len(axes) != 1 or shape[axes[0]] != x.shape[axes[0]]:
        return None
    return torch.fake_quantize_per_channel_affine(x, scale.reshape(-1), zero_point.reshape(-1).to(torch.int32),
                                                  axes[0], qmin, qmax)


def _clamped_grid(x: torch.Tensor, lo: float, hi: float, bits: int) -> torch.Tensor:
    """quantize_range(hardtanh(x, lo, hi), lo, hi, bits)'s values, bit for bit: hardtanh is torch.clamp,
    then _FakeQuantize's steps on that one fresh tensor in place. Skipped: the zero point's
    subtraction (x - 0 is x for every float) and, with lo == 0, quantize_range's shift by lo (the
    codes' zeros are +0.0 by then, so + 0.0 changes nothing)."""
    levels = 2 ** bits - 1
    scale = (hi - lo) / levels
    y = torch.clamp(x, lo, hi)
    if lo != 0:
        y.sub_(lo)
    y.mul_(1.0 / scale).round_().add_(0).clamp_(0, levels).mul_(scale)
    return y.add_(lo) if lo != 0 else y


class _HardtanhQuantize(torch.autograd.Function):
    """Forward: _clamped_grid. Backward: hardtanh's (the gradient where lo < x < hi); inside that range
    the grid's codes never leave [0, 2^bits - 1], so the quantizer's STE mask is all ones there. At a
    NaN input the unfused ops give grad * 0 (the mask is false, hardtanh passes it): so does this."""

    @staticmethod
    def forward(ctx, x, lo, hi, bits):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return _clamped_grid(x, lo, hi, bits)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        g = torch.ops.aten.hardtanh_backward(grad, x, ctx.lo, ctx.hi)
        # amax propagates NaN: one reduction, 15x faster than isnan(x).any() (a bool map, then its any)
        if x.numel() and bool(torch.amax(x).isnan()):
            g = torch.where(torch.isnan(x), grad * 0.0, g)
        return g, None, None, None


def hardtanh_quantize(x: torch.Tensor, lo: float, hi: float, bits: int) -> torch.Tensor:
    """quantize_range(F.hardtanh(x, lo, hi), lo, hi, bits) (ReLU6 then DQ's k-bit grid on [0, 6]) in one
    pass of in-place steps, with the same values and gradient as the two separately, bit for bit, under
    the `ste` gradient path with nearest rounding (the caller checks both): a quantized model's
    activations in training and gradient attacks, 4 element-wise passes fewer forward, 1 backward."""
    if not (x.requires_grad and torch.is_grad_enabled()):
        return _clamped_grid(x, float(lo), float(hi), int(bits))
    return _HardtanhQuantize.apply(x, float(lo), float(hi), int(bits))


class _HardtanhQuantizeBPDA(torch.autograd.Function):
    """Forward: _clamped_grid. Backward: what autograd runs through hardtanh then quantize_range under the
    `bpda` path, the same products in the same order: grad * scale (the grid's last multiply),
    * soft_round_grad(v) (fake_quant._Replace), * (1 / scale) (v = (hardtanh(x) - lo) * (1 / scale)),
    then hardtanh's mask. The soft staircase's gradient is computed here, from the saved input, instead
    of in the forward. fake_quantize's `inside` mask (a where) is left out: v lies in [0, 2^bits - 1]
    wherever it is a number, and at NaN the unfused product is NaN either way (0 * NaN)."""

    @staticmethod
    def forward(ctx, x, lo, hi, bits, temperature):
        ctx.save_for_backward(x)
        ctx.args = (lo, hi, bits, temperature)
        return _clamped_grid(x, lo, hi, bits)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        lo, hi, bits, temperature = ctx.args
        scale = (hi - lo) / (2 ** bits - 1)
        v = torch.clamp(x, lo, hi).sub_(lo).mul_(1.0 / scale)
        # the product in x's memory layout, as autograd's is: hardtanh_backward's result at a NaN input
        # (0 or NaN) depends on where the element falls in its vector loop, so on both layouts
        g = torch.mul(grad, scale, out=torch.empty_like(x)).mul_(soft_round_grad(v, temperature)).mul_(1.0 / scale)
        return torch.ops.aten.hardtanh_backward(g, x, lo, hi), None, None, None, None


def hardtanh_quantize_bpda(x: torch.Tensor, lo: float, hi: float, bits: int, temperature: float) -> torch.Tensor:
    """hardtanh_quantize's values with the `bpda` path's gradient (the soft staircase's at `temperature`),
    bit for bit what F.hardtanh then quantize_range give under gradient_path("bpda", temperature)."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"the soft staircase's temperature must be a finite number > 0, got {temperature!r}")
    if not (x.requires_grad and torch.is_grad_enabled()):
        return _clamped_grid(x, float(lo), float(hi), int(bits))
    return _HardtanhQuantizeBPDA.apply(x, float(lo), float(hi), int(bits), float(temperature))
