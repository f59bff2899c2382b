"""Range calibrators: pick the [lo, hi] a uniform quantizer covers, from observed values.

Each takes `x` as rows x values (one row per channel, or a single row per tensor) and returns
(lo, hi), one entry per row. minmax keeps every value in range; percentile drops rare outliers
(as in TensorRT's and torch.ao's HistogramObserver); mse searches the clipping range that
minimises the quantization error (Banner et al. 2019's analytical view, searched numerically).
"""
from __future__ import annotations

import torch

from qrobust.quant.fake_quant import fake_quantize, qparams
from qrobust.quant.spec import CALIBRATORS

register_calibrator = CALIBRATORS.register

MAX_VALUES = 1 << 20  # per row; a strided subsample beyond this keeps quantiles cheap and deterministic


def as_rows(x: torch.Tensor, ch_axis: int | None, subsample: bool = True) -> torch.Tensor:
    """C x N (per channel along ch_axis) or 1 x N (per tensor), subsampled to MAX_VALUES per row unless told not to."""
    x = x.detach().float()
    rows = x.reshape(1, -1) if ch_axis is None else x.transpose(0, ch_axis).reshape(x.shape[ch_axis], -1)
    if subsample and rows.shape[1] > MAX_VALUES:
        rows = rows[:, :: -(-rows.shape[1] // MAX_VALUES)]
    return rows


def _fq_rows(rows, lo, hi, bits, symmetric):
    scale, zp, qmin, qmax = qparams(lo, hi, bits, symmetric)
    return fake_quantize(rows, scale[:, None], zp[:, None], qmin, qmax)


@register_calibrator("minmax")
def minmax(rows: torch.Tensor, *, bits: int, symmetric: bool, **_) -> tuple[torch.Tensor, torch.Tensor]:
    """The observed extremes: no clipping error, but one outlier stretches the whole grid."""
    return rows.min(dim=1).values, rows.max(dim=1).values


@register_calibrator("percentile")
def percentile(rows: torch.Tensor, *, bits: int, symmetric: bool, percentile: float = 99.99, **_):
    """Clip to the given percentile of the values (of |x| when symmetric)."""
    q = percentile / 100.0
    if symmetric:
        hi = torch.quantile(rows.abs(), q, dim=1)
        return -hi, hi
    return torch.quantile(rows, 1.0 - q, dim=1), torch.quantile(rows, q, dim=1)


@register_calibrator("mse")
def mse(rows: torch.Tensor, *, bits: int, symmetric: bool, grid: int = 100, **_):
    """The clipping of the min-max range (ratios 1/grid .. 1) with the least squared quantization error."""
    lo0, hi0 = minmax(rows, bits=bits, symmetric=symmetric)
    best_err = torch.full_like(lo0, float("inf"))
    best_lo, best_hi = lo0.clone(), hi0.clone()
    with torch.no_grad():
        for i in range(1, grid + 1):
            r = i / grid
            lo, hi = lo0 * r, hi0 * r
            err = (_fq_rows(rows, lo, hi, bits, symmetric) - rows).pow(2).mean(dim=1)
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best_lo = torch.where(better, lo, best_lo)
            best_hi = torch.where(better, hi, best_hi)
    return best_lo, best_hi


def calibrate(name: str, x: torch.Tensor, *, bits: int, symmetric: bool, ch_axis: int | None = None,
              subsample: bool = True, **opts):
    """(lo, hi) of `x` by the named calibrator; per channel along `ch_axis` when given. `subsample`:
    rows longer than MAX_VALUES are strided down first (False: every value counts, as dynamic ranges want)."""
    return CALIBRATORS.get(name)(as_rows(x, ch_axis, subsample), bits=bits, symmetric=symmetric, **opts)

