"""Quantizers by name (registry): the one quantizer stack, for weights and activations.

A quantizer is an nn.Module that fake-quantizes its input (fake_quant.py) as its QuantizerSpec
says (spec.py, where every rule about a spec's values is checked). Its range comes from:
  - a calibrator (calibrators.py): weights from the weight tensor itself, per tensor or per output
    channel, again whenever the weights change; activations from values observed on calibration
    images (PTQ), fixed afterwards, or, when training from scratch without calibration, from a
    moving average of batch ranges (torch.ao's MovingAverageMinMaxObserver behaviour);
  - `dynamic`: the whole current input, at every call (Qu-ANTI-zation's quantizer);
  - `fixed_range`: the spec itself (DQ's bounded activations, quantize_range's grid);
  - `set_grid`: a given scale and zero point (a deployed INT8 layer's qparams, simulate.py).
Rounding (nearest / floor / stochastic) is the spec's `rounding`; stochastic draws come from
`draws` (a SeededDraws shared by the quantizers of one model, or the quantizer's own).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from qrobust.quant.calibrators import as_rows, calibrate
from qrobust.quant.fake_quant import (
    SeededDraws,
    code_range,
    current_path,
    fake_quantize,
    qparams,
    quantize_range,
    round_codes,
    round_ste,
    straight_through,
)
from qrobust.quant.pwlq import levels as pwlq_levels
from qrobust.quant.pwlq import pwlq_values, search_breakpoint
from qrobust.quant.spec import QUANTIZERS, QuantizerSpec

register_quantizer = QUANTIZERS.register

__all__ = ["QUANTIZERS", "Quantizer", "QuantizerSpec", "UniformQuantizer", "PACTQuantizer", "PWLQuantizer", "make_quantizer"]


class Quantizer(nn.Module):
    """Base: range buffers (lo, hi) set by `calibrate`/`observe`; forward fake-quantizes on the grid.

    The class attributes below are facts QuantizerSpec checks a spec against (spec.py reads them
    from the source before this module is imported, so they stay literals)."""

    role_allowed = ("weight", "act")  # what it can quantize
    role_hint = ""                    # what to use instead when the role does not fit
    symmetric_only = False            # its grid is symmetric by construction
    nearest_only = False              # it rounds to its nearest level only
    range_options = True              # its grid comes from a range: `dynamic` and `fixed_range` apply
    needs_training = False            # its range is learned, so PTQ cannot set it
    weights_signed_only = False       # for weights it needs symmetric: true (a signed grid)
    ptq_only = False                  # its state is learned for fixed weights, so QAT cannot use it
    uniform_grid = True  # one evenly spaced grid (scale, zero point); False: see the class's own `levels`

    def __init__(self, spec: QuantizerSpec, role: str, channels: int = 1, draws: SeededDraws | None = None):
        super().__init__()
        spec = spec.bind(role)  # the spec's rules, the role's included, are checked there
        self.spec, self.role = spec, role
        n = channels if spec.per_channel else 1
        # a dynamic or fixed range is no state: it comes from each input or from the spec
        keep = not (spec.dynamic or spec.fixed_range is not None)
        self.register_buffer("lo", torch.zeros(n), persistent=keep)
        self.register_buffer("hi", torch.zeros(n), persistent=keep)
        self.register_buffer("calibrated", torch.tensor(False), persistent=keep)
        self.draws = draws if draws is not None else (SeededDraws(0) if spec.rounding == "stochastic" else None)
        self._grid = None  # (scale, zero point) given by set_grid
        self.observing = False
        self._seen: list[torch.Tensor] = []
        if spec.fixed_range is not None:
            self.set_range(torch.tensor([spec.fixed_range[0]]), torch.tensor([spec.fixed_range[1]]))

    @property
    def calibratable(self) -> bool:
        """Whether observed values set the range (False: dynamic, fixed range or a given grid)."""
        return not (self.spec.dynamic or self.spec.fixed_range is not None or self._grid is not None)

    # -- ranges -------------------------------------------------------------
    def _range_of(self, x: torch.Tensor):
        ch_axis = 0 if self.spec.per_channel else None
        return calibrate(self.spec.calibrator, x, bits=self.spec.bits, symmetric=self.spec.symmetric,
                         ch_axis=ch_axis, subsample=not self.spec.dynamic, percentile=self.spec.percentile)

    def set_range(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        self.lo.copy_(lo.reshape(self.lo.shape))
        self.hi.copy_(hi.reshape(self.hi.shape))
        self.calibrated.fill_(True)

    def set_grid(self, scale: float, zero_point: int) -> None:
        """Fix the grid itself (per tensor): float32 scale, integer zero point, the spec's code range."""
        if self.spec.per_channel or self.spec.fixed_range is not None:
            raise ValueError("set_grid gives one per-tensor grid; the spec is per channel or has a fixed range")
        self._grid = (torch.tensor(float(scale), dtype=torch.float32), torch.tensor(float(int(zero_point))))

    def observe(self) -> None:
        """Collect inputs (forward returns them unchanged) until `freeze()`; nothing to do without a calibrated range."""
        if self.calibratable:
            self.observing, self._seen = True, []

    def freeze(self) -> None:
        if self.observing and self._seen:
            self.set_range(*self._range_of(torch.cat([as_rows(s, None) for s in self._seen], dim=1)))
        self.observing, self._seen = False, []

    # -- forward ------------------------------------------------------------
    def _per_row(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """A per-channel tensor shaped to broadcast over x's rows, or a per-tensor one's single value."""
        return t.view((-1,) + (1,) * (x.dim() - 1)) if self.spec.per_channel else t[0]

    def grid(self, x: torch.Tensor):
        """(scale, zero_point, qmin, qmax), broadcastable to x."""
        if self._grid is not None:
            return (*self._grid, *code_range(self.spec.bits, self.spec.symmetric))
        scale, zp, qmin, qmax = qparams(self.lo, self.hi, self.spec.bits, self.spec.symmetric, self.spec.min_scale)
        return self._per_row(scale, x), self._per_row(zp, x), qmin, qmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing:
            self._seen.append(x.detach())
            return x
        if self.spec.dynamic:
            if x.numel() == 0:
                return x
            with torch.no_grad():
                self.set_range(*self._range_of(x))
        elif not self.calibratable:
            pass  # fixed range or given grid
        elif self.role == "weight":
            # the range follows the weights; recomputed only when they changed (optimizer steps and
            # load_state_dict bump the tensor's version), so evaluation pays for mse search once
            key = (x.data_ptr(), x._version)
            if key != getattr(self, "_key", None):
                with torch.no_grad():
                    self.set_range(*self._range_of(x))
                self._key = key
        elif self.training and not bool(self.calibrated):
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
        s = self.spec
        if s.fixed_range is not None:
            return quantize_range(x, s.fixed_range[0], s.fixed_range[1], s.bits, s.rounding, self.draws)
        scale, zp, qmin, qmax = self.grid(x)
        return fake_quantize(x, scale, zp, qmin, qmax, s.rounding, self.draws)

    def extra_repr(self) -> str:
        s = self.spec
        extra = "".join(f", {k}={getattr(s, k)}" for k in ("rounding", "dynamic", "fixed_range")
                        if getattr(s, k) != QuantizerSpec.__dataclass_fields__[k].default)
        return (f"{s.quantizer}, {self.role}, bits={s.bits}, {s.calibrator}, per_channel={s.per_channel}, "
                f"symmetric={s.symmetric}{extra}")


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
    role_hint = "it learns an activation clip: use uniform for weights, or pwlq"
    range_options = False  # its range is the learned alpha
    needs_training = True

    def __init__(self, spec: QuantizerSpec, role: str, channels: int = 1, draws: SeededDraws | None = None,
                 init_alpha: float = 6.0):
        super().__init__(spec, role, channels, draws)
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
        if current_path()[0] != "ste":  # bpda, smooth or float: the rounding's gradient path decides
            return round_ste(y / scale, self.spec.rounding, self.draws) * scale
        with torch.no_grad():
            q = round_codes(y / scale, self.spec.rounding, self.draws) * scale
        return straight_through(y, q)


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
    role_hint = "it quantizes weights: use uniform or pact for activations"
    symmetric_only = True   # a grid on [-m, m]
    nearest_only = True     # values go to the nearest level of their region
    range_options = False   # the range and breakpoint are fitted to the weights
    uniform_grid = False
    search_grid = 100  # ratios p/m tried

    def __init__(self, spec: QuantizerSpec, role: str, channels: int = 1, draws: SeededDraws | None = None):
        super().__init__(spec, role, channels, draws)
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

    def quantize(self, w: torch.Tensor) -> torch.Tensor:
        m, p = self._per_row(self.hi, w), self._per_row(self.breakpoint, w)
        y = straight_through(w, pwlq_values(w.detach(), m, p, self.spec.bits))
        return torch.where(w.detach().abs() <= m, y, y.detach())  # no gradient beyond +-m

    def grid(self, x: torch.Tensor):
        raise NotImplementedError("pwlq has no single uniform grid (two regions split at `breakpoint`); use levels()")

    def levels(self, channel: int = 0) -> torch.Tensor:
        """The 2^b - 1 levels of one channel's grid (of the tensor's when per tensor), ascending."""
        return pwlq_levels(float(self.hi[channel]), float(self.breakpoint[channel]), self.spec.bits)


def make_quantizer(spec: QuantizerSpec, role: str, channels: int = 1, draws: SeededDraws | None = None) -> Quantizer:
    """The quantizer `spec` names, for `role` (weight | act); `channels`: output channels of a per-channel weight."""
    return QUANTIZERS.get(spec.quantizer)(spec, role, channels, draws)

