"""Table 7 (Li, Meng, Tang et al. 2024): where robust optimization sits in the quantization pipeline.

One scheme = initialization x quantization x robust optimization, applied to one target:
  init     random (QAT from scratch), float (the normally trained float model), adv (the
           PGD-adversarially trained float model: robust optimization *before* quantization)
  mode     ptq (BN folded, calibrated, no training) or qat (STE training with the quantizers)
  robust   none; during (adversarial examples inside QAT); finetune (adversarial fine-tuning of
           the quantized model on a fraction of the training data, the paper's partial-data case)
  target   w (weights only), a (activations only) or wa (both) at k bits
Adversarial examples follow adv_train (PGD by default, eps per batch from a truncated normal).
PTQ and QAT themselves are qrobust.quant.schemes' path (`quantize_model`); this module adds only
the Table-7 parts: which model it starts from, and the robust optimization step.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from qrobust.quant.config import QuantConfig
from qrobust.quant.ptq import calibration_images
from qrobust.quant.schemes import quantize_model, scheme_config
from qrobust.training.adversarial import AdvConfig, adversarial_loss
from qrobust.training.loop import TrainConfig, train


def target_config(scheme: dict, target: str, bits: int) -> QuantConfig:
    """Quantizers for the target: the scheme's weight quantizer if 'w' in target, its activation one if 'a'."""
    return scheme_config(scheme, bits if "w" in target else None, bits if "a" in target else None)


def apply_table7_scheme(init_model: nn.Module | None, model_spec: dict, scheme: dict, qcfg: QuantConfig, t7: dict,
                        train_cfg: dict, adv: AdvConfig, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator,
                        seed: int, device) -> tuple[nn.Module, dict]:
    """`init_model` (None: init random, QAT from scratch) through the scheme's PTQ/QAT, with its robust step."""
    calib = calibration_images(x, t7["calib_images"], seed)
    during = scheme["robust"] == "during" and scheme["mode"] == "qat"
    robust = {"extra_loss": adversarial_loss(adv, gen), "clean_weight": 1.0 - adv.weight} if during else {}
    model, info = quantize_model(init_model, model_spec, scheme["mode"], qcfg, calib, train_cfg, t7["qat"], x, y, gen,
                                 device, **robust)
    history = info["history"]
    if scheme["robust"] == "finetune":
        n = max(1, int(len(y) * t7["finetune_fraction"]))
        idx = torch.randperm(len(y), generator=gen)[:n]
        tcfg = TrainConfig(**{**train_cfg, "epochs": t7["qat"]["epochs"], "lr": t7["qat"]["lr"], "lr_key": "li2024.qat.lr"},
                           clean_weight=1.0 - adv.weight)
        history = history + train(model, x[idx], y[idx], tcfg, gen, device, extra_loss=adversarial_loss(adv, gen))
    return model.eval(), {"folded": info["folded"], "history": history, "calib_images": len(calib)}
