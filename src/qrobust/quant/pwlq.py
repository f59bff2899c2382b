"""Piecewise linear quantization (PWLQ) of weights: the grid and the breakpoint search.

Fang, Shafiee, Abdel-Aziz, Thorsley, Georgiadis, Hassoun, "Post-Training Piecewise Linear
Quantization for Deep Neural Networks", ECCV 2020 (arXiv:2002.00104).

Weights are bell-shaped: most values sit near zero and a few reach m = max|w|. PWLQ splits the
symmetric range [-m, m] at a breakpoint p (0 < p < m) into a dense centre region [-p, p] and two
sparse tails p < |w| <= m, and quantizes each region uniformly with b - 1 bits, so one region bit plus
b - 1 bits per value make b bits in all (the paper's two-region scheme, section 3):

  centre, |w| <= p:  a symmetric (b-1)-bit grid, codes -(2^(b-2) - 1) .. 2^(b-2) - 1, step p / (2^(b-2) - 1)
                     (zero and +-p are levels; at b = 2 the centre holds only zero);
  tails,  |w| >  p:  a sign bit and 2^(b-2) magnitudes p + k (m - p) / 2^(b-2), k = 1 .. 2^(b-2)
                     (the top one is m); values just above p round to p, the centre's end level.

That is 2^b - 1 levels in all, as many as the restricted symmetric uniform grid (qparams), so the two
compare at the same bit-width (the sign is counted inside each region's b - 1 bits, so b-bit PWLQ
never has more than 2^b levels). Each value rounds to the nearest level of its region, and since p
is a level of both, to the nearest level overall (b >= 3). The breakpoint minimises the squared
quantization error, searched over `grid` ratios p/m in (0, 1), per row (output channel or tensor).
"""
from __future__ import annotations

import torch


def region_steps(m: torch.Tensor, p: torch.Tensor, bits: int):
    """(centre step, tail step, centre codes, tail codes) of the grid on [-m, m] split at p."""
    n_c = 2 ** (bits - 2) - 1  # positive centre codes (0 at b = 2: the centre is {0})
    n_t = 2 ** (bits - 2)      # tail magnitudes per sign
    s_c = (p / max(n_c, 1)).clamp_min(1e-12)
    s_t = ((m - p) / n_t).clamp_min(1e-12)
    return s_c, s_t, n_c, n_t


@torch.no_grad()
def pwlq_values(w: torch.Tensor, m: torch.Tensor, p: torch.Tensor, bits: int) -> torch.Tensor:
    """The PWLQ grid value of each entry of `w` (m and p broadcastable to w; no gradient)."""
    if bits < 2:
        raise ValueError(f"pwlq needs at least 2 bits (a region bit and a value bit), got {bits}")
    s_c, s_t, n_c, n_t = region_steps(m, p, bits)
    a = torch.minimum(w.abs(), m)
    # code / n_c * p: the top code gives p exactly, the same level the tail's k = 0 gives
    centre = torch.round(a / s_c).clamp(max=n_c) / n_c * p if n_c > 0 else torch.zeros_like(a)
    # k = 0 is p itself (the centre's end level); at b = 2 p is no level, so tails start at k = 1
    tail = p + torch.clamp(torch.round((a - p) / s_t), 0 if n_c > 0 else 1, n_t) * s_t
    return torch.sign(w) * torch.where(a <= p, centre, tail)


def levels(m: float, p: float, bits: int) -> torch.Tensor:
    """All 2^b - 1 levels of one grid, ascending (for inspection and tests)."""
    m_, p_ = torch.tensor(float(m)), torch.tensor(float(p))
    s_c, s_t, n_c, n_t = region_steps(m_, p_, bits)
    centre = torch.arange(0, n_c + 1) / max(n_c, 1) * p_ if n_c > 0 else torch.zeros(1)
    mags = torch.cat([centre, p_ + torch.arange(1, n_t + 1) * s_t])
    return torch.cat([-mags.flip(0)[:-1], mags])


@torch.no_grad()
def search_breakpoint(rows: torch.Tensor, m: torch.Tensor, bits: int, grid: int = 100) -> torch.Tensor:
    """Per row of `rows` (rows x values), the breakpoint p = r m, r in {1, ..., grid} / (grid + 1),
    with the least mean squared PWLQ error (the first such r on ties)."""
    m = m.reshape(-1, 1).to(rows.dtype)
    best_err = torch.full((rows.shape[0],), float("inf"), dtype=rows.dtype, device=rows.device)
    best_p = m[:, 0] * 0.5
    for i in range(1, grid + 1):
        p = m * (i / (grid + 1))
        err = (pwlq_values(rows, m, p, bits) - rows).pow(2).mean(dim=1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_p = torch.where(better, p[:, 0], best_p)
    return best_p
