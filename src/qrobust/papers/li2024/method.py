"""Table 7 (Li, Meng, Tang et al. 2024): where robust optimization sits in the quantization pipeline.

One scheme = initialization x quantization x robust optimization, applied to one target:
  init     random (QAT from scratch), float (the normally trained float model), adv (the
           PGD-adversarially trained float model: robust optimization *before* quantization)
  mode     ptq (BN folded, calibrated, no training) or qat (STE training with the quantizers)
  robust   none; during (adversarial examples inside QAT); finetune (adversarial fine-tuning of
           the quantized model on a fraction of the training data, the paper's partial-data case)
  target   w (weights only), a (activations only) or wa (both) at k bits
Adversarial examples follow adv_train (PGD by default, eps per batch from a truncated normal).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from qrobust.training.adversarial import AdvConfig, adversarial_loss
from qrobust.models import create_model
from qrobust.quant import QuantConfig, QuantizerSpec, quantize_
from qrobust.quant.ptq import calibrate_, calibration_images, ptq
from qrobust.training.loop import TrainConfig, train


def target_config(scheme: dict, target: str, bits: int) -> QuantConfig:
    """Quantizers for the target: the scheme's weight quantizer if 'w' in target, its activation one if 'a'."""
    return QuantConfig(weight_quant=QuantizerSpec(bits=bits, **scheme["weight"]) if "w" in target else None,
                       act_quant=QuantizerSpec(bits=bits, **scheme["act"]) if "a" in target else None)


def apply_table7_scheme(init_model: nn.Module | None, model_spec: dict, scheme: dict, qcfg: QuantConfig, t7: dict,
                        train_cfg: dict, adv: AdvConfig, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator,
                        seed: int, device) -> tuple[nn.Module, dict]:
    calib = calibration_images(x, t7["calib_images"], seed)
    history: list = []
    if scheme["mode"] == "ptq":
        model = ptq(init_model, qcfg, calib, device=device)
        folded = True
    else:
        folded = False
        if init_model is None:  # from scratch: the full training schedule with quantizers in the loop
            model = quantize_(create_model(**model_spec), qcfg)
            tcfg = TrainConfig(**train_cfg)
        else:
            model = quantize_(init_model, qcfg)
            calibrate_(model, calib, device=device)
            tcfg = TrainConfig(**{**train_cfg, "epochs": t7["qat"]["epochs"], "lr": t7["qat"]["lr"]})
        extra = None
        if scheme["robust"] == "during":
            extra = adversarial_loss(adv, gen)
            tcfg = TrainConfig(**{**tcfg.__dict__, "clean_weight": 1.0 - adv.weight})
        history = train(model, x, y, tcfg, gen, device, extra_loss=extra)
    if scheme["robust"] == "finetune":
        n = max(1, int(len(y) * t7["finetune_fraction"]))
        idx = torch.randperm(len(y), generator=gen)[:n]
        tcfg = TrainConfig(**{**train_cfg, "epochs": t7["qat"]["epochs"], "lr": t7["qat"]["lr"]},
                           clean_weight=1.0 - adv.weight)
        history += train(model, x[idx], y[idx], tcfg, gen, device, extra_loss=adversarial_loss(adv, gen))
    return model.eval(), {"folded": folded, "history": history, "calib_images": len(calib)}
