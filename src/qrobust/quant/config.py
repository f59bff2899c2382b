"""A quantization config checks itself and is applied by one call, `quantize_(model, cfg)`."""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from qrobust.quant.layers import QConv2d, QLinear, QuantAct
from qrobust.quant.quantizers import make_quantizer
from qrobust.quant.spec import MAX_BITS, QuantizerSpec, as_spec

# the first layer's input is the image: 8-bit pixels, affine-normalised, so an 8-bit asymmetric
# min-max grid holds it exactly; quantizing it harder measures the dataset, not the method
FIRST_INPUT = QuantizerSpec(quantizer="uniform", bits=8, calibrator="minmax", symmetric=False)


@dataclass(frozen=True)
class QuantConfig:
    act_bits: int | None = None  # DQ: k-bit outputs of bounded activations (None: float)
    weight_bits: int | None = None  # DQ: per-tensor symmetric weights (None: float)
    weight_quant: QuantizerSpec | None = None  # registry quantizer for every conv/linear weight
    act_quant: QuantizerSpec | None = None  # registry quantizer for every conv/linear input

    def __post_init__(self):
        for key in ("act_bits", "weight_bits"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_BITS):
                raise ValueError(f"{key} must be an integer in 1..{MAX_BITS} or null (float), got {v!r}")
        # checkpoints store the specs as dicts; binding to the role checks that the quantizer fits it
        object.__setattr__(self, "weight_quant", as_spec(self.weight_quant, "weight"))
        object.__setattr__(self, "act_quant", as_spec(self.act_quant, "act"))
        if self.weight_bits is not None and self.weight_quant is not None:
            raise ValueError("set weight_bits (DQ's per-tensor weights) or weight_quant, not both")

    def to_dict(self) -> dict:
        return {"act_bits": self.act_bits, "weight_bits": self.weight_bits,
                "weight_quant": self.weight_quant.to_dict() if self.weight_quant else None,
                "act_quant": self.act_quant.to_dict() if self.act_quant else None}


def quant_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every quantizable conv/linear, in registration order (the forward order of our models)."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (QConv2d, QLinear))]


def quantize_(model: nn.Module, cfg: QuantConfig) -> nn.Module:
    """Set every activation and weight quantizer of `model` in place; returns the model."""
    for m in model.modules():
        if isinstance(m, QuantAct):
            m.set_bits(cfg.act_bits)
    for i, (_, m) in enumerate(quant_layers(model)):
        m.weight_bits = cfg.weight_bits
        channels = m.weight.shape[0]
        m.wq = make_quantizer(cfg.weight_quant, "weight", channels) if cfg.weight_quant else None
        m.aq = make_quantizer(FIRST_INPUT if i == 0 else cfg.act_quant, "act") if cfg.act_quant else None
    return model
