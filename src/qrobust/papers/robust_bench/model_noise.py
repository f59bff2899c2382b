"""System noises on the model side (SysNoise, Wang et al. 2023): the same weights, run differently.

ceil_mode   pooling with ceil_mode=True at inference (frameworks disagree on the default)
fp16, bf16  inference in half precision (weights and activations cast), math in that dtype
int8        real INT8 kernels (torch's quantized CPU engine) instead of the fake-quantized model;
            for models whose weights and activations are quantized to 8 bits or run in float
Each returns a model (a copy) or None where the noise does not apply to this model.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

MODEL_NOISES = ("ceil_mode", "fp16", "bf16", "int8")


class _Cast(nn.Module):
    def __init__(self, model: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.model, self.dtype = model.to(dtype), dtype

    def forward(self, x):
        return self.model(x.to(self.dtype)).float()


def with_ceil_mode(model: nn.Module) -> nn.Module:
    m = copy.deepcopy(model)
    for mod in m.modules():
        if isinstance(mod, nn.MaxPool2d):
            mod.ceil_mode = True
    return m


def int8_model(model: nn.Module, calib_x: torch.Tensor, engine: str = "x86") -> nn.Module | None:
    """Every conv/linear on the INT8 kernels, ranges from calibration images (uint8), BN folded."""
    from qrobust.papers.ohq.deploy import build_mixed
    from qrobust.papers.ohq.sensitivity import layer_ranges
    from qrobust.quant import QuantConfig, quant_layers, quantize_
    from qrobust.quant.ptq import fold_bn

    bits = {getattr(getattr(m, "wq", None), "spec", None) for _, m in quant_layers(model)}
    if any(s is not None and s.bits != 8 for s in bits):
        return None  # a K-bit model is not an 8-bit kernel's job
    float_model = fold_bn(model)
    quantize_(float_model, QuantConfig())  # strip fake quantizers: the kernels quantize for real
    layers = [n for n, m in float_model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    ranges = layer_ranges(float_model, calib_x.float().div(255.0), layers)
    return build_mixed(float_model, dict.fromkeys(layers, "int8"), ranges, "cpu", engine)


def apply_model_noise(name: str, model: nn.Module, calib_x: torch.Tensor) -> nn.Module | None:
    if name == "ceil_mode":
        return with_ceil_mode(model)
    if name in ("fp16", "bf16"):
        return _Cast(copy.deepcopy(model), torch.float16 if name == "fp16" else torch.bfloat16)
    if name == "int8":
        return int8_model(model, calib_x)
    raise ValueError(f"unknown model-side noise '{name}'; allowed: {', '.join(MODEL_NOISES)}")
