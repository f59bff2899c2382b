"""Defensive Quantization's Lipschitz regularizer (Lin, Gan, Han, ICLR 2019, section 4).

R = (beta / 2) * sum_l ||W_l^T W_l - I||_F^2 over conv weights reshaped to C_out x (C_in*k*k)
and linear weights. A Gram matrix equals I only when the matrix is orthogonal along its shorter
side, so we take the Gram of the shorter side (W W^T when C_out <= C_in*k*k, else W^T W): it is
zero exactly when every singular value is 1, the non-expansive condition DQ aims at, and it is
the smaller matrix to build.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def orthogonality_gap(weight: torch.Tensor) -> torch.Tensor:
    w = weight.reshape(weight.shape[0], -1)  # C_out x fan_in
    gram = w @ w.t() if w.shape[0] <= w.shape[1] else w.t() @ w
    eye = torch.eye(gram.shape[0], dtype=w.dtype, device=w.device)
    return ((gram - eye) ** 2).sum()


def lipschitz_penalty(model: nn.Module, beta: float) -> torch.Tensor:
    """(beta/2) * sum of orthogonality gaps over every Conv2d and Linear of `model`."""
    terms = [orthogonality_gap(m.weight) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not terms:
        return torch.zeros(())
    return 0.5 * beta * torch.stack(terms).sum()
