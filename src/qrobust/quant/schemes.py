"""One quantization scheme applied to the float checkpoint: PTQ (calibrate only) or QAT (STE fine-tuning).

A scheme names a quantizer for weights and one for activations (config `quantize.schemes`; its
rules are SchemeSpec's, spec.py):
  ptq  fold BN, attach the quantizers, calibrate activations on N training images; no training;
       an `adaround` weight quantizer then learns each weight's rounding (adaround.py, the scheme's
       `reconstruct` settings).
  qat  init "float": attach the quantizers to the float model (BN kept, as in QAT practice),
       calibrate them (PACT's alpha starts at the calibrated range), fine-tune with the STE;
       init "scratch": a fresh model trained with the quantizers from the first step, activation
       ranges tracked by a moving average. DQ's regularizer joins with beta > 0.
`quantize_model` is that path; Li et al. 2024's Table 7 (papers/li2024/method.py) runs it too,
adding its own init choice and robust optimization step.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from qrobust.models import create_model
from qrobust.quant.adaround import AdaRoundQuantizer, adaround_
from qrobust.quant.config import QuantConfig, quantize_
from qrobust.quant.ptq import calibrate_, calibration_images, fold_bn, ptq
from qrobust.quant.spec import SchemeSpec
from qrobust.training.loop import TrainConfig, train


def scheme_config(scheme: dict, wbits: int | None, abits: int | None) -> QuantConfig:
    """The scheme's quantizers at wbits / abits (None: that part stays float)."""
    s = SchemeSpec.from_config(scheme)
    return QuantConfig(weight_quant=None if wbits is None else s.weight.with_bits(wbits),
                       act_quant=None if abits is None else s.act.with_bits(abits))


def quantize_model(float_model: nn.Module | None, model_spec: dict, mode: str, qcfg: QuantConfig, calib: torch.Tensor,
                   train_cfg: dict, qat: dict, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, device, *,
                   fold: bool = True, extra_loss=None, reconstruct: dict | None = None,
                   **train_overrides) -> tuple[nn.Module, dict]:
    """PTQ or QAT of one model; returns it in eval mode and what happened.

    ptq: `float_model` with BN folded when `fold`, quantized by `qcfg`, calibrated on `calib`.
    qat: from `float_model` (quantizers calibrated on `calib`, then qat['epochs'] at qat['lr']), or
    from scratch when it is None (a fresh `model_spec` model, `train_cfg` in full). `train_overrides`
    (beta, clean_weight) go into the TrainConfig, `extra_loss` into the training loop."""
    if mode == "ptq":
        model = ptq(float_model, qcfg, calib, fold=fold, device=device)
        info = {"folded": fold, "calib_images": len(calib), "history": []}
        if any(isinstance(q, AdaRoundQuantizer) for q in model.modules()):
            # AdaRound: every weight's rounding learned against the float model (`reconstruct`, the
            # scheme's settings; the seed of its batches from `gen`)
            target = fold_bn(float_model) if fold else float_model
            seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=gen))
            info["reconstruct"] = adaround_(model, target, calib, **(reconstruct or {}), seed=seed, device=device)
        return model, info
    if float_model is None:
        model = quantize_(create_model(**model_spec), qcfg)
        tcfg = TrainConfig(**{**train_cfg, **train_overrides})
    else:
        model = quantize_(float_model, qcfg)
        calibrate_(model, calib, device=device)
        tcfg = TrainConfig(**{**train_cfg, "epochs": qat["epochs"], "lr": qat["lr"], "lr_key": "quantize.qat.lr",
                              **train_overrides})
    history = train(model, x, y, tcfg, gen, device, extra_loss=extra_loss)
    return model.eval(), {"folded": False, "calib_images": 0 if float_model is None else len(calib), "history": history}


def apply_scheme(float_model: nn.Module, model_spec: dict, scheme: dict, qcfg: QuantConfig, qsettings: dict,
                 train_cfg: dict, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, seed: int,
                 device) -> tuple[nn.Module, dict]:
    """The quantized model and what happened (history, calibration size, whether BN was folded)."""
    calib = calibration_images(x, qsettings["calib_images"], seed)
    qat = qsettings["qat"]
    start = float_model if scheme["mode"] == "ptq" or qat["init"] == "float" else None
    return quantize_model(start, model_spec, scheme["mode"], qcfg, calib, train_cfg, qat, x, y, gen, device,
                          fold=qsettings["fold_bn"], reconstruct=scheme.get("reconstruct"), beta=scheme["beta"])
