"""Model registry (timm style): `@register_model` factories and `create_model(name, **kw)`."""
from __future__ import annotations

import contextlib
import contextvars

import torch
import torch.nn as nn
from torch.autograd.function import once_differentiable

from qrobust.plan.registry import Registry

MODELS: Registry = Registry("model")


def register_model(name: str, *, tiny: dict | None = None):
    """`@register_model("name")` on a factory taking num_classes, in_channels, act and its own keywords;
    `tiny`: the keywords that build a small instance of it (the tests build every registered model so)."""
    def deco(factory):
        factory.tiny = dict(tiny or {})
        return MODELS.register(name)(factory)

    return deco


class Normalize(nn.Module):
    """Per-channel standardisation inside the model, so attacks work on [0, 1] images."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def _pairs(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class MaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d with a faster forward where no gradient is taken (evaluation, Square's queries,
    corrupted test sets, calibration).

    torch's CPU kernel for a 2x2, stride-2 max-pool of a contiguous NCHW float tensor takes about 9 ms
    per 100 x 16 x 28 x 28 batch on one thread; the elementwise maximum of the window's four strided
    slices takes about 1 ms (bench/maxpool.py). The values are the same numbers (`==`; only the sign
    of a zero, -0.0 against 0.0, can differ, which no later layer can tell apart but a division).
    In channels_last (`inference_layout`) torch's kernel is fast already and the slices are about
    1.2-1.6x faster still.

    With a gradient (training, and the attacks that craft its examples) on a contiguous NCHW float
    tensor, the forward runs torch's own kernel on a channels_last copy (copies included, about twice
    as fast as its NCHW kernel), and the backward runs torch's NCHW backward with the same indices
    (`_MaxPoolIndicesChannelsLast`): the same values, indices and gradients, bit for bit.
    Everything else (CUDA, quantized tensors, other window shapes, other layouts) runs torch's kernel.
    The state dict and `isinstance(m, nn.MaxPool2d)` are unchanged."""

    def _window(self) -> bool:
        return (_pairs(self.kernel_size) == (2, 2) and _pairs(self.stride) == (2, 2)
                and _pairs(self.padding) == (0, 0) and _pairs(self.dilation) == (1, 1)
                and not self.return_indices)

    def _cpu_window(self, x) -> bool:
        return (isinstance(x, torch.Tensor) and x.dim() == 4 and x.device.type == "cpu"
                and x.dtype.is_floating_point and not x.is_quantized and self._window())

    def _fast(self, x) -> bool:
        return (self._cpu_window(x)
                and (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last))
                and not (x.requires_grad and torch.is_grad_enabled())
                and not (self.ceil_mode and (x.shape[-2] % 2 or x.shape[-1] % 2)))

    def _fast_grad(self, x) -> bool:
        return (self._cpu_window(x) and x.dtype in (torch.float32, torch.float64)
                and x.is_contiguous() and x.requires_grad and torch.is_grad_enabled())

    def forward(self, x):
        if not self._fast(x):
            if self._fast_grad(x):
                return _MaxPoolIndicesChannelsLast.apply(x, self.ceil_mode)
            return super().forward(x)
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2  # floor mode drops an odd last row/column
        a, b = x[..., 0:h:2, 0:w:2], x[..., 0:h:2, 1:w:2]
        c, d = x[..., 1:h:2, 0:w:2], x[..., 1:h:2, 1:w:2]
        return torch.maximum(torch.maximum(a, b), torch.maximum(c, d))


class _MaxPoolIndicesChannelsLast(torch.autograd.Function):
    """A 2x2, stride-2 max-pool of a contiguous NCHW tensor: forward by torch's channels_last kernel on
    a copy (its window scan is the NCHW kernel's: the first strictly greater element wins, a NaN always
    does, so the same values and indices), backward by torch's NCHW backward kernel with those indices
    (zero-filled, then each output's gradient added at its index). Both kernels are torch's; only the
    layout each one runs in is chosen (bench/maxpool.py: 0.45-0.50x the time of the NCHW forward and
    backward on the small CNN's training maps at batch 64). No double backward (nothing here takes one)."""

    WINDOW = ([2, 2], [2, 2], [0, 0], [1, 1])  # kernel, stride, padding, dilation

    @staticmethod
    def forward(ctx, x, ceil_mode):
        out, idx = torch.ops.aten.max_pool2d_with_indices(
            x.contiguous(memory_format=torch.channels_last), *_MaxPoolIndicesChannelsLast.WINDOW, ceil_mode)
        ctx.save_for_backward(x, idx.contiguous())
        ctx.ceil_mode = ceil_mode
        return out.contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, idx = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(
            grad.contiguous(), x, *_MaxPoolIndicesChannelsLast.WINDOW, ctx.ceil_mode, idx), None


def create_model(name: str, *, num_classes: int, in_channels: int, act: str = "relu6",
                 mean=None, std=None, **kwargs) -> nn.Module:
    """Build a registered model; `mean`/`std` (per channel) add a Normalize layer in front. A None keyword
    is not given (a config override unsets a key of the base config's model.kwargs with null)."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    net = MODELS.get(name)(num_classes=num_classes, in_channels=in_channels, act=act, **kwargs)
    if mean is None:
        return net
    return nn.Sequential(Normalize(mean, std), net)


_TRAINING: contextvars.ContextVar = contextvars.ContextVar("qrobust_training_layout", default=False)


@contextlib.contextmanager
def training_layout():
    """Inside the block (a training run: training.loop.train) `inference_layout` changes nothing, so
    the examples adversarial training crafts come from the layout training runs in and trained
    weights keep their exact numbers. Usable as a decorator."""
    token = _TRAINING.set(True)
    try:
        yield
    finally:
        _TRAINING.reset(token)


@contextlib.contextmanager
def inference_layout(*models: nn.Module | None):
    """Run each model (None: skipped) in channels_last inside the block, where it only infers
    (evaluation, attacks: batch norm in eval mode), on the CPU; on exit its weights are contiguous
    again, the same values and the same Parameter objects (an optimizer keeps them).

    Why only there (bench/memory_format.py, this 2-core CPU): channels_last makes the small CNN's
    and the VGG substitute's input gradient 0.61-0.83x as long and a forward 0.78-0.89x, the outputs
    those of the contiguous model within float rounding. It would make a training step 0.54-0.96x as
    long too, but batch norm's training-mode output in channels_last carries 70-90x the float32 error
    (3e-5 against 4e-7 from float64), and the trained models moved enough to turn a Table 8 finding
    on the tiny config: training stays contiguous and keeps its numbers.

    A no-op inside `training_layout` (a training run), for a model on CUDA (not measured there), with
    weights other than float32 (fp16, bf16: not measured either), without 4-d weights, or with a
    weight not contiguous on entry (an enclosing block, or a caller that chose a layout itself)."""
    switched = []
    try:
        for m in () if _TRAINING.get() else models:
            weights = [] if m is None else [p for p in m.parameters() if p.dim() == 4]
            if weights and all(p.device.type == "cpu" and p.dtype == torch.float32 and p.is_contiguous()
                               for p in weights):
                _relayout(m, torch.channels_last)
                switched.append(m)
        yield models[0] if len(models) == 1 else models
    finally:
        for m in switched:
            _relayout(m, torch.contiguous_format)


def _relayout(model: nn.Module, layout) -> None:
    """model.to(memory_format=layout), outside inference mode even inside one, so the weights stay
    ordinary tensors that training and gradient attacks can use afterwards."""
    with torch.inference_mode(False):
        model.to(memory_format=layout)
