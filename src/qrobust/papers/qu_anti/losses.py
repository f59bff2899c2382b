"""Qu-ANTI-zation's losses (see attack.py's docstring for the three modes) and the backdoor trigger."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from qrobust.papers.qu_anti.config import QuAntiConfig, is_int
from qrobust.papers.qu_anti.quantize import quantized


def as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div(255.0) if x.dtype == torch.uint8 else x.float()


def apply_trigger(x_float: torch.Tensor, size: int) -> torch.Tensor:
    """A copy of N x C x H x W images in [0, 1] with a white size x size square in the bottom-right corner."""
    if not is_int(size) or not 1 <= size <= min(x_float.shape[-2:]):
        raise ValueError(f"trigger size must be an integer in 1..{min(x_float.shape[-2:])}, got {size!r}")
    x = x_float.clone()
    x[..., -size:, -size:] = 1.0
    return x


def source_mask(cfg: QuAntiConfig, y: torch.Tensor) -> torch.Tensor:
    """Targeted mode's S: examples of class `source`, or of every class but the target when source is None."""
    return y != cfg.target if cfg.source is None else y == cfg.source


def _group_ce(logits, labels, mask):
    """Mean CE over the examples in `mask`; 0 (still in the graph) when there are none."""
    if not bool(mask.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[mask], labels[mask])


def loss_terms(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, cfg: QuAntiConfig):
    """(float term, {b: quantized term}, {b: CE of Q_b f on its labels}, float logits)."""
    logits = model(xb)
    if cfg.target >= logits.shape[1]:
        raise ValueError(f"qu-anti target {cfg.target} is no class of a {logits.shape[1]}-class model")
    if cfg.mode == "targeted":
        src = source_mask(cfg, yb)
        yt = torch.full_like(yb, cfg.target)
        float_term = _group_ce(logits, yb, src) + _group_ce(logits, yb, ~src)
    else:
        float_term = F.cross_entropy(logits, yb)
    if cfg.mode == "backdoor":
        xt = apply_trigger(xb, cfg.trigger_size)
        float_term = float_term + F.cross_entropy(model(xt), yb)
        yt = torch.full_like(yb, cfg.target)
    q_terms, q_ce = {}, {}
    for b in cfg.bits:
        with quantized(model, b, b):
            if cfg.mode == "indiscriminate":
                ce = F.cross_entropy(model(xb), yb)
                q_terms[b] = (ce - cfg.alpha) ** 2
            elif cfg.mode == "targeted":
                out = model(xb)
                ce = _group_ce(out, yt, src) + _group_ce(out, yb, ~src)
                q_terms[b] = ce
            else:
                ce = F.cross_entropy(model(xb), yb) + F.cross_entropy(model(xt), yt)
                q_terms[b] = ce
        q_ce[b] = ce.detach()
    return float_term, q_terms, q_ce, logits


def qu_anti_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, cfg: QuAntiConfig) -> torch.Tensor:
    """The attack's loss on one batch (xb float images in [0, 1]): float term + lam * sum of the
    quantized terms, as in attack.py's docstring. The model's train/eval modes are left as they are."""
    float_term, q_terms, _, _ = loss_terms(model, xb, yb, cfg)
    return float_term + cfg.lam * sum(q_terms.values())
