"""What a quantizer and a PTQ/QAT scheme are, as plain data, and every rule about their values.

`QuantizerSpec` describes one quantizer of the single stack (quantizers.py on fake_quant.py): the
kind (`quantizer`), the bit-width, how the range is found (`calibrator`, or `dynamic`: from each
input as a whole, or `fixed_range`: given), the grid (`symmetric`, `per_channel`, `min_scale`) and
the `rounding`. Once bound to what it quantizes (`role`: weight or act) it also checks that the
kind fits the role. `SchemeSpec` adds what a PTQ/QAT scheme may combine. Each rule is checked here
and nowhere else; config validation (qrobust.config) builds these specs to check a config, so this
module imports no torch (Snakemake validates the config while it parses the workflow).

The registries live here too: QUANTIZERS and CALIBRATORS (qrobust.plan.registry) know their names and
the quantizer classes' facts (`role_allowed`, `symmetric_only`, ... class attributes) from the
source files without importing them, and from the classes once quantizers.py is imported. A new
quantizer or calibrator is one registered class or function, nothing here.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from qrobust.plan.registry import Registry

QUANTIZERS: Registry = Registry("quantizer")    # entries: quantizers.py (register_quantizer)
CALIBRATORS: Registry = Registry("calibrator")  # entries: calibrators.py (register_calibrator)

ROLES = ("weight", "act")
ROUNDINGS = ("nearest", "floor", "stochastic")
MODES = ("ptq", "qat")
MAX_BITS = 16


class SpecError(ValueError):
    """A rule broken; `field` names the spec field (dotted inside a scheme: 'act.per_channel')."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _allowed(name: str, what: str, allowed) -> None:
    raise SpecError(what, f"unknown {what} '{name}'; allowed: {', '.join(allowed)}")


# fields added after checkpoints and run records first stored specs: left out of to_dict at their defaults
_LATER_FIELDS = {"rounding": "nearest", "dynamic": False, "fixed_range": None, "min_scale": 1e-8}


@dataclass(frozen=True)
class QuantizerSpec:
    quantizer: str = "uniform"   # QUANTIZERS name: uniform | pact | pwlq | lsq | dorefa | adaround
    bits: int = 8
    calibrator: str = "minmax"   # CALIBRATORS name: how a range is picked from observed values
    per_channel: bool = False    # weights only: one scale per output channel
    symmetric: bool = True       # zero point 0 (weights); activations after ReLU want False
    percentile: float = 99.99    # used by the percentile calibrator
    rounding: str = "nearest"    # nearest (ties to even) | floor | stochastic (up with the fractional part's probability)
    dynamic: bool = False        # the range of each input as a whole, at every call: no calibration, no memory, no subsampling
    fixed_range: tuple | None = None  # (lo, hi): a grid of 2^bits levels with lo and hi among them (DQ's bounded activations)
    min_scale: float = 1e-8      # floor on the scale (torch.ao's observers use float32 eps)
    role: str | None = None      # weight | act, once bound to what it quantizes (bind)

    def __post_init__(self):
        if self.quantizer not in QUANTIZERS:
            _allowed(self.quantizer, "quantizer", QUANTIZERS.names())
        if self.calibrator not in CALIBRATORS:
            _allowed(self.calibrator, "calibrator", CALIBRATORS.names())
        if self.rounding not in ROUNDINGS:
            _allowed(self.rounding, "rounding", ROUNDINGS)
        low = 1 if self.fixed_range is not None else 2  # a fixed [lo, hi] keeps both ends at 1 bit
        if not _is_int(self.bits) or not low <= self.bits <= MAX_BITS:
            who = f"{self.role} quantizer" if self.role else "quantizer"
            raise SpecError("bits", f"{who} bits must be an integer in {low}..{MAX_BITS}, got {self.bits!r}")
        if not 50.0 < self.percentile <= 100.0:
            raise SpecError("percentile", f"percentile must be in (50, 100], got {self.percentile}")
        if not self.min_scale > 0:
            raise SpecError("min_scale", f"min_scale must be > 0, got {self.min_scale}")
        if self._kind("symmetric_only") and not self.symmetric:
            raise SpecError("symmetric", f"quantizer '{self.quantizer}' is symmetric by construction; set symmetric: true")
        if self._kind("nearest_only") and self.rounding != "nearest":
            raise SpecError("rounding", f"quantizer '{self.quantizer}' rounds to its nearest level; set rounding: nearest")
        if (self.dynamic or self.fixed_range is not None) and not self._kind("range_options"):
            raise SpecError("dynamic" if self.dynamic else "fixed_range",
                            f"quantizer '{self.quantizer}' finds its own range; dynamic and fixed_range do not apply to it")
        if self.fixed_range is not None:
            self._check_fixed_range()
        if self.role is not None:
            self._check_role()

    def _kind(self, fact: str):
        """A fact of the quantizer's class (quantizers.py), read without importing it when it is not yet."""
        return QUANTIZERS.attr(self.quantizer, fact)

    def _check_fixed_range(self) -> None:
        r = self.fixed_range
        if (not isinstance(r, (tuple, list)) or len(r) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in r)
                or not r[0] < r[1]):
            raise SpecError("fixed_range", f"fixed_range must be two finite numbers lo < hi, got {r!r}")
        if self.symmetric or self.dynamic or self.per_channel:
            raise SpecError("fixed_range", "a fixed range is one asymmetric grid over [lo, hi]: set symmetric: false, "
                                           "dynamic: false, per_channel: false")
        object.__setattr__(self, "fixed_range", (float(r[0]), float(r[1])))

    def _check_role(self) -> None:
        if self.role not in ROLES:
            _allowed(self.role, "role", ROLES)
        roles = tuple(self._kind("role_allowed"))
        if self.role not in roles:
            hint = self._kind("role_hint")
            raise SpecError("quantizer", f"quantizer '{self.quantizer}' cannot quantize {self.role}s; allowed for: "
                                         f"{', '.join(roles)}" + (f" ({hint})" if hint else ""))
        if self.role == "weight" and self._kind("weights_signed_only") and not self.symmetric:
            raise SpecError("symmetric", f"quantizer '{self.quantizer}' quantizes weights on a signed grid; set symmetric: true "
                                         "for weights")
        if self.per_channel and self.role == "act":
            raise SpecError("per_channel", "per_channel applies to weights only; activations use one range per tensor")
        if self.fixed_range is not None and self.role != "act":
            raise SpecError("fixed_range", "a fixed range is for activations (a weight's range comes from the weight)")

    def bind(self, role: str) -> "QuantizerSpec":
        """This spec for `role` (weight | act): checks that the quantizer can quantize it."""
        return self if self.role == role else replace(self, role=role)

    def with_bits(self, bits: int) -> "QuantizerSpec":
        return replace(self, bits=bits)

    def to_dict(self) -> dict:
        """The fields as a dict (what checkpoints and run records store); `QuantizerSpec(**d)` gives the spec back."""
        d = asdict(self)
        del d["role"]  # implied by where the spec is stored (weight_quant / act_quant)
        for k, default in _LATER_FIELDS.items():
            if d[k] == default:
                del d[k]
        return d


def as_spec(v, role: str | None = None) -> QuantizerSpec | None:
    """A spec from a spec or a dict (checkpoints and configs store dicts), bound to `role` when given."""
    if v is None:
        return None
    spec = QuantizerSpec(**v) if isinstance(v, dict) else v
    return spec.bind(role) if role else spec


@dataclass(frozen=True)
class SchemeSpec:
    """One PTQ/QAT scheme: a weight and an activation quantizer (None: float) applied by `mode`."""

    mode: str                            # ptq: calibrate only; qat: train with the quantizers
    weight: QuantizerSpec | None = None
    act: QuantizerSpec | None = None
    beta: float = 0.0                    # DQ's regularizer during QAT

    def __post_init__(self):
        if self.mode not in MODES:
            _allowed(self.mode, "mode", MODES)
        for role in ROLES:
            try:
                object.__setattr__(self, role, as_spec(getattr(self, role), role))
            except SpecError as e:
                raise SpecError(f"{role}.{e.field}", str(e)) from None
        for role in ROLES:
            q = getattr(self, role)
            if self.mode == "ptq" and q is not None and q._kind("needs_training"):
                raise SpecError(f"{role}.quantizer", f"quantizer '{q.quantizer}' learns its range in training, so it needs mode: qat")
            if self.mode == "qat" and q is not None and q._kind("ptq_only"):
                raise SpecError(f"{role}.quantizer", f"quantizer '{q.quantizer}' learns its rounding for fixed weights after "
                                                     "training, so it needs mode: ptq")
        if self.mode == "ptq" and self.beta:
            raise SpecError("beta", "DQ's regularizer acts in training; use mode: qat")

    @classmethod
    def from_config(cls, scheme: dict) -> "SchemeSpec":
        """From a config's scheme entry (quantize.schemes[i], the Li et al. 2024 schemes; other keys are the caller's)."""
        spec = cls(mode=scheme["mode"], weight=scheme.get("weight") or {}, act=scheme.get("act") or {},
                   beta=scheme.get("beta", 0.0))
        if scheme.get("reconstruct") and spec.weight.quantizer != "adaround":
            raise SpecError("reconstruct", "reconstruct sets AdaRound's learned rounding: set weight: {quantizer: adaround} "
                                           "or drop reconstruct")
        return spec
