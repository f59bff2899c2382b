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


def create_model(name: str, *, num_classes: int, in_channels: int, act: str = "relu6",
                 mean=None, std=None, **kwargs) -> nn.Module:
    """Build a registered model; `mean`/`std` (per channel) add a Normalize layer in front. A None keyword
    is not given (a config override unsets a key of the base config's model.kwargs with null)."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    net = MODELS.get(name)(num_classes=num_classes, in_channels=in_channels, act=act, **kwargs)
    if mean is None:
        return net
    return nn.Sequential(Normalize(mean, std), net)
