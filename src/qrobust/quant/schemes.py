"""One quantization scheme applied to the float checkpoint: PTQ (calibrate only) or QAT (STE fine-tuning).

A scheme names a quantizer for weights and one for activations (config `quantize.schemes`):
  ptq  fold BN, attach the quantizers, calibrate activations on N training images; no training.
  qat  init "float": attach the quantizers to the float model (BN kept, as in QAT practice),
       calibrate them (PACT's alpha starts at the calibrated range), fine-tune with the STE;
       init "scratch": a fresh model trained with the quantizers from the first step, activation
       ranges tracked by a moving average. DQ's regularizer joins with beta > 0.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from qrobust.models import create_model
from qrobust.quant import QuantConfig, QuantizerSpec, quantize_
from qrobust.quant.ptq import calibrate_, calibration_images, ptq
from qrobust.training.loop import TrainConfig, train


def scheme_config(scheme: dict, wbits: int, abits: int) -> QuantConfig:
    return QuantConfig(weight_quant=QuantizerSpec(bits=wbits, **scheme["weight"]),
                       act_quant=QuantizerSpec(bits=abits, **scheme["act"]))


def apply_scheme(float_model: nn.Module, model_spec: dict, scheme: dict, qcfg: QuantConfig, qsettings: dict,
                 train_cfg: dict, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, seed: int,
                 device) -> tuple[nn.Module, dict]:
    """The quantized model and what happened (history, calibration size, whether BN was folded)."""
    calib = calibration_images(x, qsettings["calib_images"], seed)
    if scheme["mode"] == "ptq":
        model = ptq(float_model, qcfg, calib, fold=qsettings["fold_bn"], device=device)
        return model, {"folded": qsettings["fold_bn"], "calib_images": len(calib), "history": []}
    qat = qsettings["qat"]
    if qat["init"] == "float":
        model = quantize_(float_model, qcfg)
        calibrate_(model, calib, device=device)
        tcfg = TrainConfig(**{**train_cfg, "epochs": qat["epochs"], "lr": qat["lr"]}, beta=scheme["beta"])
    else:
        model = quantize_(create_model(**model_spec), qcfg)
        tcfg = TrainConfig(**train_cfg, beta=scheme["beta"])
    history = train(model, x, y, tcfg, gen, device)
    return model.eval(), {"folded": False, "calib_images": len(calib) if qat["init"] == "float" else 0,
                          "history": history}
