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

`evaluate_bits` measures accuracy in float and at each bit-width with the attack's quantizer, or
with the defences the paper's Table 8 leaves open: per-channel weights, floor or stochastic rounding,
and PTQ with a calibrator (minmax / percentile / mse ranges from calibration images, BN folded).

Scale note: the rounding error reaches the loss only through straight-through gradients (ranges carry
no gradient, as in the paper's code), so the float and quantized losses move together until training
finds directions that separate them. On the tiny MNIST small_cnn (800 images) a few epochs separate
them at 4 bits (tests/test_qu_anti.py); 5 bits took 10-30 epochs, and at 8 bits they stayed tied
for 20-40 epochs (the float model degrading with the quantized ones whenever lam was large enough to
matter). The paper's 8..5-bit results come from CIFAR-size networks fine-tuned on 50k images.
"""
from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from qrobust.quant.calibrators import CALIBRATORS, qparams
from qrobust.quant.config import QuantConfig, quant_layers
from qrobust.quant.fake_quant import _PassThrough, fake_quantize
from qrobust.quant.quantizers import QuantizerSpec

MODES = ("indiscriminate", "targeted", "backdoor")
ROUNDINGS = ("nearest", "floor", "stochastic")
FIRST_INPUT_BITS = 8  # the image input is quantized at max(b, 8) bits (pixels are 8-bit)


@dataclass(frozen=True)
class QuAntiConfig:
    mode: str = "indiscriminate"   # indiscriminate | targeted | backdoor
    bits: tuple = (8, 7, 6, 5)     # bit-widths the quantized models are attacked at
    lam: float = 1.0               # the paper's lambda: weight of the quantized terms
    alpha: float = 5.0             # target CE of the quantized models (indiscriminate)
    target: int = 0                # targeted/backdoor target class
    source: int | None = None      # targeted: class pushed to target (None: every class)
    trigger_size: int = 4          # backdoor patch side in pixels
    epochs: int = 2
    lr: float = 1e-3               # Adam
    batch_size: int = 64

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown qu-anti mode '{self.mode}'; allowed: {', '.join(MODES)}")
        bits = tuple(self.bits) if isinstance(self.bits, (list, tuple)) else (self.bits,)
        if not bits or any(not _is_int(b) or not 2 <= b <= 16 for b in bits):
            raise ValueError(f"qu-anti bits must be a non-empty list of integers in 2..16, got {self.bits!r}")
        object.__setattr__(self, "bits", bits)
        for key in ("lam", "alpha"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"qu-anti {key} must be a finite number >= 0, got {v!r}")
        if not _is_int(self.target) or self.target < 0:
            raise ValueError(f"qu-anti target must be a class index >= 0, got {self.target!r}")
        if self.source is not None and (not _is_int(self.source) or self.source < 0):
            raise ValueError(f"qu-anti source must be a class index >= 0 or null (every class), got {self.source!r}")
        if self.mode == "targeted" and self.source == self.target:
            raise ValueError(f"qu-anti source and target are the same class ({self.target}); nothing to push")
        for key in ("trigger_size", "epochs", "batch_size"):
            v = getattr(self, key)
            if not _is_int(v) or v < 1:
                raise ValueError(f"qu-anti {key} must be an integer >= 1, got {v!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"qu-anti lr must be a finite number > 0, got {self.lr!r}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# -- the attack's quantizer -------------------------------------------------------------

def _round(v: torch.Tensor, rounding: str, gen) -> torch.Tensor:
    if rounding == "floor":
        return torch.floor(v)
    # stochastic: up with probability equal to the fractional part (unbiased)
    return torch.floor(v + torch.rand(v.shape, generator=gen(v.device), device=v.device, dtype=v.dtype))


def _fake_quant(x, scale, zp, qmin, qmax, rounding, gen):
    """fake_quantize with a choice of rounding; STE gradient where the code lies in [qmin, qmax]."""
    if rounding == "nearest":
        return fake_quantize(x, scale, zp, qmin, qmax)
    with torch.no_grad():
        q = _round(x.detach() * (1.0 / scale), rounding, gen) + zp
        inside = (q >= qmin) & (q <= qmax)
        value = (torch.clamp(q, qmin, qmax) - zp) * scale
    y = _PassThrough.apply(x, value)
    return torch.where(inside, y, y.detach())


class _WeightQuant(nn.Module):
    """Symmetric weights, max|w| per tensor (or per output channel), restricted grid +-(2^(b-1)-1)."""

    def __init__(self, bits, per_channel, rounding, gen):
        super().__init__()
        self.bits, self.per_channel, self.rounding, self.gen = bits, per_channel, rounding, gen

    def forward(self, w):
        a = w.detach().abs()
        amax = a.reshape(len(w), -1).amax(dim=1) if self.per_channel else a.max().reshape(1)
        scale, zp, qmin, qmax = qparams(-amax, amax, self.bits, True)
        if self.per_channel:
            scale = scale.view((-1,) + (1,) * (w.dim() - 1))
        else:
            scale = scale[0]
        return _fake_quant(w, scale, 0, qmin, qmax, self.rounding, self.gen)

    def extra_repr(self):
        return f"qu-anti weight, bits={self.bits}, per_channel={self.per_channel}, {self.rounding}"


class _ActQuant(nn.Module):
    """Asymmetric activations over the current batch's [min, max] (widened to hold 0)."""

    def __init__(self, bits, rounding, gen):
        super().__init__()
        self.bits, self.rounding, self.gen = bits, rounding, gen

    def forward(self, x):
        if x.numel() == 0:
            return x
        xd = x.detach()
        scale, zp, qmin, qmax = qparams(xd.min().reshape(1), xd.max().reshape(1), self.bits, False)
        return _fake_quant(x, scale[0], zp[0], qmin, qmax, self.rounding, self.gen)

    def extra_repr(self):
        return f"qu-anti dynamic act, bits={self.bits}, {self.rounding}"


_MISSING = object()


def _check_bits(v, what):
    if v is not None and (not _is_int(v) or not 2 <= v <= 16):
        raise ValueError(f"{what} must be an integer in 2..16 or None (float), got {v!r}")


@contextmanager
def quantized(model: nn.Module, wbits: int | None, abits: int | None, *, per_channel: bool = False,
              rounding: str = "nearest", seed: int = 0):
    """Run `model` quantized inside the block: the attack's quantizer at `wbits` weights and `abits`
    activations (None: that part stays float). Every QConv2d/QLinear gets temporary `wq`/`aq`
    modules; on exit (also on an error) each layer's own `wq`, `aq` and `weight_bits` come back,
    so the float model is restored exactly. rounding: nearest | floor | stochastic (stochastic
    draws from a generator seeded with `seed` when the block opens)."""
    _check_bits(wbits, "weight bits")
    _check_bits(abits, "activation bits")
    if rounding not in ROUNDINGS:
        raise ValueError(f"unknown rounding '{rounding}'; allowed: {', '.join(ROUNDINGS)}")
    layers = [m for _, m in quant_layers(model)]
    if not layers:
        raise ValueError("the model has no QConv2d/QLinear layers to quantize")
    gens: dict = {}

    def gen(device):
        if device not in gens:
            gens[device] = torch.Generator(device=device).manual_seed(seed)
        return gens[device]

    # (where, value) of each layer's own settings: a submodule slot, a plain attribute, or absent
    saved = [{k: ("_modules", m._modules[k]) if k in m._modules else ("__dict__", m.__dict__.get(k, _MISSING))
              for k in ("wq", "aq", "weight_bits")} for m in layers]
    try:
        for i, m in enumerate(layers):
            for k in ("wq", "aq"):
                if k in m.__dict__:  # a plain attribute (None) would shadow the submodule
                    del m.__dict__[k]
            m.weight_bits = None
            m.wq = None if wbits is None else _WeightQuant(wbits, per_channel, rounding, gen)
            a = None if abits is None else (max(abits, FIRST_INPUT_BITS) if i == 0 else abits)
            m.aq = None if a is None else _ActQuant(a, rounding, gen)
        yield model
    finally:
        for m, old in zip(layers, saved):
            for k, (where, v) in old.items():
                m._modules.pop(k, None)
                m.__dict__.pop(k, None)
                if v is not _MISSING:
                    getattr(m, where)[k] = v


# -- the attack ----------------------------------------------------------------------------

def apply_trigger(x_float: torch.Tensor, size: int) -> torch.Tensor:
    """A copy of N x C x H x W images in [0, 1] with a white size x size square in the bottom-right corner."""
    if not _is_int(size) or not 1 <= size <= min(x_float.shape[-2:]):
        raise ValueError(f"trigger size must be an integer in 1..{min(x_float.shape[-2:])}, got {size!r}")
    x = x_float.clone()
    x[..., -size:, -size:] = 1.0
    return x


def source_mask(cfg: QuAntiConfig, y: torch.Tensor) -> torch.Tensor:
    """Targeted mode's S: examples of class `source`, or of every class but the target when source is None."""
    return y != cfg.target if cfg.source is None else y == cfg.source


def _group_ce(logits, labels, mask):
    """Mean CE over the examples in `mask`; 0 (still in the graph) when there are none."""
    if not bool(mask.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[mask], labels[mask])


def _loss_terms(model, xb, yb, cfg: QuAntiConfig):
    """(float term, {b: quantized term}, {b: CE of Q_b f on its labels}, float logits)."""
    logits = model(xb)
    if cfg.target >= logits.shape[1]:
        raise ValueError(f"qu-anti target {cfg.target} is no class of a {logits.shape[1]}-class model")
    if cfg.mode == "targeted":
        src = source_mask(cfg, yb)
        yt = torch.full_like(yb, cfg.target)
        float_term = _group_ce(logits, yb, src) + _group_ce(logits, yb, ~src)
    else:
        float_term = F.cross_entropy(logits, yb)
    if cfg.mode == "backdoor":
        xt = apply_trigger(xb, cfg.trigger_size)
        float_term = float_term + F.cross_entropy(model(xt), yb)
        yt = torch.full_like(yb, cfg.target)
    q_terms, q_ce = {}, {}
    for b in cfg.bits:
        with quantized(model, b, b):
            if cfg.mode == "indiscriminate":
                ce = F.cross_entropy(model(xb), yb)
                q_terms[b] = (ce - cfg.alpha) ** 2
            elif cfg.mode == "targeted":
                out = model(xb)
                ce = _group_ce(out, yt, src) + _group_ce(out, yb, ~src)
                q_terms[b] = ce
            else:
                ce = F.cross_entropy(model(xb), yb) + F.cross_entropy(model(xt), yt)
                q_terms[b] = ce
        q_ce[b] = ce.detach()
    return float_term, q_terms, q_ce, logits


def qu_anti_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, cfg: QuAntiConfig) -> torch.Tensor:
    """The attack's loss on one batch (xb float images in [0, 1]): float term + lam * sum of the
    quantized terms, as in the module docstring. The model's train/eval modes are left as they are."""
    float_term, q_terms, _, _ = _loss_terms(model, xb, yb, cfg)
    return float_term + cfg.lam * sum(q_terms.values())


def freeze_bn(model: nn.Module) -> nn.Module:
    """BatchNorm layers to eval mode: running statistics fixed (affine parameters still train)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div(255.0) if x.dtype == torch.uint8 else x.float()


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
            xb, yb = _as_float(x[idx]).to(device), y[idx].to(device)
            float_term, q_terms, q_ce, logits = _loss_terms(model, xb, yb, cfg)
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


# -- evaluation -----------------------------------------------------------------------------

@torch.no_grad()
def _predict(model, x, batch_size, device):
    out = []
    for i in range(0, len(x), batch_size):
        out.append(model(x[i:i + batch_size].to(device)).argmax(1).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def _ptq_model(model, bits, per_channel, calibrator, calib_x, percentile):
    from qrobust.quant.ptq import ptq

    spec = dict(quantizer="uniform", bits=bits, calibrator=calibrator, percentile=percentile)
    cfg = QuantConfig(weight_quant=QuantizerSpec(per_channel=per_channel, symmetric=True, **spec),
                      act_quant=QuantizerSpec(symmetric=False, **spec))
    return ptq(model, cfg, calib_x)


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

    Returns {"acc": {b: %}}; with `trigger` (the backdoor's patch size) and `target`, also
    {"asr": {b: %}}: the share of triggered test inputs of the other classes classified as target;
    with `source` and `target` (targeted mode), also {"tsr": {b: %}}: the share of the source
    class's inputs classified as target.
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"unknown rounding '{rounding}'; allowed: {', '.join(ROUNDINGS)}")
    for b in bits:
        _check_bits(b, "evaluate bits")
    if calibrate is not None:
        if calibrate not in CALIBRATORS:
            raise ValueError(f"unknown calibrator '{calibrate}'; allowed: {', '.join(CALIBRATORS.names())}")
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
    xf, y = _as_float(x), y.cpu()
    if trigger is not None:
        keep = y != target
        xt = apply_trigger(xf[keep], trigger)
    if source is not None:
        src = y == source
        if not bool(src.any()):
            raise ValueError(f"no test inputs of source class {source}")
    result = {"acc": {}}
    if trigger is not None:
        result["asr"] = {}
    if source is not None:
        result["tsr"] = {}

    def measure(m, b):
        pred = _predict(m, xf, batch_size, device)
        result["acc"][b] = 100.0 * (pred == y).float().mean().item()
        if source is not None:
            result["tsr"][b] = 100.0 * (pred[src] == target).float().mean().item()
        if trigger is not None:
            result["asr"][b] = 100.0 * (_predict(m, xt, batch_size, device) == target).float().mean().item()

    try:
        for b in bits:
            if b is None:
                measure(model, b)
            elif calibrate is not None:
                measure(_ptq_model(model, b, per_channel, calibrate, calib_x, percentile).to(device), b)
            else:
                with quantized(model, b, b, per_channel=per_channel, rounding=rounding, seed=seed):
                    measure(model, b)
    finally:
        model.train(was_training)
    return result
