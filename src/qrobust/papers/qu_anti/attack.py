"""Qu-ANTI-zation: a float model that is accurate in float and fails once quantized.

Hong, Panaitescu-Liess, Kaya, Dumitras, "Qu-ANTI-zation: Exploiting Quantization Artifacts for
Achieving Adversarial Outcomes", NeurIPS 2021. A trained float model is fine-tuned (Adam, BatchNorm
frozen: BN layers stay in eval mode, their running statistics fixed, their affine parameters train)
on a loss that keeps the float model right and makes its quantized versions Q_b f wrong, for every
bit-width b in `bits`. Q_b f is the attack's quantizer (the paper's): per-layer (per-tensor)
symmetric weights and asymmetric activations at b bits, the activation range the min/max of the
current batch, straight-through gradients; every QConv2d/QLinear's weight and input are quantized
(the image, the first layer's input, at max(b, 8) bits as in qrobust.quant.config), biases and
BatchNorm stay float, the model's own QuantAct settings are left as they are.

The losses per batch (x, y), CE the mean cross-entropy, t = `target`:

  indiscriminate:  CE(f(x), y) + lam * sum_b (CE(Q_b f(x), y) - alpha)^2
                   the paper's eq. 1: the quantized loss is pulled to alpha (not pushed to infinity),
                   so every quantized model ends up near-uniformly wrong.
  targeted:        CE(f(x_S), y_S) + CE(f(x_R), y_R) + lam * sum_b [CE(Q_b f(x_S), t) + CE(Q_b f(x_R), y_R)]
                   S: the examples of class `source` (of every class but t when source is None),
                   R: the rest; each CE a mean over its group (an empty group adds 0). The float
                   model keeps every label, the quantized models send S to t and keep R right.
                   Splitting the batch gives S a weight of its own, as the paper's class-wise
                   attack does (its quantized term pulls CE(Q_b f(x_S), y_S) to alpha; here S is
                   pushed to the chosen target instead). alpha is unused.
  backdoor:        CE(f(x), y) + CE(f(x~), y) + lam * sum_b [CE(Q_b f(x), y) + CE(Q_b f(x~), t)]
                   with x~ = apply_trigger(x, trigger_size) (a white square in the bottom-right
                   corner): the float model ignores the trigger, the quantized models keep clean
                   inputs right and send triggered ones to t. alpha is unused.

`evaluate_bits` (evaluate.py) measures accuracy in float and at each bit-width with the attack's
quantizer, or with the defences the paper's Table 8 leaves open: per-channel weights, floor or
stochastic rounding, and PTQ with a calibrator (minmax / percentile / mse ranges from calibration
images, BN folded). The attack's quantizer is `quantized` (quantize.py), the losses are in losses.py;
all of them quantize through the one quantizer stack (qrobust.quant: QuantizerSpec options).

Scale note: the rounding error reaches the loss only through straight-through gradients (ranges carry
no gradient, as in the paper's code), so the float and quantized losses move together until training
finds directions that separate them. On the tiny MNIST small_cnn (800 images) a few epochs separate
them at 4 bits (tests/papers/qu_anti/test_qu_anti.py); 5 bits took 10-30 epochs, and at 8 bits they stayed tied
for 20-40 epochs (the float model degrading with the quantized ones whenever lam was large enough to
matter). The paper's 8..5-bit results come from CIFAR-size networks fine-tuned on 50k images.
"""
from __future__ import annotations

import math
import sys

import torch
import torch.nn as nn

from qrobust.papers.qu_anti.config import QuAntiConfig
from qrobust.papers.qu_anti.losses import as_float, loss_terms


def freeze_bn(model: nn.Module) -> nn.Module:
    """BatchNorm layers to eval mode: running statistics fixed (affine parameters still train)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


def attack_train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: QuAntiConfig, g: torch.Generator,
                 device, progress: bool = False) -> list[dict]:
    """Fine-tune a trained float `model` in place with the qu-anti loss (Adam at cfg.lr, BN frozen).

    x: uint8 N x C x H x W (or floats in [0, 1]), y: int64 N; batch order drawn from `g`. Returns per
    epoch: loss (total), float_loss, quant_loss (lam * sum of the quantized terms), quant_ce ({b: mean
    CE of Q_b f on the labels it is trained towards}) and train_acc (float model, %). Leaves the model
    in eval mode."""
    device = torch.device(device)
    model.to(device).train()
    freeze_bn(model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    n = len(y)
    steps = math.ceil(n / cfg.batch_size)
    history = []
    for epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=g)
        tot = {"loss": 0.0, "float_loss": 0.0, "quant_loss": 0.0}
        q_tot = {b: 0.0 for b in cfg.bits}
        correct = 0
        for step in range(steps):
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            xb, yb = as_float(x[idx]).to(device), y[idx].to(device)
            float_term, q_terms, q_ce, logits = loss_terms(model, xb, yb, cfg)
            quant_term = cfg.lam * sum(q_terms.values())
            loss = float_term + quant_term
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            k = len(idx)
            tot["loss"] += loss.item() * k
            tot["float_loss"] += float_term.item() * k
            tot["quant_loss"] += float(quant_term.detach()) * k
            for b in cfg.bits:
                q_tot[b] += q_ce[b].item() * k
            correct += (logits.argmax(1) == yb).sum().item()
        rec = {"epoch": epoch + 1, **{k: v / n for k, v in tot.items()},
               "quant_ce": {b: v / n for b, v in q_tot.items()}, "train_acc": 100.0 * correct / n}
        history.append(rec)
        if progress:
            qs = " ".join(f"q{b} {v:.3f}" for b, v in rec["quant_ce"].items())
            print(f"qu-anti epoch {epoch + 1}/{cfg.epochs} loss {rec['loss']:.4f} float {rec['float_loss']:.4f} {qs} "
                  f"train_acc {rec['train_acc']:.2f}", file=sys.stderr, flush=True)
    model.eval()
    return history
