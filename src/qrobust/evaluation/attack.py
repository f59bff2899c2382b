"""Clean and adversarial accuracy of one model on a prepared test split."""
from __future__ import annotations

import sys

import torch
import torch.nn as nn
from tqdm import tqdm

from qrobust.attacks import create_attack
from qrobust.attacks._linf import derive_seed
from qrobust.evaluation import images
from qrobust.models import inference_layout


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: dict, device: torch.device,
             batch_size: int = 500, seed: int = 0, progress: bool = True) -> dict:
    """x: uint8 N x C x H x W; attack: {"name": ..., **kwargs}. Accuracies are in percent.

    Robust accuracy counts an example only if the model classifies it correctly both clean and attacked
    (an attack that lands a misclassified image on the right class does not make it robust). Batch b
    (b = 0, 1, ...) is attacked with seed derive_seed(seed, b), so batches draw different random numbers.
    Per-image outcomes: "images" (every test image, evaluation/images.encode) and "correct" ({"clean",
    "adv"}: one "0"/"1" per image).
    """
    model.to(device).eval()
    with inference_layout(model):
        kw = {k: v for k, v in attack.items() if k != "name"}
        clean_ok, adv_ok = [], []
        for b, i in enumerate(tqdm(range(0, len(y), batch_size), desc=f"eval {attack['name']}", file=sys.stderr,
                                   disable=None if progress else True, mininterval=2.0)):
            xb = x[i:i + batch_size].float().div_(255.0).to(device)
            yb = y[i:i + batch_size].to(device)
            with torch.inference_mode():
                ok = model(xb).argmax(1) == yb
            clean_ok.append(ok.cpu())
            xa = create_attack(attack["name"], model, seed=derive_seed(seed, b), **kw)(xb, yb)
            with torch.inference_mode():
                adv_ok.append((ok & (model(xa).argmax(1) == yb)).cpu())
        n = len(y)
        clean, adv = torch.cat(clean_ok), torch.cat(adv_ok)
        return {"n": n, "clean_acc": 100.0 * clean.sum().item() / n, "adv_acc": 100.0 * adv.sum().item() / n,
                "attack": attack, "images": images.encode(range(n)),
                "correct": {"clean": images.bits(clean), "adv": images.bits(adv)}}
