"""torch's fused fake-quantization kernels as a drop-in for fake_quant._FakeQuantize where they give its
exact values and gradient (used on CUDA: one launch instead of six; on the CPU they measured slower,
bench/fake_quant.py)."""
from __future__ import annotations

import functools

import numpy as np
import torch


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
