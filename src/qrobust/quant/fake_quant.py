"""The arithmetic of every uniform grid in qrobust: qparams, rounding, fake quantization with a
straight-through estimator (Bengio et al. 2013). Quantizers (quantizers.py), DQ's layers, the INT8
kernel twin (simulate.py) and Qu-ANTI-zation's attack all quantize through these functions.

Forward: x -> (clamp(round(x / scale) + zero_point, qmin, qmax) - zero_point) * scale.
Backward: identity where round(x / scale) + zero_point lies in [qmin, qmax], zero outside (the usual
STE, as in torch.ao's FakeQuantize). With a float32 tensor scale and nearest rounding the values
and gradients are torch.fake_quantize_per_tensor_affine's (per_channel_affine's) to the bit.

Gradient paths (`gradient_path`, for attacks; the default is `ste`, training always uses it):
  ste     the forward above, the STE backward;
  bpda    the same exact forward, backward through the soft staircase `soft_round` at a temperature
          (Athalye et al. 2018's BPDA): the gradient peaks at the rounding thresholds instead of being
          flat, so an attack sees where a quantized value flips; with form "sine" the sine staircase's;
  smooth  forward AND backward through the soft staircase: a smooth copy of the quantized network
          with the same weights (attacks crafted on it transfer to the real model: `surrogate`);
  float   every quantizer is the identity: the float twin of the quantized network.
"""
from __future__ import annotations

import contextlib
import contextvars
import math

import torch

from qrobust.quant.fused import _fused, soft_round_grad

# -- gradient paths -------------------------------------------------------------------------------
PATHS = ("ste", "bpda", "smooth", "float")
# the smooth staircase of bpda and smooth: tanh, Agustsson & Theis's soft rounding at a temperature (at a
# small one its gradient is exactly zero away from the rounding thresholds in float32); sine, v - sin(2 pi v)
# / (2 pi), flat at the integers, steepest (2) half way: nonzero almost everywhere, no temperature
FORMS = ("tanh", "sine")
_PATH: contextvars.ContextVar = contextvars.ContextVar("qrobust_gradient_path", default=("ste", 0.25))
_FORM: contextvars.ContextVar = contextvars.ContextVar("qrobust_staircase_form", default="tanh")


@contextlib.contextmanager
def gradient_path(path: str = "ste", temperature: float = 0.25, form: str = "tanh"):
    """Within the block every quantizer takes `path` (see the module docstring); `temperature` is the
    soft staircase's (bpda, smooth): smaller is closer to the hard staircase, steeper at thresholds; `form`
    the staircase's shape (FORMS)."""
    if path not in PATHS:
        raise ValueError(f"unknown gradient path '{path}'; allowed: {', '.join(PATHS)}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"the soft staircase's temperature must be a finite number > 0, got {temperature!r}")
    if form not in FORMS:
        raise ValueError(f"unknown staircase form '{form}'; allowed: {', '.join(FORMS)}")
    token, token_form = _PATH.set((path, float(temperature))), _FORM.set(form)
    try:
        yield
    finally:
        _PATH.reset(token)
        _FORM.reset(token_form)


def current_path() -> tuple[str, float]:
    """(path, temperature) in force here."""
    return _PATH.get()


def current_form() -> str:
    """The smooth staircase's form in force here (FORMS)."""
    return _FORM.get()


def sine_round(v: torch.Tensor) -> torch.Tensor:
    """The sine staircase v - sin(2 pi v) / (2 pi): equal to v at integers and half-integers, flat at the
    integers."""
    return v - torch.sin(2.0 * math.pi * v) / (2.0 * math.pi)


def sine_round_grad(v: torch.Tensor) -> torch.Tensor:
    """d sine_round / dv = 1 - cos(2 pi v)."""
    return 1.0 - torch.cos(2.0 * math.pi * v)


def soft_round(v: torch.Tensor, temperature: float) -> torch.Tensor:
    """Soft rounding (Agustsson & Theis, NeurIPS 2020): m + tanh((v - m) / t) / (2 tanh(1 / (2t))) with
    m = floor(v) + 1/2. Continuous, equal to round(v) at integers and half-integers' neighbours in the
    limit t -> 0; the identity as t -> infinity."""
    a = 1.0 / temperature
    m = torch.floor(v.detach()) + 0.5
    return m + torch.tanh(a * (v - m)) / (2.0 * math.tanh(a / 2.0))


class _Replace(torch.autograd.Function):
    """Forward: `value`. Backward: grad * `gradmul` to `x` (precomputed, same shape as x)."""

    @staticmethod
    def forward(ctx, x, value, gradmul):
        ctx.save_for_backward(gradmul)
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        (gradmul,) = ctx.saved_tensors
        return grad * gradmul, None, None


def round_ste(v: torch.Tensor, rounding: str = "nearest", draws=None, ste_grad: float = 1.0) -> torch.Tensor:
    """Integer codes of `v` whose gradient follows the gradient path: under `ste` the value is rounded and
    the gradient is `ste_grad` (1: straight through; 0: rounding's true derivative, zero almost everywhere,
    i.e. a deliberately masked quantizer); `bpda` rounds with the soft staircase's gradient; `smooth`
    returns the soft staircase itself; `float` returns v."""
    path, t = _PATH.get()
    if path == "float":
        return v
    sine = _FORM.get() == "sine"
    if path == "smooth":
        return sine_round(v) if sine else soft_round(v, t)
    with torch.no_grad():
        q = round_codes(v.detach(), rounding, draws)
        if path == "bpda":
            g = sine_round_grad(v.detach()) if sine else soft_round_grad(v.detach(), t)
        else:
            g = torch.full_like(v, float(ste_grad))
    return _Replace.apply(v, q, g)


class _PassThrough(torch.autograd.Function):
    """Forward: `value` exactly. Backward: the gradient goes to `x` unchanged.

    Exact where `x + (value - x).detach()` would leave float noise off the grid (1-bit weights).
    """

    @staticmethod
    def forward(ctx, x, value):
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def straight_through(x: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """`value` in the forward pass, the identity's gradient to `x` in the backward pass (under the
    `float` gradient path: `x` itself, the float twin)."""
    if _PATH.get()[0] == "float":
        return x
    return _PassThrough.apply(x, value)


def _in_place_ok(x: torch.Tensor, scale, zero_point) -> bool:
    """Whether the grid arithmetic may run in place on the fresh tensor x * (1/scale): float32 x, and a
    scale and zero point that are numbers or float32 tensors broadcasting into x's shape (so every
    step has x's shape and dtype, and the values are those of the out-of-place ops, bit for bit)."""
    if x.dtype != torch.float32:
        return False
    for t in (scale, zero_point):
        if isinstance(t, torch.Tensor) and (t.dtype != torch.float32 or t.dim() > x.dim()
                                            or torch.broadcast_shapes(x.shape, t.shape) != x.shape):
            return False
    return True


def _grid_values(x: torch.Tensor, scale, zero_point, qmin: int, qmax: int) -> torch.Tensor:
    """_FakeQuantize's forward values where no gradient is taken: one fresh tensor, the other steps in
    place, no mask (evaluation, Square's queries: 5x faster on a 500 x 16 x 28 x 28 activation,
    bench/fake_quant.py). Needs _in_place_ok."""
    return (x * (1.0 / scale)).round_().add_(zero_point).clamp_(qmin, qmax).sub_(zero_point).mul_(scale)


class _FakeQuantize(torch.autograd.Function):
    """Forward: the k-bit grid value. Backward: gradient where round(x/scale)+zp lies in [qmin, qmax].

    An explicit mask, because torch.clamp's own backward drops the gradient of values that land
    exactly on qmin or qmax (every output of a 1-bit quantizer does).
    """

    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        if not _in_place_ok(x, scale, zero_point):
            q = torch.round(x * (1.0 / scale)) + zero_point  # x * (1/scale): ties round as in torch.ao
            ctx.save_for_backward((q >= qmin) & (q <= qmax))
            return (torch.clamp(q, qmin, qmax) - zero_point) * scale
        q = (x * (1.0 / scale)).round_().add_(zero_point)
        ctx.save_for_backward((q >= qmin) & (q <= qmax))
        return q.clamp_(qmin, qmax).sub_(zero_point).mul_(scale)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None, None, None


class SeededDraws:
    """Random numbers for stochastic rounding: one generator per device, seeded with `seed` on first use.
    Quantizers that share one draw from one stream, in the order they run."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._gens: dict = {}

    def __call__(self, device) -> torch.Generator:
        if device not in self._gens:
            self._gens[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._gens[device]


def round_codes(v: torch.Tensor, rounding: str, draws: SeededDraws | None = None) -> torch.Tensor:
    """Round to integers: nearest (ties to even), floor, or stochastic (up with probability equal to
    the fractional part: unbiased), drawing from `draws` (a fresh SeededDraws(0) when None)."""
    if rounding == "nearest":
        return torch.round(v)
    if rounding == "floor":
        return torch.floor(v)
    if rounding == "stochastic":
        gen = (draws or SeededDraws(0))(v.device)
        return torch.floor(v + torch.rand(v.shape, generator=gen, device=v.device, dtype=v.dtype))
    raise ValueError(f"unknown rounding '{rounding}'")


def fake_quantize(x: torch.Tensor, scale, zero_point, qmin: int, qmax: int, rounding: str = "nearest",
                  draws: SeededDraws | None = None, ste_grad: float = 1.0) -> torch.Tensor:
    """x on the grid (scale, zero_point, [qmin, qmax]) with the STE gradient; `scale` gets no gradient.
    Nearest rounding: torch.fake_quantize_per_tensor_affine's values and gradient. Under a gradient path
    other than `ste` (see `gradient_path`) the gradient (bpda), the forward too (smooth) or the whole
    quantizer (float) change; `ste_grad` scales the STE inside the range (0: a masked quantizer)."""
    if isinstance(scale, torch.Tensor):
        scale = scale.detach()
    path, t = _PATH.get()
    if path == "float":
        return x
    if path != "ste" or ste_grad != 1.0:
        v = x * (1.0 / scale)
        q = round_ste(v, rounding, draws, ste_grad) + zero_point
        inside = (q.detach() >= qmin) & (q.detach() <= qmax)  # not clamp's backward: it drops qmin, qmax
        return (torch.where(inside, q, torch.clamp(q.detach(), qmin, qmax)) - zero_point) * scale
    if rounding == "nearest":
        # torch's fused kernel on CUDA (one launch instead of six); on the CPU it measured 1.15-2.0x
        # slower than these element-wise ops (bench/fake_quant.py), so the CPU keeps them
        fused = _fused(x, scale, zero_point, qmin, qmax) if x.is_cuda else None
        if fused is not None:
            return fused
        if not (x.requires_grad and torch.is_grad_enabled()) and _in_place_ok(x, scale, zero_point):
            return _grid_values(x, scale, zero_point, qmin, qmax)
        return _FakeQuantize.apply(x, scale, zero_point, qmin, qmax)
    with torch.no_grad():
        q = round_codes(x.detach() * (1.0 / scale), rounding, draws) + zero_point
        inside = (q >= qmin) & (q <= qmax)
        value = (torch.clamp(q, qmin, qmax) - zero_point) * scale
    y = _PassThrough.apply(x, value)
    return torch.where(inside, y, y.detach())


def code_range(bits: int, symmetric: bool) -> tuple[int, int]:
    """(qmin, qmax): symmetric grids use the restricted [-(2^(b-1)-1), 2^(b-1)-1], asymmetric [0, 2^b - 1]."""
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        return -qmax, qmax
    return 0, 2 ** bits - 1


def qparams(lo: torch.Tensor, hi: torch.Tensor, bits: int, symmetric: bool, min_scale: float = 1e-8):
    """(scale, zero_point, qmin, qmax) of a uniform grid covering [lo, hi].

    Symmetric: zero point 0 and the restricted range [-(2^(b-1)-1), 2^(b-1)-1], the scheme torch's
    qint8 weight kernels run. Asymmetric: [0, 2^b - 1] with the range widened to include 0, so
    zero (padding, ReLU's output) is represented exactly. Scales are floored at `min_scale`.
    """
    qmin, qmax = code_range(bits, symmetric)
    if symmetric:
        amax = torch.maximum(lo.abs(), hi.abs())
        scale = (amax / qmax).clamp_min(min_scale)
        return scale, torch.zeros_like(scale), qmin, qmax
    lo, hi = lo.clamp(max=0.0), hi.clamp(min=0.0)
    scale = ((hi - lo) / qmax).clamp_min(min_scale)
    zp = torch.clamp(torch.round(-lo / scale), 0, qmax)
    return scale, zp, qmin, qmax


def affine_qparams(lo: float, hi: float, bits: int, min_scale: float) -> tuple[float, int]:
    """qparams of an asymmetric grid as the Python float scale and int zero point torch.ao's kernels take
    (double precision; the range widened to hold 0 exactly: zero padding, ReLU zeros)."""
    qmax = code_range(bits, False)[1]
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = max((hi - lo) / qmax, min_scale)
    zp = int(min(max(round(-lo / scale), 0), qmax))
    return scale, zp


def quantize_range(x: torch.Tensor, lo: float, hi: float, bits: int, rounding: str = "nearest",
                   draws: SeededDraws | None = None) -> torch.Tensor:
    """k-bit uniform grid over [lo, hi]: 2**bits levels, lo and hi included (DQ section 2.1)."""
    levels = 2 ** bits - 1
    scale = (hi - lo) / levels
    return fake_quantize(x - lo, scale, 0, 0, levels, rounding, draws) + lo


def quantize_weight_symmetric(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-tensor symmetric weights; 1 bit is sign(w) * mean|w| (XNOR-Net), which has no zero level."""
    if bits == 1:
        w0 = w.detach()
        return straight_through(w, w0.abs().mean() * torch.where(w0 >= 0, 1.0, -1.0))
    qmax = 2 ** (bits - 1) - 1
    scale = w.abs().max().detach().clamp_min(1e-12) / qmax
    return fake_quantize(w, scale, 0, -qmax, qmax)
