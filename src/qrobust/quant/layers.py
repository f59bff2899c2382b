"""Layers whose quantization is switched by attributes, so one model class serves FP and k-bit runs."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from qrobust.quant.fake_quant import current_form, current_path, quantize_weight_symmetric
from qrobust.quant.fused import hardtanh_quantize, hardtanh_quantize_bpda
from qrobust.quant.quantizers import UniformQuantizer, make_quantizer
from qrobust.quant.spec import QuantizerSpec

# hooks every module's call runs (torch.nn.modules.module.register_module_forward_hook and _pre_hook)
_GLOBAL_HOOKS = (nn.modules.module._global_forward_hooks, nn.modules.module._global_forward_pre_hooks)

# output range of each bounded activation; the k-bit grid spans it (ReLU6 as in DQ section 2.1)
ACT_RANGES = {"relu6": (0.0, 6.0), "relu1": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": None}


def act_spec(kind: str, bits: int) -> QuantizerSpec:
    """DQ's quantizer of a bounded activation: 2^bits levels over its output range, both ends included."""
    return QuantizerSpec(bits=bits, symmetric=False, fixed_range=ACT_RANGES[kind])


class QuantAct(nn.Module):
    """Activation by name, optionally followed by k-bit uniform quantization of its output (`quant`,
    a registry quantizer with the activation's fixed range; it holds no state)."""

    def __init__(self, kind: str = "relu6", bits: int | None = None):
        super().__init__()
        if kind not in ACT_RANGES:
            raise ValueError(f"unknown activation '{kind}'; allowed: {', '.join(ACT_RANGES)}")
        self.kind = kind
        self.bits = None
        self.quant = None
        self.set_bits(bits)

    def set_bits(self, bits: int | None) -> None:
        if bits is not None and ACT_RANGES[self.kind] is None:
            raise ValueError(f"activation '{self.kind}' is unbounded and cannot be quantized to {bits} bits; use relu6, relu1 or tanh")
        self.quant = None if bits is None else make_quantizer(act_spec(self.kind, bits), "act")
        self.bits = bits

    def _fused(self, x: torch.Tensor) -> bool:
        """Whether ReLU6 and its quantizer may run as one hardtanh_quantize (same values and gradient):
        DQ's own grid (a plain uniform quantizer on the fixed range [0, 6], nearest rounding, not
        observing, no hooks on it) under the `ste` gradient path or `bpda` with the tanh staircase, on a float32
        CPU tensor."""
        q = self.quant
        return (self.kind == "relu6" and type(q) is UniformQuantizer and x.dtype == torch.float32
                and x.device.type == "cpu" and q.spec.fixed_range is not None
                and tuple(q.spec.fixed_range) == ACT_RANGES["relu6"] and not q.spec.dynamic
                and q.spec.rounding == "nearest" and not q.observing
                and (current_path()[0] == "ste" or (current_path()[0] == "bpda" and current_form() == "tanh"))
                and not (q._forward_hooks or q._forward_pre_hooks or _GLOBAL_HOOKS[0] or _GLOBAL_HOOKS[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "relu6":
            if self._fused(x):
                path, temperature = current_path()
                if path == "bpda":
                    return hardtanh_quantize_bpda(x, *ACT_RANGES["relu6"], self.quant.spec.bits, temperature)
                return hardtanh_quantize(x, *ACT_RANGES["relu6"], self.quant.spec.bits)
            y = F.relu6(x)
        elif self.kind == "relu1":
            y = torch.clamp(x, 0.0, 1.0)
        elif self.kind == "tanh":
            y = torch.tanh(x)
        else:
            y = F.relu(x)
        return y if self.quant is None else self.quant(y)

    def extra_repr(self) -> str:
        return f"{self.kind}, bits={self.bits}"


class _QuantWeightMixin:
    """Weights through `wq` (a registry quantizer) or DQ's per-tensor `weight_bits`; inputs through `aq`."""

    weight_bits: int | None = None
    # `wq` (weight quantizer) and `aq` (input-activation quantizer) are submodules when set; no class
    # attributes for them, since a class attribute would shadow nn.Module's submodule lookup

    def qweight(self) -> torch.Tensor:
        wq = getattr(self, "wq", None)
        if wq is not None:
            return wq(self.weight)
        if self.weight_bits is not None:
            return quantize_weight_symmetric(self.weight, self.weight_bits)
        return self.weight

    def qinput(self, x: torch.Tensor) -> torch.Tensor:
        aq = getattr(self, "aq", None)
        return x if aq is None else aq(x)


class QConv2d(_QuantWeightMixin, nn.Conv2d):
    """Conv2d with optional fake-quantized weights and inputs (None: float)."""

    def forward(self, x):
        return self._conv_forward(self.qinput(x), self.qweight(), self.bias)


class QLinear(_QuantWeightMixin, nn.Linear):
    """Linear with optional fake-quantized weights and inputs (None: float)."""

    def forward(self, x):
        return F.linear(self.qinput(x), self.qweight(), self.bias)
