"""A quantization config checks itself and is applied by one call, `quantize_(model, cfg)`."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from .layers import QConv2d, QLinear, QuantAct

MAX_BITS = 16


@dataclass(frozen=True)
class QuantConfig:
    act_bits: int | None = None  # None: float activations
    weight_bits: int | None = None  # None: float weights

    def __post_init__(self):
        for key in ("act_bits", "weight_bits"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_BITS):
                raise ValueError(f"{key} must be an integer in 1..{MAX_BITS} or null (float), got {v!r}")


def quantize_(model: nn.Module, cfg: QuantConfig) -> nn.Module:
    """Set every activation and weight quantizer of `model` in place; returns the model."""
    for m in model.modules():
        if isinstance(m, QuantAct):
            m.set_bits(cfg.act_bits)
        elif isinstance(m, (QConv2d, QLinear)):
            m.weight_bits = cfg.weight_bits
    return model
