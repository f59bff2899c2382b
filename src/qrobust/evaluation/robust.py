"""Accuracy of one model under every configured attack at every eps, white-box and black-box.

Black-box (DQ's "(B)" columns): examples crafted on a separately trained substitute by the
same attack, then classified by the model. Cell k (an (attack, eps, white/black box) in the order of
the records) on batch b is seeded derive_seed(seed, k, b): reruns give the same numbers, and the
seeds of different run seeds, cells and batches do not repeat each other (seed * 1000 + 7k + offset
did once the test split passed 1,000 images). An example counts as robust only if the model
classifies it correctly both clean and attacked.
"""
from __future__ import annotations

import sys

import torch
import torch.nn as nn
from tqdm import tqdm

from qrobust.attacks import create_attack
from qrobust.attacks._linf import derive_seed


def step_size(name: str, eps: float, kw: dict) -> dict:
    """Iterative attacks with a fixed step count but no step size get Madry et al.'s 2.5 * eps / steps,
    so the budget is reachable at every eps (Kurakin's 1/255 steps need eps*255 + 4 of them)."""
    kw = dict(kw)
    if name in ("bim", "pgd") and kw.get("steps") and "alpha" not in kw:
        kw["alpha"] = 2.5 * eps / kw["steps"]
    return kw


@torch.no_grad()
def _correct(model, x, y) -> torch.Tensor:
    return model(x).argmax(1) == y


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, attacks: list[str], blackbox: list[str],
                    eps: list[float], attack_kwargs: dict, substitute: nn.Module | None, device, seed: int = 0,
                    batch_size: int = 500, progress: bool = True) -> dict:
    """x uint8 N x C x H x W. Returns clean accuracy and one record per (attack, eps, white/black box), in %."""
    model.to(device).eval()
    cells = [(a, e, False) for a in attacks for e in eps] + [(a, e, True) for a in blackbox for e in eps]
    if blackbox and substitute is None:
        raise ValueError("black-box attacks need a substitute model (robustness.substitute)")
    correct = {c: 0 for c in cells}
    clean = 0
    n = len(y)
    bar = tqdm(total=n * len(cells), desc="attacks", file=sys.stderr, disable=not progress, mininterval=2.0)
    for b, i in enumerate(range(0, n, batch_size)):
        xb = x[i:i + batch_size].float().div_(255.0).to(device)
        yb = y[i:i + batch_size].to(device)
        ok = _correct(model, xb, yb)
        clean += ok.sum().item()
        for k, (name, e, black) in enumerate(cells):
            kw = step_size(name, e, attack_kwargs.get(name, {}))
            cell_seed = derive_seed(seed, k, b)  # its own stream per cell and batch
            if black:
                atk = create_attack("transfer", model, eps=e, seed=cell_seed, substitute=substitute, inner=name, **kw)
            else:
                atk = create_attack(name, model, eps=e, seed=cell_seed, **kw)
            correct[(name, e, black)] += (ok & _correct(model, atk(xb, yb), yb)).sum().item()
            bar.update(len(yb))
    bar.close()
    return {"n": n, "clean_acc": 100.0 * clean / n,
            "results": [{"attack": a, "eps": e, "blackbox": b, "acc": 100.0 * correct[(a, e, b)] / n} for a, e, b in cells]}
