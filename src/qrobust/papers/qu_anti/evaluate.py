"""Qu-ANTI-zation's evaluation: accuracy at each bit-width with the attack's quantizer, or with the
repairs the paper's Table 8 leaves open (per-channel weights, floor or stochastic rounding, PTQ with
a calibrator); every variant is a QuantizerSpec of the one quantizer stack."""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn as nn

from qrobust.evaluation import images
from qrobust.models import inference_layout
from qrobust.papers.qu_anti.losses import apply_trigger, as_float
from qrobust.papers.qu_anti.quantize import attack_specs, quantized
from qrobust.quant.config import QuantConfig
from qrobust.quant.ptq import ptq
from qrobust.quant.spec import QuantizerSpec


@torch.inference_mode()
def _predict(model, x, batch_size, device):
    with inference_layout(model):
        out = []
        for i in range(0, len(x), batch_size):
            out.append(model(x[i:i + batch_size].to(device)).argmax(1).cpu())
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def ptq_config(base: QuantizerSpec, bits: int, per_channel: bool) -> QuantConfig:
    """The PTQ repair: uniform weights (symmetric, per channel as asked) and activations (asymmetric), ranged by base's calibrator."""
    return QuantConfig(weight_quant=replace(base, bits=bits, per_channel=per_channel, symmetric=True),
                       act_quant=replace(base, bits=bits, symmetric=False))


def evaluate_bits(model: nn.Module, x: torch.Tensor, y: torch.Tensor, bits=(None, 8, 7, 6, 5, 4), *,
                  per_channel: bool = False, rounding: str = "nearest", calibrate: str | None = None,
                  calib_x: torch.Tensor | None = None, trigger: int | None = None, target: int | None = None,
                  source: int | None = None, percentile: float = 99.99, seed: int = 0, batch_size: int = 256, device="cpu") -> dict:
    """Accuracy (%) of `model` on (x, y) in float (bits entry None) and at each bit-width.

    Quantized with the attack's quantizer (per-layer symmetric weights, or per channel; dynamic
    min/max activations per batch of `batch_size`; `rounding` nearest | floor | stochastic seeded
    with `seed`), or, when `calibrate` names a calibrator (minmax | percentile | mse), by PTQ:
    BN folded, uniform weights (symmetric, per_channel as given) and activations (asymmetric), both
    ranged by that calibrator on the uint8 images `calib_x` (qrobust.quant.ptq.ptq; nearest rounding
    only). x: uint8 images or floats in [0, 1]. Runs in eval mode; the model's mode is restored.

    Returns {"acc": {b: %}, "correct": {b: "0101..." per image}}; with `trigger` (the backdoor's patch size) and `target`, also
    {"asr": {b: %}}: the share of triggered test inputs of the other classes classified as target;
    with `source` and `target` (targeted mode), also {"tsr": {b: %}}: the share of the source
    class's inputs classified as target.
    """
    for b in bits:
        attack_specs(b, b, per_channel=per_channel, rounding=rounding)  # bits and rounding are checked there
    if calibrate is not None:
        base = QuantizerSpec(quantizer="uniform", calibrator=calibrate, percentile=percentile)
        ptq_cfgs = {b: ptq_config(base, b, per_channel) for b in bits if b is not None}
        if calib_x is None:
            raise ValueError("calibrate needs calibration images (calib_x)")
        if rounding != "nearest":
            raise ValueError("PTQ calibration rounds to nearest; rounding applies to the attack's quantizer only")
        if calib_x.dtype != torch.uint8:
            calib_x = (calib_x.clamp(0, 1) * 255).round().to(torch.uint8)
    if (trigger is not None or source is not None) and target is None:
        raise ValueError("trigger (backdoor) and source (targeted) need the target class")
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    xf, y = as_float(x), y.cpu()
    if trigger is not None:
        keep = y != target
        xt = apply_trigger(xf[keep], trigger)
    if source is not None:
        src = y == source
        if not bool(src.any()):
            raise ValueError(f"no test inputs of source class {source}")
    result = {"acc": {}, "correct": {}}
    if trigger is not None:
        result["asr"] = {}
    if source is not None:
        result["tsr"] = {}

    def measure(m, b):
        pred = _predict(m, xf, batch_size, device)
        result["acc"][b] = 100.0 * (pred == y).float().mean().item()
        result["correct"][b] = images.bits(pred == y)
        if source is not None:
            result["tsr"][b] = 100.0 * (pred[src] == target).float().mean().item()
        if trigger is not None:
            result["asr"][b] = 100.0 * (_predict(m, xt, batch_size, device) == target).float().mean().item()

    try:
        for b in bits:
            if b is None:
                measure(model, b)
            elif calibrate is not None:
                measure(ptq(model, ptq_cfgs[b], calib_x).to(device), b)
            else:
                with quantized(model, b, b, per_channel=per_channel, rounding=rounding, seed=seed):
                    measure(model, b)
    finally:
        model.train(was_training)
    return result
