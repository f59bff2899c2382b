"""Qu-ANTI-zation's settings (see attack.py's docstring for the three modes), checked when made."""
from __future__ import annotations

import math
from dataclasses import dataclass

from qrobust.quant.spec import QuantizerSpec, SpecError


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


MODES = ("indiscriminate", "targeted", "backdoor")


@dataclass(frozen=True)
class QuAntiConfig:
    mode: str = "indiscriminate"   # indiscriminate | targeted | backdoor
    bits: tuple = (8, 7, 6, 5)     # bit-widths the quantized models are attacked at
    lam: float = 1.0               # the paper's lambda: weight of the quantized terms
    alpha: float = 5.0             # target CE of the quantized models (indiscriminate)
    target: int = 0                # targeted/backdoor target class
    source: int | None = None      # targeted: class pushed to target (None: every class)
    trigger_size: int = 4          # backdoor patch side in pixels
    epochs: int = 2
    lr: float = 1e-3               # Adam
    batch_size: int = 64

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown qu-anti mode '{self.mode}'; allowed: {', '.join(MODES)}")
        bits = tuple(self.bits) if isinstance(self.bits, (list, tuple)) else (self.bits,)
        if not bits:
            raise ValueError(f"qu-anti bits must be a non-empty list of bit-widths, got {self.bits!r}")
        try:
            for b in bits:
                QuantizerSpec(bits=b)  # the quantizer's own rule on bits
        except SpecError as e:
            raise ValueError(f"qu-anti bits: {e}") from None
        object.__setattr__(self, "bits", bits)
        for key in ("lam", "alpha"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"qu-anti {key} must be a finite number >= 0, got {v!r}")
        if not is_int(self.target) or self.target < 0:
            raise ValueError(f"qu-anti target must be a class index >= 0, got {self.target!r}")
        if self.source is not None and (not is_int(self.source) or self.source < 0):
            raise ValueError(f"qu-anti source must be a class index >= 0 or null (every class), got {self.source!r}")
        if self.mode == "targeted" and self.source == self.target:
            raise ValueError(f"qu-anti source and target are the same class ({self.target}); nothing to push")
        for key in ("trigger_size", "epochs", "batch_size"):
            v = getattr(self, key)
            if not is_int(v) or v < 1:
                raise ValueError(f"qu-anti {key} must be an integer >= 1, got {v!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"qu-anti lr must be a finite number > 0, got {self.lr!r}")
