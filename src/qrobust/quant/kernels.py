"""One conv/linear layer run as real INT8 on torch's quantized CPU kernels, and its exact fake-quant twin.

OHQ (Huang et al. 2023, "On-chip hardware-aware quantization") measures every operator on the
target chip instead of trusting a proxy; HAWQ-V3 (Yao et al. 2021) deploys integer-only
inference and counts BitOPs. Both need the same two things per layer, which this module gives:

* `kernel_layer`: the layer executed by torch.ao's quantized kernels (x86 / fbgemm / onednn):
  quint8 activations (per-tensor affine), qint8 weights (per-output-channel symmetric), int32
  accumulation, requantization of the output to 8 bits, then dequantization to float.
* `simulate_layer`: a float module computing the same numbers with fake quantization, so accuracy
  measured with it is the deployed accuracy (up to int32 bias rounding: one output step at most).

K < 8 bits has no kernel: the int8 kernel runs with its integers restricted to the K-bit grid, so
accuracy is K-bit while latency is int8's. `has_kernel` therefore says False for K < 8 and the
latency profile models those precisions instead of measuring the int8 kernel twice.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import re
import time
import warnings
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# torch >= 2.10 warns that quantized tensor creation is deprecated; it is still what the CPU
# kernels consume, and the warning would fire in every profile and test run.
warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
                        category=UserWarning)

# quantized kernels resize their outputs; the op is deterministic in value, the flag is about speed paths
warnings.filterwarnings("ignore", message=r"quantized_resize_cpu_ does not have a deterministic")

_FLOAT_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_INT_RE = re.compile(r"int([2-8])")
# the observer's floor on scales (torch.ao MinMaxObserver.eps), so an all-zero channel still gets a valid scale
_EPS = float(torch.finfo(torch.float32).eps)


class Precision(NamedTuple):
    name: str            # canonical string, e.g. "int4"
    kind: str            # "float" or "int"
    bits: int
    dtype: torch.dtype | None  # float dtype; None for int


def parse_precision(p: str) -> Precision:
    name = p.strip().lower() if isinstance(p, str) else ""
    if name in _FLOAT_DTYPES:
        return Precision(name, "float", 32 if name == "fp32" else 16, _FLOAT_DTYPES[name])
    m = _INT_RE.fullmatch(name)
    if m:
        return Precision(name, "int", int(m.group(1)), None)
    raise ValueError(f"unknown precision '{p}'; use fp32, fp16, bf16 or int2..int8")


def ordered(precisions: list[str]) -> list[str]:
    """High to low precision (fp32 first, the lowest int last): the allocator's convention."""
    return sorted(precisions, key=lambda p: -parse_precision(p).bits)


def precision_bits(p: str) -> int:
    return parse_precision(p).bits


def _affine(lo: float, hi: float, levels: int) -> tuple[float, int]:
    # the grid must hold 0 exactly (zero padding, ReLU zeros), hence the widening
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = max((hi - lo) / levels, _EPS)
    zp = int(min(max(round(-lo / scale), 0), levels))
    return scale, zp


@dataclass(frozen=True)
class LayerQParams:
    """Quantization parameters of one layer: K-bit input grid, 8-bit output grid (weights derive from the weight)."""

    bits: int
    in_scale: float
    in_zero_point: int
    out_scale: float
    out_zero_point: int

    def __post_init__(self):
        if not 2 <= int(self.bits) <= 8:
            raise ValueError(f"bits must be in 2..8 (the int8 kernel's range), got {self.bits}")
        if not (self.in_scale > 0 and self.out_scale > 0):
            raise ValueError(f"scales must be positive, got in_scale={self.in_scale}, out_scale={self.out_scale}")

    @staticmethod
    def from_ranges(bits, in_lo, in_hi, out_lo, out_hi) -> "LayerQParams":
        in_scale, in_zp = _affine(in_lo, in_hi, 2 ** int(bits) - 1)
        out_scale, out_zp = _affine(out_lo, out_hi, 255)  # output is always requantized to 8 bits
        return LayerQParams(int(bits), in_scale, in_zp, out_scale, out_zp)

    @property
    def in_qmax(self) -> int:
        return 2 ** self.bits - 1

    @property
    def w_qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1  # symmetric: -128 unused, as in torch.ao's qint8 symmetric observers


def has_kernel(precision: str, device: torch.device | str, engine: str | None = None) -> bool:
    """Whether `precision` has a fast kernel of its own on `device` (so its latency can be measured)."""
    p = parse_precision(precision)
    device = torch.device(device)
    if device.type == "cuda":
        # torch has no int8 conv kernel on CUDA (torch.ao's quantized ops are CPU only)
        return p.kind == "float"
    if device.type != "cpu":
        return p.name == "fp32"
    if p.kind == "float":
        # fp16/bf16 convs on CPU go through generic or upcasting paths, not a tuned low-precision
        # kernel, so they are no deployment option here; timing them would only mislead the allocator
        return p.name == "fp32"
    # only K = 8 is a kernel of its own; K < 8 runs the int8 kernel on a K-bit grid
    engine = engine or "x86"
    return p.bits == 8 and engine != "none" and engine in torch.backends.quantized.supported_engines


def _check_module(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            raise ValueError(f"padding_mode '{module.padding_mode}' has no quantized kernel; only 'zeros'")
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    raise TypeError(f"expected an nn.Conv2d or nn.Linear, got {type(module).__name__}")


def _conv_padding(module: nn.Conv2d):
    if isinstance(module.padding, str):
        if module.padding == "valid":
            return 0
        raise ValueError(f"conv padding '{module.padding}' is not supported; give explicit integer padding")
    return module.padding


def weight_qparams(weight: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel symmetric scales (float32) and zero points (int32, all 0)."""
    qmax = 2 ** (bits - 1) - 1
    w = weight.detach().float()
    amax = w.abs().reshape(w.shape[0], -1).amax(dim=1)
    scale = torch.clamp(amax / qmax, min=_EPS)
    return scale, torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)


def fake_quant_weight(weight: torch.Tensor, bits: int) -> torch.Tensor:
    qmax = 2 ** (bits - 1) - 1
    scale, zp = weight_qparams(weight, bits)
    return torch.fake_quantize_per_channel_affine(weight, scale, zp, 0, -qmax, qmax)


class SimulatedLayer(nn.Module):
    """Fake-quant twin of the integer layer; wraps (shares) the float module, so it stays differentiable."""

    def __init__(self, module: nn.Module, qp: LayerQParams):
        super().__init__()
        self.kind = _check_module(module)
        self.inner = module
        self.qp = qp

    def fake_weight(self) -> torch.Tensor:
        return fake_quant_weight(self.inner.weight, self.qp.bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qp, m = self.qp, self.inner
        x = torch.fake_quantize_per_tensor_affine(x, qp.in_scale, qp.in_zero_point, 0, qp.in_qmax)
        w = self.fake_weight()
        if self.kind == "conv":
            y = F.conv2d(x, w, m.bias, m.stride, _conv_padding(m), m.dilation, m.groups)
        else:
            y = F.linear(x, w, m.bias)
        return torch.fake_quantize_per_tensor_affine(y, qp.out_scale, qp.out_zero_point, 0, 255)


def simulate_layer(module: nn.Module, qp: LayerQParams) -> nn.Module:
    return SimulatedLayer(module, qp)


class KernelLayer(nn.Module):
    """float in -> quint8 -> torch.ao quantized conv/linear (int32 accumulate, requantize) -> float out."""

    def __init__(self, qop: nn.Module, qp: LayerQParams, engine: str):
        super().__init__()
        self.qop = qop
        self.qp = qp
        self.engine = engine

    def weight(self) -> torch.Tensor:
        return self.qop.weight()

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        qp = self.qp
        if qp.bits < 8:
            # quantize_per_tensor clamps to 0..255 only; snap to the K-bit grid first (exact integers)
            x = torch.fake_quantize_per_tensor_affine(x, qp.in_scale, qp.in_zero_point, 0, qp.in_qmax)
        return torch.quantize_per_tensor(x, qp.in_scale, qp.in_zero_point, torch.quint8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.qop(self.quantize_input(x)).dequantize()


def _set_engine(engine: str) -> None:
    supported = torch.backends.quantized.supported_engines
    if engine not in supported or engine == "none":
        raise ValueError(f"quantized engine '{engine}' is not supported here; supported: "
                         f"{', '.join(e for e in supported if e != 'none')}")
    # weights are prepacked for the engine current at set_weight_bias time, so set it first
    torch.backends.quantized.engine = engine


def kernel_layer(module: nn.Module, qp: LayerQParams, engine: str = "x86") -> nn.Module:
    """The layer as torch's quantized CPU kernel runs it (see the module docstring for the scheme)."""
    import torch.ao.nn.quantized as nnq

    kind = _check_module(module)
    _set_engine(engine)
    w = module.weight.detach().float().cpu()
    bias = None if module.bias is None else module.bias.detach().float().cpu()
    scale, zp = weight_qparams(w, qp.bits)
    # integers of the K-bit symmetric grid, stored as qint8 (fake-quantize first so K < 8 is clamped to +-qmax)
    w_grid = torch.fake_quantize_per_channel_affine(w, scale, zp, 0, -qp.w_qmax, qp.w_qmax)
    with warnings.catch_warnings():  # the deprecation warning fires once per process, here (see top)
        warnings.simplefilter("ignore", UserWarning)
        wq = torch.quantize_per_channel(w_grid, scale.double(), zp.long(), 0, torch.qint8)
    if kind == "conv":
        qop = nnq.Conv2d(module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
                         padding=_conv_padding(module), dilation=module.dilation, groups=module.groups,
                         bias=bias is not None, dtype=torch.qint8)
    else:
        qop = nnq.Linear(module.in_features, module.out_features, bias_=bias is not None, dtype=torch.qint8)
    qop.set_weight_bias(wq, bias)
    qop.scale = float(qp.out_scale)
    qop.zero_point = int(qp.out_zero_point)
    return KernelLayer(qop.eval(), qp, engine)


def _plain_copy(module: nn.Module) -> nn.Module:
    """A plain nn.Conv2d / nn.Linear with the same weights (drops QConv2d's own fake-quant switches)."""
    kind = _check_module(module)
    if kind == "conv":
        out = nn.Conv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                        module.padding, module.dilation, module.groups, bias=module.bias is not None)
    else:
        out = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None)
    with torch.no_grad():
        out.weight.copy_(module.weight.detach().float().cpu())
        if module.bias is not None:
            out.bias.copy_(module.bias.detach().float().cpu())
    return out.eval()


class CastLayer(nn.Module):
    """Runs `inner` in a low-precision dtype; float32 in and out, as a mixed-precision graph sees it."""

    def __init__(self, inner: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.inner = inner
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.to(self.dtype)).to(x.dtype)


def float_layer(module: nn.Module, precision: str, device: torch.device | str) -> nn.Module:
    p = parse_precision(precision)
    if p.kind != "float":
        raise ValueError(f"float_layer builds fp32/fp16/bf16 layers, not {p.name}; use make_layer")
    inner = _plain_copy(module).to(torch.device(device))
    if isinstance(inner, nn.Conv2d):
        inner = inner.to(memory_format=torch.channels_last)  # the layout deployment runs in
    if p.name == "fp32":
        return inner
    return CastLayer(inner.to(p.dtype), p.dtype)


def make_layer(module: nn.Module, precision: str, qp: LayerQParams | None, device: torch.device | str,
               engine: str = "x86") -> nn.Module:
    p = parse_precision(precision)
    device = torch.device(device)
    if p.kind == "float":
        return float_layer(module, p.name, device)
    if device.type != "cpu":
        raise ValueError(f"{p.name} runs on torch's quantized CPU kernels only; there is none on {device.type}")
    if qp is None or qp.bits != p.bits:
        raise ValueError(f"{p.name} needs LayerQParams with bits={p.bits}, got {qp}")
    return kernel_layer(module, qp, engine)


_ALLOCATOR: str | None = None


def steady_allocator() -> str:
    """Keep freed heap memory for reuse (glibc mallopt), so timings see a warmed allocator.

    By default glibc serves blocks over its mmap threshold (128 KiB at first) with fresh mmaps and
    trims the heap top on free, so an fp32 conv writing a 3 MB output page-faults on every call.
    Measured here (1->16 conv, batch 64, 28x28): ~1500 minor faults and 3.9 ms per call vs 0.2 ms
    with memory reused; and interleaving made the int8 layer pay for fp32's faults. A deployed
    runtime preallocates (or runs jemalloc / tcmalloc), so the steady state is what OHQ should see.
    Process-wide and idempotent; returns a description for the profile's metadata.
    """
    global _ALLOCATOR
    if _ALLOCATOR is None:
        _ALLOCATOR = "default (mallopt unavailable)"
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
            if libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024) and libc.mallopt(m_trim_threshold, 1 << 30):
                _ALLOCATOR = "glibc mallopt: mmap threshold 32 MiB, no trim (freed memory reused)"
        except (OSError, AttributeError):
            pass
    return _ALLOCATOR


def _sync(x) -> Callable[[], None]:
    if isinstance(x, torch.Tensor) and x.is_cuda:
        return torch.cuda.synchronize
    return lambda: None


def _stats(times_s: list[float], warmup: int) -> dict:
    ms = np.asarray(times_s) * 1e3
    return {"median_ms": float(np.median(ms)), "p10_ms": float(np.percentile(ms, 10)),
            "p90_ms": float(np.percentile(ms, 90)), "repeats": len(ms), "warmup": int(warmup)}


def time_interleaved(cases: dict, warmup: int = 10, repeats: int = 50, steady_alloc: bool = True) -> dict:
    """Time several (fn, x) cases in alternating rounds, so drift (clocks, caches, neighbours) hits all alike.

    Each round calls every case once, timed alone; the order reverses every round so no case always
    follows the same one. Puts `steady_allocator()` in force unless `steady_alloc` is False (to show
    the default allocator's cost). Returns time_module's dict per case name.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    if steady_alloc:
        steady_allocator()
    names = list(cases)
    times = {n: [] for n in names}
    syncs = {n: _sync(cases[n][1]) for n in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a timed call would be charged to whichever layer ran then
    try:
        with torch.inference_mode():
            for r in range(warmup + repeats):
                order = names if r % 2 == 0 else names[::-1]
                for n in order:
                    fn, x = cases[n]
                    syncs[n]()
                    t0 = time.perf_counter()
                    fn(x)
                    syncs[n]()
                    if r >= warmup:
                        times[n].append(time.perf_counter() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {n: _stats(times[n], warmup) for n in names}


def time_module(fn, x, warmup: int = 10, repeats: int = 50) -> dict:
    """Median / p10 / p90 wall time of fn(x) in ms (inference mode, CUDA synchronised)."""
    return time_interleaved({"_": (fn, x)}, warmup, repeats)["_"]
