"""DoReFa-Net's k-bit quantizers (Zhou et al., "DoReFa-Net: Training Low Bitwidth Convolutional
Neural Networks with Low Bitwidth Gradients", 2016), weights and activations.

    quantize_k(r) = round((2^k - 1) r) / (2^k - 1)      for r in [0, 1], straight through (eq. 5)
    weights (eq. 9):      w_q = 2 quantize_k( tanh(w) / (2 max|tanh(w)|) + 1/2 ) - 1
    activations (sec. 2.6): x_q = quantize_k( clip(x, 0, 1) )

The weight transform is differentiated as written (tanh and the layer's max|tanh(w)| included, as
the authors' tensorpack code does); the rounding passes straight through (or follows the gradient
path in force: bpda, smooth, float). The weight grid is 2^k evenly spaced values on [-1, 1] with no
zero among them, so it is no (scale, zero point) grid: `levels()` lists it. The activation grid is
[0, 1] in 2^k - 1 steps. No range is calibrated: the transform fixes it, so `calibrator`,
`symmetric`, `per_channel` and `min_scale` do not act. The weights leave training at a scale of
+-1, which a float model's weights are not: DoReFa needs QAT (SchemeSpec refuses it in PTQ).
"""
from __future__ import annotations

import torch

from qrobust.quant.fake_quant import round_ste
from qrobust.quant.quantizers import Quantizer, register_quantizer


def quantize_k(r: torch.Tensor, bits: int, rounding: str = "nearest", draws=None) -> torch.Tensor:
    """DoReFa's quantize_k of r in [0, 1]: 2^bits levels, the rounding straight through."""
    n = 2 ** bits - 1
    return round_ste(r * n, rounding, draws) / n


def dorefa_weight(w: torch.Tensor, bits: int, rounding: str = "nearest", draws=None) -> torch.Tensor:
    """Eq. 9: 2 quantize_k(tanh(w) / (2 max|tanh(w)|) + 1/2) - 1."""
    t = torch.tanh(w)
    r = t / (2.0 * t.abs().max().clamp_min(1e-12)) + 0.5
    return 2.0 * quantize_k(r, bits, rounding, draws) - 1.0


def dorefa_act(x: torch.Tensor, bits: int, rounding: str = "nearest", draws=None) -> torch.Tensor:
    """quantize_k(clip(x, 0, 1))."""
    return quantize_k(torch.clamp(x, 0.0, 1.0), bits, rounding, draws)


@register_quantizer("dorefa")
class DoReFaQuantizer(Quantizer):
    """DoReFa-Net's weight transform or activation clip, then quantize_k; see the module docstring."""

    range_options = False  # the transform fixes the range
    needs_training = True
    uniform_grid = False   # weights: 2^k levels on [-1, 1] without zero; see levels()

    @property
    def calibratable(self) -> bool:
        return False  # nothing to calibrate: calibration images pass through it quantized

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantize(x)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        if self.role == "weight":
            return dorefa_weight(x, self.spec.bits, self.spec.rounding, self.draws)
        return dorefa_act(x, self.spec.bits, self.spec.rounding, self.draws)

    def grid(self, x: torch.Tensor):
        if self.role == "weight":
            raise NotImplementedError("DoReFa's weight grid has no zero point (2^k values on [-1, 1]); use levels()")
        return torch.tensor(1.0 / (2 ** self.spec.bits - 1)), torch.tensor(0.0), 0, 2 ** self.spec.bits - 1

    def levels(self, channel: int = 0) -> torch.Tensor:
        """The grid's values, ascending: weights 2 i / (2^k - 1) - 1, activations i / (2^k - 1)."""
        n = 2 ** self.spec.bits - 1
        i = torch.arange(n + 1, dtype=torch.float32)
        return 2.0 * i / n - 1.0 if self.role == "weight" else i / n
