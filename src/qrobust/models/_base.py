"""Model registry (timm style): `@register_model` factories and `create_model(name, **kw)`."""
from __future__ import annotations

import torch
import torch.nn as nn

from qrobust._registry import Registry

MODELS: Registry = Registry("model")
register_model = MODELS.register


class Normalize(nn.Module):
    """Per-channel standardisation inside the model, so attacks work on [0, 1] images."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def _pairs(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class MaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d with a faster forward where no gradient is taken (evaluation, Square's queries,
    corrupted test sets, calibration).

    torch's CPU kernel for a 2x2, stride-2 max-pool of a contiguous NCHW float tensor takes about 9 ms
    per 100 x 16 x 28 x 28 batch on one thread; the elementwise maximum of the window's four strided
    slices takes about 1 ms (bench/maxpool.py). The values are the same numbers (`==`; only the sign
    of a zero, -0.0 against 0.0, can differ, which no later layer can tell apart but a division).
    Everything else (gradients, channels_last, which torch's kernel already runs fast, CUDA, quantized
    tensors, other window shapes, ceil_mode on odd sizes) runs torch's kernel. The state dict and
    `isinstance(m, nn.MaxPool2d)` are unchanged."""

    def _fast(self, x) -> bool:
        return (isinstance(x, torch.Tensor) and x.dim() == 4 and x.device.type == "cpu"
                and x.dtype.is_floating_point and not x.is_quantized and x.is_contiguous()
                and not (x.requires_grad and torch.is_grad_enabled())
                and _pairs(self.kernel_size) == (2, 2) and _pairs(self.stride) == (2, 2)
                and _pairs(self.padding) == (0, 0) and _pairs(self.dilation) == (1, 1)
                and not self.return_indices
                and not (self.ceil_mode and (x.shape[-2] % 2 or x.shape[-1] % 2)))

    def forward(self, x):
        if not self._fast(x):
            return super().forward(x)
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2  # floor mode drops an odd last row/column
        a, b = x[..., 0:h:2, 0:w:2], x[..., 0:h:2, 1:w:2]
        c, d = x[..., 1:h:2, 0:w:2], x[..., 1:h:2, 1:w:2]
        return torch.maximum(torch.maximum(a, b), torch.maximum(c, d))


def create_model(name: str, *, num_classes: int, in_channels: int, act: str = "relu6",
                 mean=None, std=None, **kwargs) -> nn.Module:
    """Build a registered model; `mean`/`std` (per channel) add a Normalize layer in front. A None keyword
    is not given (a config override unsets a key of the base config's model.kwargs with null)."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    net = MODELS.get(name)(num_classes=num_classes, in_channels=in_channels, act=act, **kwargs)
    if mean is None:
        return net
    return nn.Sequential(Normalize(mean, std), net)
