"""One conv/linear layer run as real INT8 on torch's quantized CPU kernels (torch.ao): the only module
that touches them, so the deployment can move to torchao in one place.

OHQ (Huang et al. 2023, "On-chip hardware-aware quantization") measures every operator on the
target chip instead of trusting a proxy; HAWQ-V3 (Yao et al. 2021) deploys integer-only inference.
`kernel_layer` executes a layer as simulate.py defines it (x86 / fbgemm / onednn): quint8
activations (per-tensor affine), qint8 weights (per-output-channel symmetric, exactly the twin's
weight grid), int32 accumulation, requantization of the output to 8 bits, then dequantization to
float. `simulate_layer` (simulate.py) is its fake-quant twin on the quantizer stack.

K < 8 bits has no kernel: the int8 kernel runs with its integers restricted to the K-bit grid, so
accuracy is K-bit while latency is int8's. `has_kernel` therefore says False for K < 8 and the
latency profile models those precisions instead of measuring the int8 kernel twice.

The precision vocabulary (precision.py), the layer qparams and twin (simulate.py) and the timers
(timing.py) are re-exported here for the callers that import them from this module.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn as nn

from qrobust.quant.precision import parse_precision
from qrobust.quant.quantizers import make_quantizer
from qrobust.quant.simulate import LayerQParams, check_module, conv_padding, weight_qparams, weight_spec

# torch >= 2.10 warns that quantized tensor creation is deprecated; it is still what the CPU
# kernels consume, and the warning would fire in every profile and test run.
warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
                        category=UserWarning)

# quantized kernels resize their outputs; the op is deterministic in value, the flag is about speed paths
warnings.filterwarnings("ignore", message=r"quantized_resize_cpu_ does not have a deterministic")


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


class KernelLayer(nn.Module):
    """float in -> quint8 -> torch.ao quantized conv/linear (int32 accumulate, requantize) -> float out."""

    def __init__(self, qop: nn.Module, qp: LayerQParams, engine: str):
        super().__init__()
        self.qop = qop
        self.qp = qp
        self.engine = engine
        self.aq = qp.input_quantizer()

    def weight(self) -> torch.Tensor:
        return self.qop.weight()

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        qp = self.qp
        if qp.bits < 8:
            # quantize_per_tensor clamps to 0..255 only; snap to the K-bit grid first (exact integers)
            x = self.aq(x)
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

    kind = check_module(module)
    _set_engine(engine)
    w = module.weight.detach().float().cpu()
    bias = None if module.bias is None else module.bias.detach().float().cpu()
    scale, zp = weight_qparams(w, qp.bits)
    # integers of the K-bit symmetric grid, stored as qint8: the twin's weight grid (clamped to +-qmax for K < 8)
    w_grid = make_quantizer(weight_spec(qp.bits), "weight", channels=w.shape[0])(w)
    with warnings.catch_warnings():  # the deprecation warning fires once per process, here (see top)
        warnings.simplefilter("ignore", UserWarning)
        wq = torch.quantize_per_channel(w_grid, scale.double(), zp.long(), 0, torch.qint8)
    if kind == "conv":
        qop = nnq.Conv2d(module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
                         padding=conv_padding(module), dilation=module.dilation, groups=module.groups,
                         bias=bias is not None, dtype=torch.qint8)
    else:
        qop = nnq.Linear(module.in_features, module.out_features, bias_=bias is not None, dtype=torch.qint8)
    qop.set_weight_bias(wq, bias)
    qop.scale = float(qp.out_scale)
    qop.zero_point = int(qp.out_zero_point)
    return KernelLayer(qop.eval(), qp, engine)


def _plain_copy(module: nn.Module) -> nn.Module:
    """A plain nn.Conv2d / nn.Linear with the same weights (drops QConv2d's own fake-quant switches)."""
    kind = check_module(module)
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
