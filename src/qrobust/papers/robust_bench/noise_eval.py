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

from qrobust.evaluation import images
from qrobust.models import inference_layout
from qrobust.papers.robust_bench.model_noise import apply_model_noise


@torch.inference_mode()
def correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device, batch_size: int = 500) -> torch.Tensor:
    """Per image: classified correctly (bool N)."""
    with inference_layout(model):
        model.eval()
        out = []
        for i in range(0, len(y), batch_size):
            xb = x[i:i + batch_size].float().div_(255.0).to(device)
            out.append(model(xb).argmax(1).cpu() == y[i:i + batch_size])
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


def _acc(ok: torch.Tensor) -> float:
    return 100.0 * ok.sum().item() / len(ok)


def noise_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, noised: list[dict], model_noises: list[str],
                   calib_x: torch.Tensor, device, batch_size: int = 500, progress: bool = True) -> dict:
    """noised: blobs from make-noise ({"name", "kind", "reference", "levels": {level: uint8 N x C x H x W}}).
    Accuracies in %, and per image ("images": every test image; "correct": {"clean", "<kind>/<name>/<level>",
    "model_side/<name>": "0101..."})."""
    model.to(device)
    clean = correct(model, x, y, device, batch_size)
    out = {"n": len(y), "clean_acc": _acc(clean), "corruption": {}, "system": {},
           "model_side": {}, "reference": {b["name"]: b.get("reference") for b in noised if b["kind"] == "system"},
           "images": images.encode(range(len(y))), "correct": {"clean": images.bits(clean)}}
    cells = [(b, lvl) for b in noised for lvl in b["levels"]]
    for blob, lvl in tqdm(cells, desc="noises", file=sys.stderr, disable=None if progress else True, mininterval=2.0):
        xs = blob["levels"][lvl]
        if xs.shape != x.shape:
            raise ValueError(f"noised set {blob['name']}/{lvl} has shape {tuple(xs.shape)}, test split {tuple(x.shape)}; "
                             "rerun make-noise for this dataset")
        ok = correct(model, xs, y, device, batch_size)
        out[blob["kind"]].setdefault(blob["name"], {})[str(lvl)] = _acc(ok)
        out["correct"][f"{blob['kind']}/{blob['name']}/{lvl}"] = images.bits(ok)
    for name in model_noises:
        noisy = apply_model_noise(name, model.cpu(), calib_x)
        # INT8 kernels run on the CPU only; the other variants run where the model does
        dev = "cpu" if name == "int8" else device
        if noisy is None:
            out["model_side"][name] = None
        else:
            ok = correct(noisy.to(dev), x, y, dev, batch_size)
            out["model_side"][name] = _acc(ok)
            out["correct"][f"model_side/{name}"] = images.bits(ok)
        model.to(device)
    return out
