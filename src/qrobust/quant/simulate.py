"""An integer conv/linear layer's arithmetic on the quantizer stack: its qparams and its fake-quant twin.

OHQ (Huang et al. 2023) and HAWQ-V3 (Yao et al. 2021) deploy layers on integer kernels; this module
says what such a layer computes, and kernels.py runs it on torch.ao's quantized CPU kernels:

* inputs: K-bit asymmetric per-tensor grid (scale, zero point from the input range: LayerQParams);
* weights: K-bit symmetric per-output-channel grid over max|w|, restricted to +-(2^(K-1) - 1),
  scales floored at float32 eps as torch.ao's observers do (`weight_spec`);
* int32 accumulation, then the output requantized to an 8-bit asymmetric grid.

`simulate_layer` computes the same numbers in float with the stack's quantizers (accuracy measured
with it is the deployed accuracy, up to int32 bias rounding: one output step at most), and the
kernel stores exactly the twin's weight grid. K < 8 runs the int8 kernel with its integers
restricted to the K-bit grid.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from qrobust.quant.calibrators import calibrate
from qrobust.quant.fake_quant import affine_qparams, qparams
from qrobust.quant.quantizers import Quantizer, make_quantizer
from qrobust.quant.spec import QuantizerSpec

# the observer's floor on scales (torch.ao MinMaxObserver.eps), so an all-zero channel still gets a valid scale
_EPS = float(torch.finfo(torch.float32).eps)
OUT_BITS = 8  # the kernel requantizes every output to 8 bits


def weight_spec(bits: int) -> QuantizerSpec:
    """The kernel's weights: per output channel, symmetric over max|w| (all of w, at every call)."""
    return QuantizerSpec(bits=bits, per_channel=True, symmetric=True, dynamic=True, min_scale=_EPS, role="weight")


def grid_spec(bits: int) -> QuantizerSpec:
    """An input or output grid: asymmetric per tensor, its scale and zero point given (LayerQParams)."""
    return QuantizerSpec(bits=bits, symmetric=False, role="act")


@dataclass(frozen=True)
class LayerQParams:
    """Quantization parameters of one layer: K-bit input grid, 8-bit output grid (weights derive from the weight)."""

    bits: int
    in_scale: float
    in_zero_point: int
    out_scale: float
    out_zero_point: int

    def __post_init__(self):
        if not 2 <= int(self.bits) <= 8:
            raise ValueError(f"bits must be in 2..8 (the int8 kernel's range), got {self.bits}")
        if not (self.in_scale > 0 and self.out_scale > 0):
            raise ValueError(f"scales must be positive, got in_scale={self.in_scale}, out_scale={self.out_scale}")

    @staticmethod
    def from_ranges(bits, in_lo, in_hi, out_lo, out_hi) -> "LayerQParams":
        in_scale, in_zp = affine_qparams(in_lo, in_hi, int(bits), _EPS)
        out_scale, out_zp = affine_qparams(out_lo, out_hi, OUT_BITS, _EPS)
        return LayerQParams(int(bits), in_scale, in_zp, out_scale, out_zp)

    @property
    def in_qmax(self) -> int:
        return 2 ** self.bits - 1

    @property
    def w_qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1  # symmetric: -128 unused, as in torch.ao's qint8 symmetric observers

    def input_quantizer(self) -> Quantizer:
        q = make_quantizer(grid_spec(self.bits), "act")
        q.set_grid(self.in_scale, self.in_zero_point)
        return q

    def output_quantizer(self) -> Quantizer:
        q = make_quantizer(grid_spec(OUT_BITS), "act")
        q.set_grid(self.out_scale, self.out_zero_point)
        return q


def check_module(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            raise ValueError(f"padding_mode '{module.padding_mode}' has no quantized kernel; only 'zeros'")
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    raise TypeError(f"expected an nn.Conv2d or nn.Linear, got {type(module).__name__}")


def conv_padding(module: nn.Conv2d):
    if isinstance(module.padding, str):
        if module.padding == "valid":
            return 0
        raise ValueError(f"conv padding '{module.padding}' is not supported; give explicit integer padding")
    return module.padding


def weight_qparams(weight: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel symmetric scales (float32) and zero points (int32, all 0) of `weight_spec`."""
    s = weight_spec(bits)
    lo, hi = calibrate(s.calibrator, weight, bits=bits, symmetric=True, ch_axis=0, subsample=False)
    scale, _, _, _ = qparams(lo, hi, bits, True, s.min_scale)
    return scale, torch.zeros(weight.shape[0], dtype=torch.int32, device=weight.device)


def fake_quant_weight(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """The weight on the kernel's K-bit grid (STE gradient), as `weight_spec`'s quantizer gives it."""
    return make_quantizer(weight_spec(bits), "weight", channels=weight.shape[0])(weight)


class SimulatedLayer(nn.Module):
    """Fake-quant twin of the integer layer; wraps (shares) the float module, so it stays differentiable."""

    def __init__(self, module: nn.Module, qp: LayerQParams):
        super().__init__()
        self.kind = check_module(module)
        self.inner = module
        self.qp = qp
        self.aq = qp.input_quantizer()
        self.wq = make_quantizer(weight_spec(qp.bits), "weight", channels=module.weight.shape[0])
        self.oq = qp.output_quantizer()
        self.to(module.weight.device)

    def fake_weight(self) -> torch.Tensor:
        return self.wq(self.inner.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.inner
        x = self.aq(x)
        w = self.fake_weight()
        if self.kind == "conv":
            y = F.conv2d(x, w, m.bias, m.stride, conv_padding(m), m.dilation, m.groups)
        else:
            y = F.linear(x, w, m.bias)
        return self.oq(y)


def simulate_layer(module: nn.Module, qp: LayerQParams) -> nn.Module:
    return SimulatedLayer(module, qp)
