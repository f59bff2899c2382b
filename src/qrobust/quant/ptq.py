"""Post-training quantization: fold BatchNorm, attach quantizers, calibrate on N training images.

No retraining: weights get their range from themselves, activations from the calibration images.
BatchNorm is folded into the conv before its weights are quantized (what integer inference runs:
w' = w * gamma / sigma per output channel, b' = beta + (b - mu) * gamma / sigma).
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from qrobust.quant.config import QuantConfig, quant_layers, quantize_
from qrobust.quant.graph import conv_bn_pairs, set_submodule
from qrobust.quant.quantizers import Quantizer


def fold_bn(model: nn.Module) -> nn.Module:
    """A copy of `model` (eval mode) with every conv -> BatchNorm pair folded into the conv."""
    model = copy.deepcopy(model).eval()
    for conv_name, bn_name in conv_bn_pairs(model):
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        w, b = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
        conv.weight, conv.bias = w, b
        set_submodule(model, bn_name, nn.Identity())
    return model


def calibration_images(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """A seeded random subset of n training images (the same seed gives the same calibration set)."""
    g = torch.Generator().manual_seed(seed)
    return x[torch.randperm(len(x), generator=g)[:n]]


def quantizers(model: nn.Module) -> list[Quantizer]:
    return [m for m in model.modules() if isinstance(m, Quantizer)]


@torch.no_grad()
def calibrate_(model: nn.Module, x: torch.Tensor, batch_size: int = 256, device="cpu") -> nn.Module:
    """Observe every activation quantizer's inputs on `x` (uint8 N x C x H x W), then fix their ranges."""
    model.to(device).eval()
    acts = [q for q in quantizers(model) if q.role == "act"]
    for q in acts:
        q.observe()
    for i in range(0, len(x), batch_size):
        model(x[i:i + batch_size].float().div_(255.0).to(device))
    for q in acts:
        q.freeze()
    return model


def ptq(model: nn.Module, cfg: QuantConfig, calib_x: torch.Tensor, *, fold: bool = True,
        batch_size: int = 256, device="cpu") -> nn.Module:
    """A quantized copy of a trained float `model`: fold BN, attach `cfg`'s quantizers, calibrate."""
    model = fold_bn(model) if fold else copy.deepcopy(model).eval()
    quantize_(model, cfg)
    if not quant_layers(model):
        raise ValueError("the model has no QConv2d/QLinear layers to quantize")
    return calibrate_(model, calib_x, batch_size, device)
