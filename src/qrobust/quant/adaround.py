"""AdaRound (Nagel, Amjad, van Baalen, Louizos, Blankevoort, "Up or Down? Adaptive Rounding for
Post-Training Quantization", ICML 2020): each weight is rounded up or down as a layer-wise
reconstruction on calibration data decides, not to its nearest level.

The weight quantizer `adaround` holds a uniform grid (range from its calibrator on the weights, at
the first forward pass, then frozen: the learned rounding belongs to that grid) and one rounding
choice per weight (`up`, 0 or 1; before any reconstruction: nearest rounding). `adaround_` learns the
choices, layer by layer in forward order, on the calibration images:

    W~ = s * clip(floor(W / s) + h(V), qmin, qmax)             h(V) = clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1)
    min_V  || W x - W~ x~ ||^2  +  lam * sum(1 - |2 h(V) - 1|^beta)                      (eq. 21-25)

zeta = 1.1, gamma = -0.1; V starts where h(V) is the fractional part of W / s (so W~ = W); x~ is
the layer's input in the quantized model (the layers before it already rounded, its own input
quantizer applied) and the target its output in the float model (BatchNorm folded, as the PTQ model
has it). The regularizer joins after `warmup` of the iterations, with beta falling linearly from
beta[0] to beta[1] (the BRECQ/QDrop authors' schedule), so h(V) is driven to 0 or 1; then each weight
is rounded up where h(V) >= 1/2. Adam at `lr` on V, `batch_size` calibration images per step. The
paper runs 10,000 steps at lr 1e-3; the default here is 1,000 at 1e-2 (on a small CNN at 2 bits this
lowered the reconstruction loss 2-5x where 1,000 steps at 1e-3 lowered it 1.2-3x).

The same engine runs BRECQ and QDrop (`adaround_`'s `granularity`, `loss`, `drop_prob`): BRECQ learns
the rounding of all layers of a block together against the block's output (`units`), its squared
error weighted by (|dKL/d output| + 1)^2; QDrop drops activation quantization at random while it does.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from qrobust.quant.fake_quant import SeededDraws, current_path, straight_through
from qrobust.quant.quantizers import Quantizer, register_quantizer
from qrobust.quant.spec import QuantizerSpec

ZETA, GAMMA = 1.1, -0.1


def rectified_sigmoid(v: torch.Tensor) -> torch.Tensor:
    """h(V) of eq. 23."""
    return torch.clamp(torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


def init_v(rest: torch.Tensor) -> torch.Tensor:
    """V with h(V) = rest (rest in [0, 1))."""
    return -torch.log((ZETA - GAMMA) / (rest - GAMMA) - 1.0)


def rounding_reg(h: torch.Tensor, beta: float) -> torch.Tensor:
    """f_reg of eq. 24: sum(1 - |2 h - 1|^beta); 0 where every h is 0 or 1."""
    return (1.0 - (2.0 * h - 1.0).abs().pow(beta)).sum()


@register_quantizer("adaround")
class AdaRoundQuantizer(Quantizer):
    """A frozen uniform grid with one learned rounding choice per weight; see the module docstring."""

    role_allowed = ("weight",)
    role_hint = "it learns how weights round: use uniform for activations"
    nearest_only = True     # before reconstruction it rounds to nearest; after, as learned
    range_options = False   # the range comes from the weights, once
    ptq_only = True         # the rounding is learned for fixed weights: training would move them off it

    def __init__(self, spec: QuantizerSpec, role: str, channels: int = 1, draws: SeededDraws | None = None):
        super().__init__(spec, role, channels, draws)
        self.register_buffer("up", torch.zeros(0, dtype=torch.uint8))  # per weight, 1: round up; empty: nearest
        self.v: torch.Tensor | None = None  # V of eq. 23 while reconstructing

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if prefix + "up" in state_dict:  # its shape is the weight's, unknown until it was learned
            self.up = torch.zeros_like(state_dict[prefix + "up"], dtype=torch.uint8)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if not bool(self.calibrated):  # the grid, once: a learned rounding is tied to it
            with torch.no_grad():
                self.set_range(*self._range_of(w))
        if current_path()[0] == "float":
            return w
        return self.quantize(w)

    def floor_codes(self, w: torch.Tensor):
        """(floor(w / s) + zero point, its fractional part, scale, zero point, qmin, qmax)."""
        scale, zp, qmin, qmax = self.grid(w)
        v = w.detach() / scale
        fl = torch.floor(v)
        return fl + zp, v - fl, scale, zp, qmin, qmax

    def quantize(self, w: torch.Tensor) -> torch.Tensor:
        base, _, scale, zp, qmin, qmax = self.floor_codes(w)
        if self.v is not None:  # reconstructing: soft rounding h(V), differentiable in V, not in w
            return (torch.clamp(base + rectified_sigmoid(self.v), qmin, qmax) - zp) * scale
        if self.up.numel():
            up = self.up.to(w.dtype)
        else:  # nearest (ties to even, as torch.round): up where round(w / s) is above floor(w / s)
            up = torch.round(w.detach() / scale) - (base - zp)
        codes = base + up
        value = (torch.clamp(codes, qmin, qmax) - zp) * scale
        y = straight_through(w, value)
        return torch.where((codes >= qmin) & (codes <= qmax), y, y.detach())  # no gradient beyond the grid


def _chain(m: nn.Module):
    """(name, child) pairs whose application in turn is m's forward: an nn.Sequential's children, or
    those a model class names in its `chain` attribute; None for anything else (a layer, a block)."""
    if isinstance(m, nn.Sequential):
        return list(m.named_children())
    names = getattr(type(m), "chain", None)
    return [(n, getattr(m, n)) for n in names] if names else None


def units(model: nn.Module, granularity: str) -> list[list[str]]:
    """The model as consecutive reconstruction units, each a list of module names applied in turn.

    layer: each conv/linear alone (AdaRound). block (BRECQ): each residual block (a module with
    quantized layers that is no chain), and each conv/linear outside blocks with the modules after it
    (BatchNorm, activation, pooling) up to the next; a model that is no chain is one unit."""
    from qrobust.quant.config import quant_layers
    from qrobust.quant.layers import QConv2d, QLinear

    if granularity == "layer":
        return [[n] for n, _ in quant_layers(model)]

    def quantized(m):
        return any(isinstance(x, (QConv2d, QLinear)) for x in m.modules())

    out: list[list[str]] = []

    def visit(prefix: str, m: nn.Module) -> None:
        for n, child in _chain(m):
            name = prefix + n
            if isinstance(child, (QConv2d, QLinear)) or (quantized(child) and _chain(child) is None):
                out.append([name])
            elif quantized(child):
                visit(name + ".", child)
            elif out:
                out[-1].append(name)
            else:
                out.append([name])  # leading modules without quantizers (Normalize)

    if _chain(model) is None:
        return [[""]]
    visit("", model)
    return out


def _run(model: nn.Module, names: list[str], x: torch.Tensor) -> torch.Tensor:
    for n in names:
        x = model.get_submodule(n)(x)
    return x


@torch.no_grad()
def _capture(model: nn.Module, module: nn.Module, x: torch.Tensor, batch_size: int, device, output: bool) -> torch.Tensor:
    """The module's input (output=False) or output over x (uint8 images), in calibration order."""
    seen = []
    if output:
        h = module.register_forward_hook(lambda m, a, out: seen.append(out.detach()))
    else:
        h = module.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach()))
    try:
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size].float().div_(255.0).to(device))
    finally:
        h.remove()
    return torch.cat(seen)


def _output_grads(qmodel, float_model, module, calib, batch_size, device) -> torch.Tensor:
    """|dKL(q || fp) / d(unit output)| + 1 per calibration image, the BRECQ authors' weight for their
    Fisher-diagonal loss (KL between the quantized and the float model's predictions; the quantized
    model as it stands, later layers at nearest rounding)."""
    seen = []

    def keep_grad(m, a, out):
        if out.requires_grad:
            out.register_hook(lambda g: seen.append(g.detach()))

    h = module.register_forward_hook(keep_grad)
    try:
        for i in range(0, len(calib), batch_size):
            x = calib[i:i + batch_size].float().div_(255.0).to(device)
            with torch.no_grad():
                p_fp = F.softmax(float_model(x), dim=1)
            with torch.enable_grad():
                out_q = qmodel(x)
                F.kl_div(F.log_softmax(out_q, dim=1), p_fp, reduction="batchmean").backward()
    finally:
        h.remove()
    qmodel.zero_grad(set_to_none=True)
    return torch.cat(seen).abs() + 1.0


class _DropActQuant:
    """QDrop: while active, each element of every activation quantizer's output in `mods` is its
    unquantized input with probability p (forward hooks; `gen` draws the masks)."""

    def __init__(self, mods, p: float, gen: torch.Generator):
        self.p, self.gen = p, gen
        self.handles = [m.register_forward_hook(self) for m in mods]

    def __call__(self, module, args, out):
        x = args[0]
        keep = torch.rand(x.shape, generator=self.gen).to(x.device) < self.p
        return torch.where(keep, x, out)

    def remove(self):
        for h in self.handles:
            h.remove()


def adaround_(qmodel: nn.Module, float_model: nn.Module, calib: torch.Tensor, *, iters: int = 1000, lam: float = 0.01,
              warmup: float = 0.2, beta: tuple = (20.0, 2.0), lr: float = 1e-2, batch_size: int = 32,
              granularity: str = "layer", loss: str = "mse", drop_prob: float = 0.0,
              seed: int = 0, device="cpu") -> list[dict]:
    """Learn the rounding of every `adaround` weight quantizer of `qmodel` (PTQ'd, activations
    calibrated) against `float_model` (the same architecture, BatchNorm folded, no quantizers), unit by
    unit in forward order (`units(granularity)`: layer = AdaRound, block = BRECQ), minimising the
    squared error of the unit's output (`loss`: mse, or fisher: weighted by BRECQ's |gradient| + 1) with
    the rounding regularizer; `drop_prob` > 0 is QDrop: the unit's input is the float model's, element
    by element, with that probability, and so is each activation quantizer's output inside the unit.
    Returns per unit the loss (unweighted squared error per image) with nearest rounding and with the
    learned one, and the fraction of its weights rounded otherwise than to nearest."""
    from qrobust.quant.quantizers import Quantizer

    qmodel.to(device).eval()
    float_model.to(device).eval()
    gen = torch.Generator().manual_seed(seed)
    report = []
    for names in units(qmodel, granularity):
        mods = [qmodel.get_submodule(n) for n in names]
        layers = [m for mod in mods for m in mod.modules() if isinstance(getattr(m, "wq", None), AdaRoundQuantizer)]
        if not layers:
            continue
        wqs = [m.wq for m in layers]
        first, last = mods[0], mods[-1]
        f_first, f_last = float_model.get_submodule(names[0]), float_model.get_submodule(names[-1])
        x_in = _capture(qmodel, first, calib, 256, device, output=False)
        x_fp = _capture(float_model, f_first, calib, 256, device, output=False) if drop_prob else None
        target = _capture(float_model, f_last, calib, 256, device, output=True)
        weight = _output_grads(qmodel, float_model, last, calib, 256, device).pow(2) if loss == "fisher" else None
        n, start = len(x_in), int(warmup * iters)

        def sq_err(x, idx, w=None):
            e = (_run(qmodel, names, x) - target[idx]).pow(2)
            return (e if w is None else e * w[idx]).flatten(1).sum(1).mean()

        def hard_loss():
            with torch.no_grad():
                return sq_err(x_in, torch.arange(n))

        before = hard_loss().item()  # no rounding learned yet: nearest
        params, nearest = [], []  # nearest: 1 where nearest rounding goes up
        for layer, wq in zip(layers, wqs):
            w = layer.weight.detach()
            base, rest, scale, zp, _, _ = wq.floor_codes(w)
            nearest.append(torch.round(w / scale) - (base - zp))
            wq.v = init_v(rest.clamp(0.0, 1.0 - 1e-6)).requires_grad_(True)
            params.append(wq.v)
        opt = torch.optim.Adam(params, lr=lr)
        acts = [m for mod in mods for m in mod.modules() if isinstance(m, Quantizer) and m.role == "act"]
        drop = _DropActQuant(acts, drop_prob, gen) if drop_prob else None
        try:
            for t in range(iters):
                idx = torch.randint(0, n, (min(batch_size, n),), generator=gen).to(device)
                x = x_in[idx]
                if drop is not None:
                    x = torch.where(torch.rand(x.shape, generator=gen).to(device) < drop_prob, x_fp[idx], x)
                rec = sq_err(x, idx, weight)
                if t >= start:
                    b = beta[1] + (beta[0] - beta[1]) * max(0.0, 1.0 - (t - start) / max(iters - start, 1))
                    rec = rec + lam * sum(rounding_reg(rectified_sigmoid(v), b) for v in params)
                opt.zero_grad(set_to_none=True)
                rec.backward()
                opt.step()
        finally:
            if drop is not None:
                drop.remove()
        ups = []
        for wq in wqs:
            ups.append((rectified_sigmoid(wq.v.detach()) >= 0.5).to(torch.uint8))
            wq.v, wq.up = None, ups[-1]
        after = hard_loss().item()
        changed = sum(float((u.float() != nr).sum()) for u, nr in zip(ups, nearest)) / sum(u.numel() for u in ups)
        report.append({"layer": ",".join(names), "loss_nearest": before, "loss_adaround": after, "changed": changed,
                       "weights": sum(u.numel() for u in ups)})
    return report
