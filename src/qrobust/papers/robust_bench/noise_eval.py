"""Accuracy of one model on every noised copy of the test split (Benchmarking the Robustness of
Quantized Models, Xiao, Liu et al. 2023; SysNoise, Wang et al. 2023).

Natural corruptions and data-side system noises are applied once per dataset by their own jobs
(`make-noise`, cached under data/noised/); this step only classifies them, plus the model-side
system noises (pooling ceil_mode, FP16/BF16, real INT8 kernels) that need the model itself.
"""
from __future__ import annotations

import sys

import torch
import torch.nn as nn
from tqdm import tqdm

from qrobust.models import inference_layout
from qrobust.papers.robust_bench.model_noise import apply_model_noise


@torch.inference_mode()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device, batch_size: int = 500) -> float:
    with inference_layout(model):
        model.eval()
        correct = 0
        for i in range(0, len(y), batch_size):
            xb = x[i:i + batch_size].float().div_(255.0).to(device)
            correct += (model(xb).argmax(1).cpu() == y[i:i + batch_size]).sum().item()
        return 100.0 * correct / len(y)


def noise_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, noised: list[dict], model_noises: list[str],
                   calib_x: torch.Tensor, device, batch_size: int = 500, progress: bool = True) -> dict:
    """noised: blobs from make-noise ({"name", "kind", "reference", "levels": {level: uint8 N x C x H x W}})."""
    model.to(device)
    out = {"n": len(y), "clean_acc": accuracy(model, x, y, device, batch_size), "corruption": {}, "system": {},
           "model_side": {}, "reference": {b["name"]: b.get("reference") for b in noised if b["kind"] == "system"}}
    cells = [(b, lvl) for b in noised for lvl in b["levels"]]
    for blob, lvl in tqdm(cells, desc="noises", file=sys.stderr, disable=None if progress else True, mininterval=2.0):
        xs = blob["levels"][lvl]
        if xs.shape != x.shape:
            raise ValueError(f"noised set {blob['name']}/{lvl} has shape {tuple(xs.shape)}, test split {tuple(x.shape)}; "
                             "rerun make-noise for this dataset")
        out[blob["kind"]].setdefault(blob["name"], {})[str(lvl)] = accuracy(model, xs, y, device, batch_size)
    for name in model_noises:
        noisy = apply_model_noise(name, model.cpu(), calib_x)
        # INT8 kernels run on the CPU only; the other variants run where the model does
        dev = "cpu" if name == "int8" else device
        out["model_side"][name] = None if noisy is None else accuracy(noisy.to(dev), x, y, dev, batch_size)
        model.to(device)
    return out
