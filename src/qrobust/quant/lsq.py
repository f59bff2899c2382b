"""LSQ: learned step size quantization (Esser et al., "Learned Step Size Quantization", ICLR 2020).

One learned step s per quantizer (per output channel for per-channel weights). With codes in
[-Qn, Qp] (signed, `symmetric: true`: Qn = 2^(b-1), Qp = 2^(b-1) - 1; unsigned, `symmetric: false`:
Qn = 0, Qp = 2^b - 1, for post-ReLU activations):

    v_hat = round(clip(v / s, -Qn, Qp)) * s                                    (eq. 1-2)
    d v_hat / d v = 1 where -Qn < v / s < Qp, else 0                           (STE)
    d v_hat / d s = -v / s + round(v / s) inside, -Qn below, Qp above          (eq. 3)

and the step's gradient is scaled by g = 1 / sqrt(N * Qp), N the weights per step (weights) or the
features of one sample (activations) (section 2.2), so the step learns at the pace of the weights.
The step starts at 2 <|v|> / sqrt(Qp) (section 2.1): weights from the weights at the first forward,
activations from the calibration images (or the first training batch when there are none).
`set_range(lo, hi)` sets the step whose grid spans [lo, hi] instead (a given range).
It learns its step, so it needs QAT (SchemeSpec refuses it in PTQ).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from qrobust.quant.calibrators import as_rows
from qrobust.quant.fake_quant import SeededDraws, round_ste
from qrobust.quant.quantizers import Quantizer, register_quantizer
from qrobust.quant.spec import QuantizerSpec


def lsq_codes(bits: int, signed: bool) -> tuple[int, int]:
    """(Qn, Qp): codes run over [-Qn, Qp]."""
    return (2 ** (bits - 1), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)


def grad_scale(x: torch.Tensor, g: float) -> torch.Tensor:
    """x in the forward pass, gradient times g in the backward (the paper's gradscale)."""
    return (x - x * g).detach() + x * g


@register_quantizer("lsq")
class LSQQuantizer(Quantizer):
    """Learned step size (Esser et al. 2020); see the module docstring for the formulas."""

    range_options = False  # the range is the learned step
    needs_training = True
    weights_signed_only = True  # an unsigned grid would zero every negative weight

    def __init__(self, spec: QuantizerSpec, role: str, channels: int = 1, draws: SeededDraws | None = None):
        super().__init__(spec, role, channels, draws)
        self.qn, self.qp = lsq_codes(spec.bits, spec.symmetric)
        self.step = nn.Parameter(torch.ones(len(self.hi)))
        self.register_buffer("initialized", torch.tensor(False))

    # -- the step's start -------------------------------------------------------
    @torch.no_grad()
    def init_step(self, x: torch.Tensor) -> None:
        """s = 2 <|x|> / sqrt(Qp), per output channel when per channel."""
        rows = as_rows(x.detach(), 0 if self.spec.per_channel else None)
        s = 2.0 * rows.abs().mean(dim=1) / math.sqrt(self.qp)
        self._set_step(s.clamp_min(self.spec.min_scale))

    def _set_step(self, s: torch.Tensor) -> None:
        self.step.data.copy_(s.reshape(self.step.shape))
        self.lo.copy_(-self.qn * self.step.detach())
        self.hi.copy_(self.qp * self.step.detach())
        self.initialized.fill_(True)
        self.calibrated.fill_(True)

    def set_range(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        """The step whose grid spans [lo, hi]: max(-lo / Qn, hi / Qp)."""
        lo, hi = lo.reshape(self.lo.shape).float(), hi.reshape(self.hi.shape).float()
        s = hi / self.qp if self.qn == 0 else torch.maximum(-lo / self.qn, hi / self.qp)
        self._set_step(s.clamp_min(self.spec.min_scale))

    def freeze(self) -> None:
        if self.observing and self._seen:
            self.init_step(torch.cat([as_rows(s, None) for s in self._seen], dim=1))
        self.observing, self._seen = False, []

    # -- forward ----------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing:
            self._seen.append(x.detach())
            return x
        if not bool(self.initialized):
            self.init_step(x)
        return self.quantize(x)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        if self.role == "weight":
            n = x.numel() // len(self.step)
        else:
            n = x[0].numel() if x.dim() > 1 else x.numel()
        g = 1.0 / math.sqrt(max(n, 1) * self.qp)
        s = self._per_row(grad_scale(self.step, g), x)
        v = torch.clamp(x / s, -self.qn, self.qp)
        return round_ste(v, self.spec.rounding, self.draws) * s

    def grid(self, x: torch.Tensor):
        """(scale, 0, -Qn, Qp): a uniform grid with zero point 0."""
        return self._per_row(self.step.detach(), x), torch.tensor(0.0), -self.qn, self.qp
