"""Clean and adversarial accuracy of one model on a prepared test split."""
from __future__ import annotations

import sys

import torch
import torch.nn as nn
from tqdm import tqdm

from qrobust.attacks import create_attack


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: dict, device: torch.device,
             batch_size: int = 500, seed: int = 0, progress: bool = True) -> dict:
    """x: uint8 N x C x H x W; attack: {"name": ..., **kwargs}. Accuracies are in percent."""
    model.to(device).eval()
    kw = {k: v for k, v in attack.items() if k != "name"}
    atk = create_attack(attack["name"], model, seed=seed, **kw)
    clean = adv = 0
    for i in tqdm(range(0, len(y), batch_size), desc=f"eval {attack['name']}", file=sys.stderr,
                  disable=not progress, mininterval=2.0):
        xb = x[i:i + batch_size].float().div_(255.0).to(device)
        yb = y[i:i + batch_size].to(device)
        with torch.no_grad():
            clean += (model(xb).argmax(1) == yb).sum().item()
        xa = atk(xb, yb)
        with torch.no_grad():
            adv += (model(xa).argmax(1) == yb).sum().item()
    n = len(y)
    return {"n": n, "clean_acc": 100.0 * clean / n, "adv_acc": 100.0 * adv / n, "attack": attack}
