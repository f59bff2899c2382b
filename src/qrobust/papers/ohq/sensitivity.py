"""Accuracy awareness: how much each layer alone hurts when quantized (OHQ's second step).

OHQ (Huang et al. 2023) scores each layer's accuracy impact on a small batch without labels
(Mask-guided Quantization Estimation). Here: quantize one layer at a time to one precision, the
others float, and score the KL divergence between the float model's and this model's output
distributions on a calibration batch from the training split. No test labels are touched.
The quantized layer is simulated exactly as the INT8 kernel will run it (quant.simulate.simulate_layer,
the kernel's fake-quant twin on the quantizer stack).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from qrobust.quant.calibrators import calibrate
from qrobust.quant.graph import set_submodule, tie_groups
from qrobust.quant.precision import ordered, parse_precision
from qrobust.quant.ptq import calibration_images, fold_bn
from qrobust.quant.simulate import LayerQParams, simulate_layer


@torch.no_grad()
def layer_ranges(model: nn.Module, x: torch.Tensor, layers: list[str], calibrator: str = "minmax",
                 percentile: float = 99.99) -> dict[str, dict]:
    """Per layer: input range (by `calibrator`) and output range (min-max) on the float batch x."""
    mods = dict(model.named_modules())
    seen: dict[str, tuple] = {}
    hooks = [mods[n].register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, (i[0], o))) for n in layers]
    try:
        model.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for n in layers:
        inp, outp = seen[n]
        lo, hi = calibrate(calibrator, inp, bits=8, symmetric=False, percentile=percentile)
        out[n] = {"in": [float(lo), float(hi)], "out": [float(outp.min()), float(outp.max())]}
    return out


def qparams_for(ranges: dict, bits: int) -> LayerQParams:
    return LayerQParams.from_ranges(bits, *ranges["in"], *ranges["out"])


def simulated_precision(module: nn.Module, precision: str, ranges: dict) -> nn.Module:
    """The layer as it computes at `precision`: kernel-exact integer simulation, or a dtype round trip."""
    p = parse_precision(precision)
    if p.kind == "int":
        return simulate_layer(module, qparams_for(ranges, p.bits))
    if p.name == "fp32":
        return module
    return _DtypeRoundTrip(module, p.dtype)


class _DtypeRoundTrip(nn.Module):
    """fp16/bf16 on any device: inputs and weights rounded to the dtype, math in fp32."""

    def __init__(self, module: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.inner = copy.deepcopy(module)
        with torch.no_grad():
            for p in self.inner.parameters():
                p.copy_(p.to(dtype).float())
        self.dtype = dtype

    def forward(self, x):
        return self.inner(x.to(self.dtype).float()).to(self.dtype).float()


@torch.no_grad()
def kl_sensitivity(model: nn.Module, x: torch.Tensor, layers: list[str], precisions: list[str],
                   ranges: dict[str, dict], progress: bool = True) -> np.ndarray:
    """L x P matrix: KL(float output || output with only layer l at precision p), batch mean."""
    model = model.eval()
    ref = F.softmax(model(x), dim=1)
    out = np.zeros((len(layers), len(precisions)))
    mods = dict(model.named_modules())
    cells = [(i, j) for i in range(len(layers)) for j in range(len(precisions))]
    for i, j in tqdm(cells, desc="sensitivity", disable=None if progress else True, mininterval=2.0):
        name, orig = layers[i], mods[layers[i]]
        if precisions[j] == "fp32":
            continue
        set_submodule(model, name, simulated_precision(orig, precisions[j], ranges[name]))
        try:
            logq = F.log_softmax(model(x), dim=1)
        finally:
            set_submodule(model, name, orig)
        out[i, j] = max(F.kl_div(logq, ref, reduction="batchmean").item(), 0.0)
    return out


def sensitivity_job(model: nn.Module, train_x: torch.Tensor, ohq: dict, seed: int, progress: bool = True) -> dict:
    """The ohq_sensitivity job: ranges, the L x P KL table and the tie groups of the BN-folded model."""
    folded = fold_bn(model)
    layers = [n for n, m in folded.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    x = calibration_images(train_x, ohq["calib_images"], seed).float().div_(255.0)
    ranges = layer_ranges(folded, x, layers, ohq["calibrator"])
    precisions = ordered(ohq["precisions"])
    sens = kl_sensitivity(folded, x, layers, precisions, ranges, progress=progress)
    return {"layers": layers, "precisions": precisions, "sensitivity": sens.tolist(), "ranges": ranges,
            "ties": tie_groups(folded), "calib_images": len(x), "calibrator": ohq["calibrator"], "seed": seed}
