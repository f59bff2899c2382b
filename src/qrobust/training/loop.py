"""Float and quantization-aware training, with Defensive Quantization's regularizer when beta > 0."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from qrobust.models._base import training_layout
from qrobust.papers.dq.regularizer import lipschitz_penalty


@dataclass
class TrainConfig:
    epochs: int = 5                   # passes over the train split
    batch_size: int = 64
    lr: float = 0.05                  # initial SGD learning rate
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"          # "cosine" or "multistep"
    milestones: list = field(default_factory=list)  # epochs at which multistep multiplies lr by gamma
    gamma: float = 0.2
    augment: bool = False             # random crop (pad 4) + horizontal flip, for CIFAR/SVHN-size images
    beta: float = 0.0                 # DQ Lipschitz regularization strength; 0 = vanilla
    clean_weight: float = 1.0         # weight of the clean loss (adversarial training mixes in its own term)
    allow_chance: bool = False        # check_learned: accept a model that ends at chance accuracy
    lr_key: str = "train.lr"          # the config key of lr, for the divergence message


class TrainingDiverged(ValueError):
    """A non-finite loss or weight: no checkpoint is written."""


def _check_finite(model: nn.Module, loss: torch.Tensor, cfg: TrainConfig, epoch: int, step: int) -> None:
    bad = None if torch.isfinite(loss).all() else f"loss {loss.item()}"
    if bad is None:
        bad = next((f"weight {n} not finite" for n, p in model.named_parameters() if not torch.isfinite(p).all()), None)
    if bad is not None:
        raise TrainingDiverged(f"training diverged at epoch {epoch + 1}, step {step + 1} ({bad}); "
                               f"lower {cfg.lr_key} (now {cfg.lr:g})")


def check_learned(history: list[dict], n_classes: int, cfg: TrainConfig, what: str = "the model",
                  margin: float = 2.0) -> None:
    """A model whose last-epoch training accuracy is within `margin` points of chance learned
    nothing: a clear error unless cfg.allow_chance (config key train.allow_chance)."""
    acc = history[-1]["train_acc"] if history else None
    chance = 100.0 / n_classes
    if acc is not None and acc <= chance + margin and not cfg.allow_chance:
        raise ValueError(f"{what} ended training at chance ({acc:.1f}% training accuracy, {n_classes} classes): "
                         f"it learned nothing; check {cfg.lr_key} and train.epochs, or set train.allow_chance: true")


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    # x: B x C x H x W in [0,1]; crop offsets and flips drawn from the job's generator
    b, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (b,), generator=g)
    dx = torch.randint(0, 9, (b,), generator=g)
    flip = torch.rand(b, generator=g) < 0.5
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])
    out[flip] = out[flip].flip(-1)
    return out


def lr_at(cfg: TrainConfig, epoch_float: float) -> float:
    if cfg.schedule == "cosine":
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * epoch_float / cfg.epochs))
    return cfg.lr * cfg.gamma ** sum(epoch_float >= m for m in cfg.milestones)


@training_layout()  # attacks crafting training examples (extra_loss) keep training's contiguous layout
def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, g: torch.Generator,
          device: torch.device, progress: bool = True, extra_loss=None) -> list[dict]:
    """x: uint8 N x C x H x W (kept on CPU), y: int64 N. Returns per-epoch loss/accuracy history.

    `extra_loss(model, xb, yb)` adds a term per batch (adversarial training, adv_train.py); it
    lives outside this module so that attack code is no input of plain training jobs."""
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    n = len(y)
    steps = math.ceil(n / cfg.batch_size)
    history = []
    for epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=g)
        tot_loss = tot_reg = correct = 0.0
        # disable=None: a bar only on a terminal; a job log gets the one line per epoch printed below
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", file=sys.stderr,
                   disable=None if progress else True, mininterval=2.0, leave=False)
        for step in bar:
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, epoch + step / steps)
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            xb = x[idx].float().div_(255.0)
            if cfg.augment:
                xb = _augment(xb, g)
            xb, yb = xb.to(device), y[idx].to(device)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            reg = lipschitz_penalty(model, cfg.beta) if cfg.beta > 0 else torch.zeros((), device=device)
            total = cfg.clean_weight * loss + reg
            if extra_loss is not None:
                total = total + extra_loss(model, xb, yb)
            if not torch.isfinite(total):
                _check_finite(model, total, cfg, epoch, step)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            tot_loss += loss.item() * len(idx)
            tot_reg += reg.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
            bar.set_postfix(loss=f"{loss.item():.3f}", reg=f"{reg.item():.3f}", refresh=False)
        _check_finite(model, torch.tensor(tot_loss), cfg, epoch, steps - 1)  # the weights after the last step
        rec = {"epoch": epoch + 1, "loss": tot_loss / n, "reg": tot_reg / n, "train_acc": 100.0 * correct / n}
        history.append(rec)
        print(f"epoch {epoch + 1}/{cfg.epochs} loss {rec['loss']:.4f} reg {rec['reg']:.4f} "
              f"train_acc {rec['train_acc']:.2f}", file=sys.stderr, flush=True)
    return history
