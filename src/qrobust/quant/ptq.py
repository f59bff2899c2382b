"""Post-training quantization: fold BatchNorm, attach quantizers, calibrate on N training images.

No retraining: weights get their range from themselves, activations from the calibration images.
BatchNorm is folded into the conv before its weights are quantized (what integer inference runs:
w' = w * gamma / sigma per output channel, b' = beta + (b - mu) * gamma / sigma).
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.fx as fx
from torch.nn.utils.fusion import fuse_conv_bn_weights

from .config import QuantConfig, quant_layers, quantize_
from .layers import QConv2d, QLinear, QuantAct
from .quantizers import Quantizer


class _Tracer(fx.Tracer):
    # our layers are leaves: only which module feeds which matters here
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, (QConv2d, QLinear, QuantAct)) or super().is_leaf_module(m, qualname)


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """(conv name, bn name) where a conv's output feeds only a BatchNorm2d (found from the traced graph,
    so pre-activation blocks, where BN comes before the conv, are left alone)."""
    graph = _Tracer().trace(model)
    mods = dict(model.named_modules())
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(mods.get(node.target), nn.Conv2d):
            continue
        users = list(node.users)
        if len(users) == 1 and users[0].op == "call_module" and isinstance(mods.get(users[0].target), nn.BatchNorm2d):
            pairs.append((node.target, users[0].target))
    return pairs


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def fold_bn(model: nn.Module) -> nn.Module:
    """A copy of `model` (eval mode) with every conv -> BatchNorm pair folded into the conv."""
    model = copy.deepcopy(model).eval()
    for conv_name, bn_name in conv_bn_pairs(model):
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        w, b = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
        conv.weight, conv.bias = w, b
        _set(model, bn_name, nn.Identity())
    return model


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
