"""Quantizers by name (registry): what a config's `quantizer:` key selects, for weights and activations.

A quantizer is an nn.Module that fake-quantizes its input with a straight-through estimator.
It gets its range from a calibrator (calibrators.py):
  - weights: from the weight tensor itself, per tensor or per output channel;
  - activations: from values observed on calibration images (PTQ), fixed afterwards, or, when
    training from scratch without calibration, from a moving average of batch ranges (torch.ao's
    MovingAverageMinMaxObserver behaviour).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from qrobust._registry import Registry
from qrobust.quant.calibrators import CALIBRATORS, as_rows, calibrate, qparams
from qrobust.quant.fake_quant import _PassThrough, fake_quantize
from qrobust.quant.pwlq import levels as pwlq_levels
from qrobust.quant.pwlq import pwlq_values, search_breakpoint

QUANTIZERS: Registry = Registry("quantizer")
register_quantizer = QUANTIZERS.register


@dataclass(frozen=True)
class QuantizerSpec:
    quantizer: str = "uniform"   # QUANTIZERS name
    bits: int = 8
    calibrator: str = "minmax"   # CALIBRATORS name: how the range is picked
    per_channel: bool = False    # weights only: one scale per output channel
    symmetric: bool = True       # zero point 0 (weights); activations after ReLU want False
    percentile: float = 99.99    # used by the percentile calibrator

    def __post_init__(self):
        if self.quantizer not in QUANTIZERS:
            raise ValueError(f"unknown quantizer '{self.quantizer}'; allowed: {', '.join(QUANTIZERS.names())}")
        if self.calibrator not in CALIBRATORS:
            raise ValueError(f"unknown calibrator '{self.calibrator}'; allowed: {', '.join(CALIBRATORS.names())}")
        if not isinstance(self.bits, int) or isinstance(self.bits, bool) or not 2 <= self.bits <= 16:
            raise ValueError(f"quantizer bits must be an integer in 2..16, got {self.bits!r}")
        if not 50.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {self.percentile}")

    def to_dict(self) -> dict:
        return asdict(self)


class Quantizer(nn.Module):
    """Base: range buffers (lo, hi) set by `calibrate`/`observe`; forward fake-quantizes on the grid."""

    role_allowed = ("weight", "act")
    uniform_grid = True  # one evenly spaced grid (scale, zero point); False: see the class's own `levels`

    def __init__(self, spec: QuantizerSpec, role: str, channels: int = 1):
        super().__init__()
        if role not in self.role_allowed:
            raise ValueError(f"quantizer '{spec.quantizer}' cannot quantize {role}s; allowed for: {', '.join(self.role_allowed)}")
        if spec.per_channel and role == "act":
            raise ValueError("per_channel applies to weights only; activations use one range per tensor")
        self.spec, self.role = spec, role
        n = channels if spec.per_channel else 1
        self.register_buffer("lo", torch.zeros(n))
        self.register_buffer("hi", torch.zeros(n))
        self.register_buffer("calibrated", torch.tensor(False))
        self.observing = False
        self._seen: list[torch.Tensor] = []

    # -- ranges -------------------------------------------------------------
    def _range_of(self, x: torch.Tensor):
        ch_axis = 0 if self.spec.per_channel else None
        return calibrate(self.spec.calibrator, x, bits=self.spec.bits, symmetric=self.spec.symmetric,
                         ch_axis=ch_axis, percentile=self.spec.percentile)

    def set_range(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        self.lo.copy_(lo.reshape(self.lo.shape))
        self.hi.copy_(hi.reshape(self.hi.shape))
        self.calibrated.fill_(True)

    def observe(self) -> None:
        """Collect inputs (forward returns them unchanged) until `freeze()`."""
        self.observing, self._seen = True, []

    def freeze(self) -> None:
        if self.observing and self._seen:
            self.set_range(*self._range_of(torch.cat([as_rows(s, None) for s in self._seen], dim=1)))
        self.observing, self._seen = False, []

    # -- forward ------------------------------------------------------------
    def grid(self, x: torch.Tensor):
        """(scale, zero_point, qmin, qmax), broadcastable to x."""
        scale, zp, qmin, qmax = qparams(self.lo, self.hi, self.spec.bits, self.spec.symmetric)
        if self.spec.per_channel:
            shape = (-1,) + (1,) * (x.dim() - 1)
            return scale.view(shape), zp.view(shape), qmin, qmax
        return scale[0], zp[0], qmin, qmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing:
            self._seen.append(x.detach())
            return x
        if self.role == "weight":
            # the range follows the weights; recomputed only when they changed (optimizer steps and
            # load_state_dict bump the tensor's version), so evaluation pays for mse search once
            key = (x.data_ptr(), x._version)
            if key != getattr(self, "_key", None):
                with torch.no_grad():
                    self.set_range(*self._range_of(x))
                self._key = key
        elif self.role == "act" and self.training and not bool(self.calibrated):
            self._track(x)
        return self.quantize(x)

    @torch.no_grad()
    def _track(self, x: torch.Tensor, momentum: float = 0.1) -> None:
        lo, hi = self._range_of(x)
        if not getattr(self, "_tracking", False):
            self.lo.copy_(lo), self.hi.copy_(hi)
            self._tracking = True
        else:
            self.lo.lerp_(lo, momentum), self.hi.lerp_(hi, momentum)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        scale, zp, qmin, qmax = self.grid(x)
        return fake_quantize(x, scale, zp, qmin, qmax)

    def extra_repr(self) -> str:
        s = self.spec
        return f"{s.quantizer}, {self.role}, bits={s.bits}, {s.calibrator}, per_channel={s.per_channel}, symmetric={s.symmetric}"


@register_quantizer("uniform")
class UniformQuantizer(Quantizer):
    """Uniform affine (or symmetric) grid over the calibrated range; STE gradient inside the range."""


@register_quantizer("pact")
class PACTQuantizer(Quantizer):
    """PACT (Choi et al. 2018): activations clipped to a learned alpha, then quantized on [0, alpha].

    y = clip(x, 0, alpha); y_q = round(y * (2^b - 1) / alpha) * alpha / (2^b - 1).
    Gradients (the paper's eq. 3, rounding passed straight through): dy_q/dx = 1 on 0 <= x < alpha,
    dy_q/dalpha = 1 where x >= alpha. alpha starts at the calibrated upper range, or at `init_alpha`.
    Training should put weight decay on alpha (the paper's L2 term); the optimizer's decay does.
    """

    role_allowed = ("act",)

    def __init__(self, spec: QuantizerSpec, role: str, channels: int = 1, init_alpha: float = 6.0):
        super().__init__(spec, role, channels)
        self.alpha = nn.Parameter(torch.tensor(float(init_alpha)))

    def set_range(self, lo, hi) -> None:
        super().set_range(lo, hi)
        with torch.no_grad():
            self.alpha.fill_(max(float(hi.max()), 1e-3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing:
            self._seen.append(x.detach())
            return x
        return self.quantize(x)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha
        y = torch.where(x < alpha, torch.relu(x), alpha)  # gradient 1 to alpha where x >= alpha
        levels = 2 ** self.spec.bits - 1
        scale = alpha.detach().clamp_min(1e-8) / levels
        with torch.no_grad():
            q = torch.round(y / scale) * scale
        return _PassThrough.apply(y, q)


@register_quantizer("pwlq")
class PWLQuantizer(Quantizer):
    """Piecewise linear quantization of weights (Fang et al., "Post-Training Piecewise Linear
    Quantization for Deep Neural Networks", ECCV 2020); the grid and the search are in pwlq.py.

    [-m, m] (m from the calibrator, max|w| with minmax; per tensor or per output channel) is split at a
    breakpoint p into a dense centre [-p, p] and sparse tails p < |w| <= m, each quantized uniformly
    with b - 1 bits: 2^b - 1 levels, like the symmetric uniform grid. p minimises the squared
    quantization error over 100 ratios p/m in (0, 1), per channel when per_channel; it is searched
    again whenever the weights change (the tensor-version cache of `Quantizer.forward`).
    Gradient: straight through (identity) inside [-m, m], zero outside.
    """

    role_allowed = ("weight",)
    uniform_grid = False
    search_grid = 100  # ratios p/m tried

    def __init__(self, spec: QuantizerSpec, role: str, channels: int = 1):
        super().__init__(spec, role, channels)
        if not spec.symmetric:
            raise ValueError("quantizer 'pwlq' is symmetric by construction (a grid on [-m, m]); set symmetric: true")
        self.register_buffer("breakpoint", torch.zeros_like(self.hi))

    @torch.no_grad()
    def fit(self, w: torch.Tensor) -> None:
        """Range m from the calibrator, then the breakpoint with the least squared error."""
        lo, hi = self._range_of(w)
        m = torch.maximum(lo.abs(), hi.abs())
        self.set_range(-m, m)
        rows = as_rows(w, 0 if self.spec.per_channel else None)
        self.breakpoint.copy_(search_breakpoint(rows, m, self.spec.bits, self.search_grid))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        key = (w.data_ptr(), w._version)
        if key != getattr(self, "_key", None):
            self.fit(w)
            self._key = key
        return self.quantize(w)

    def _per_row(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return t.view((-1,) + (1,) * (x.dim() - 1)) if self.spec.per_channel else t[0]

    def quantize(self, w: torch.Tensor) -> torch.Tensor:
        m, p = self._per_row(self.hi, w), self._per_row(self.breakpoint, w)
        y = _PassThrough.apply(w, pwlq_values(w.detach(), m, p, self.spec.bits))
        return torch.where(w.detach().abs() <= m, y, y.detach())  # no gradient beyond +-m

    def grid(self, x: torch.Tensor):
        raise NotImplementedError("pwlq has no single uniform grid (two regions split at `breakpoint`); use levels()")

    def levels(self, channel: int = 0) -> torch.Tensor:
        """The 2^b - 1 levels of one channel's grid (of the tensor's when per tensor), ascending."""
        return pwlq_levels(float(self.hi[channel]), float(self.breakpoint[channel]), self.spec.bits)


def make_quantizer(spec: QuantizerSpec, role: str, channels: int = 1) -> Quantizer:
    return QUANTIZERS.get(spec.quantizer)(spec, role, channels)
