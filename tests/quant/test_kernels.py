"""Real INT8 kernels (torch.ao, x86 engine) against their fake-quant twins, and the precision vocabulary."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from qrobust.quant.kernels import has_kernel, kernel_layer, make_layer
from qrobust.quant.precision import parse_precision, precision_bits
from qrobust.quant.simulate import LayerQParams, fake_quant_weight, simulate_layer, weight_qparams
from qrobust.quant.timing import time_module

CASES = {
    "conv_bias": (lambda: nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=True), (16, 8, 14, 14)),
    "conv_nobias": (lambda: nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), (16, 8, 14, 14)),
    "linear": (lambda: nn.Linear(96, 40), (32, 96)),
}


def _layer(case: str, bits: int):
    make, shape = CASES[case]
    torch.manual_seed(0)
    module = make().eval()
    if module.bias is not None:
        with torch.no_grad():
            module.bias.mul_(5.0)  # a bias that matters next to the products
    x = torch.randn(shape)
    with torch.no_grad():
        y = module(x)
    qp = LayerQParams.from_ranges(bits, x.min(), x.max(), y.min(), y.max())
    return module, x, qp


def _has_vnni() -> bool:
    """Whether the CPU has VNNI (u8 x s8 dot products into int32). Without it FBGEMM's AVX2 kernels
    multiply with vpmaddubsw, whose int16 pair sums saturate for 8-bit activations times 8-bit
    weights (255 * 127 * 2 > 32767): the reason torch.ao's x86 configs reduce activations to 7 bits."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return True
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("case", list(CASES))
def test_kernel_matches_simulation(case, bits):
    if bits == 8 and not _has_vnni():
        pytest.skip("this CPU has no VNNI: FBGEMM's AVX2 int8 kernels saturate 8-bit x 8-bit pair sums in int16, "
                    "so they do not match the exact simulation at 8 bits (found 2026-11-30 on an AMD EPYC, AVX2)")
    module, x, qp = _layer(case, bits)
    kern = kernel_layer(module, qp, "x86")
    with torch.no_grad():
        got = kern(x)
        want = simulate_layer(module, qp)(x)
    diff = (got - want).abs()
    # The kernel quantizes the float bias to int32 at scale in_scale * w_scale and sums exact integers;
    # the twin adds the float bias to a float32 sum. The two pre-requantization values differ by far
    # less than a step, but one landing on the other side of a rounding midpoint moves one output step.
    assert diff.max().item() <= qp.out_scale * (1 + 1e-4)
    assert (diff == 0).float().mean().item() >= 0.99


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("case", list(CASES))
def test_kernel_holds_k_bit_integers(case, bits):
    module, x, qp = _layer(case, bits)
    kern = kernel_layer(module, qp, "x86")
    w = kern.weight()
    assert w.dtype == torch.qint8 and w.qscheme() == torch.per_channel_affine
    ints = w.int_repr()
    qmax = 2 ** (bits - 1) - 1
    assert ints.abs().max().item() <= qmax
    assert ints.abs().max().item() == qmax  # the largest weight of a channel maps to the grid's end
    assert torch.all(w.q_per_channel_zero_points() == 0)
    xq = kern.quantize_input(x)
    assert xq.dtype == torch.quint8
    assert 0 <= xq.int_repr().min().item() and xq.int_repr().max().item() <= 2 ** bits - 1


@pytest.mark.parametrize("case", list(CASES))
def test_8bit_weight_fake_quant_matches_torch_ao(case):
    from torch.ao.quantization import FakeQuantize, PerChannelMinMaxObserver

    module, _, qp = _layer(case, 8)
    ref = FakeQuantize(observer=PerChannelMinMaxObserver, quant_min=-127, quant_max=127, dtype=torch.qint8,
                       qscheme=torch.per_channel_symmetric, ch_axis=0)
    with torch.no_grad():
        want = ref(module.weight)
        got = simulate_layer(module, qp).fake_weight()
    scale, zp = weight_qparams(module.weight, 8)
    ref_scale, ref_zp = ref.calculate_qparams()
    assert torch.equal(scale, ref_scale.float())
    assert torch.equal(zp.long(), ref_zp.long())
    assert torch.equal(got, want)
    # and the kernel's stored integers are that grid: dequantized kernel weight == fake-quant weight
    assert torch.equal(kernel_layer(module, qp).weight().dequantize(), got)


def test_simulation_is_differentiable():
    module, x, qp = _layer("conv_bias", 4)
    x = x.clone().requires_grad_(True)
    simulate_layer(module, qp)(x).sum().backward()
    assert x.grad is not None and module.weight.grad is not None and module.bias.grad is not None


def test_qparams_from_ranges():
    qp = LayerQParams.from_ranges(4, 0.5, 3.0, -1.0, 2.0)
    assert qp.in_zero_point == 0 and qp.in_scale == pytest.approx(3.0 / 15)  # widened to include 0
    assert qp.out_scale == pytest.approx(3.0 / 255) and qp.out_zero_point == 85
    neg = LayerQParams.from_ranges(8, -2.0, -1.0, -1.0, -0.5)
    assert neg.in_zero_point == 255 and neg.out_zero_point == 255
    with pytest.raises(ValueError, match="bits"):
        LayerQParams.from_ranges(9, 0, 1, 0, 1)


def test_has_kernel():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert has_kernel("fp32", cpu) and has_kernel("int8", cpu) and has_kernel("int8", cpu, "x86")
    assert not has_kernel("int4", cpu)  # no 4-bit kernel; the int8 kernel on a 4-bit grid is modelled
    assert not has_kernel("fp16", cpu) and not has_kernel("bf16", cpu)
    assert not has_kernel("int8", cpu, "no-such-engine")
    assert has_kernel("fp16", cuda) and has_kernel("bf16", cuda) and has_kernel("fp32", cuda)
    assert not has_kernel("int8", cuda)


def test_precision_vocabulary():
    assert [precision_bits(p) for p in ("fp32", "fp16", "bf16", "int8", "int2")] == [32, 16, 16, 8, 2]
    assert parse_precision("int4").kind == "int"
    for bad in ("int9", "int1", "fp8", "float"):
        with pytest.raises(ValueError, match=r"unknown precision '.*'; use fp32, fp16, bf16 or int2\.\.int8"):
            parse_precision(bad)


def test_bad_engine_names_supported_ones():
    module, _, qp = _layer("linear", 8)
    with pytest.raises(ValueError) as err:
        kernel_layer(module, qp, engine="tpu")
    msg = str(err.value)
    assert "\n" not in msg and "'tpu'" in msg and "x86" in msg


def test_bad_module_and_padding_mode():
    module, _, qp = _layer("conv_bias", 8)
    module.padding_mode = "reflect"
    with pytest.raises(ValueError, match="padding_mode"):
        kernel_layer(module, qp)
    with pytest.raises(TypeError):
        kernel_layer(nn.ReLU(), qp)


def test_make_layer_dispatch_and_timing():
    module, x, qp = _layer("conv_bias", 8)
    fp32 = make_layer(module, "fp32", None, "cpu")
    # the timing copy runs channels_last: another summation order, float32 rounding apart
    assert type(fp32) is nn.Conv2d and torch.allclose(fp32(x), module(x), rtol=1e-5, atol=1e-5)
    assert make_layer(module, "int8", qp, "cpu")(x).dtype == torch.float32
    with pytest.raises(ValueError, match="cuda"):
        make_layer(module, "int8", qp, "cuda")
    with pytest.raises(ValueError, match="bits=4"):
        make_layer(module, "int4", qp, "cpu")
    t = time_module(fp32, x, warmup=1, repeats=5)
    assert set(t) == {"median_ms", "p10_ms", "p90_ms", "repeats", "warmup"}
    assert t["repeats"] == 5 and 0 < t["p10_ms"] <= t["median_ms"] <= t["p90_ms"]


# -- the twin runs on the quantizer stack: bit-identical to torch.ao's fake-quant ops it used before ----------

_EPS = float(torch.finfo(torch.float32).eps)


def _ref_affine(lo, hi, levels):
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = max((hi - lo) / levels, _EPS)
    return scale, int(min(max(round(-lo / scale), 0), levels))


def _ref_simulated(module, qp, x):
    """The twin before the refactor: torch.fake_quantize_per_tensor/per_channel_affine, max|w| per channel."""
    x = torch.fake_quantize_per_tensor_affine(x, qp.in_scale, qp.in_zero_point, 0, qp.in_qmax)
    w = module.weight
    amax = w.detach().float().abs().reshape(w.shape[0], -1).amax(dim=1)
    scale = torch.clamp(amax / qp.w_qmax, min=_EPS)
    zp = torch.zeros(w.shape[0], dtype=torch.int32)
    w = torch.fake_quantize_per_channel_affine(w, scale, zp, 0, -qp.w_qmax, qp.w_qmax)
    if isinstance(module, nn.Conv2d):
        y = torch.nn.functional.conv2d(x, w, module.bias, module.stride, module.padding, module.dilation, module.groups)
    else:
        y = torch.nn.functional.linear(x, w, module.bias)
    return torch.fake_quantize_per_tensor_affine(y, qp.out_scale, qp.out_zero_point, 0, 255)


@pytest.mark.parametrize("bits", [8, 7, 6, 5, 4, 3, 2])
@pytest.mark.parametrize("case", list(CASES))
def test_simulation_is_bit_identical_to_torch_ao_fake_quant(case, bits):
    module, x, _ = _layer(case, bits)
    with torch.no_grad():
        y = module(x)
    qp = LayerQParams.from_ranges(bits, x.min() * 0.8, x.max() * 0.9, y.min() * 0.7, y.max() * 0.8)
    assert (qp.in_scale, qp.in_zero_point) == _ref_affine(x.min() * 0.8, x.max() * 0.9, 2 ** bits - 1)
    assert (qp.out_scale, qp.out_zero_point) == _ref_affine(y.min() * 0.7, y.max() * 0.8, 255)
    outs, grads = [], []
    for run in (lambda xx: simulate_layer(module, qp)(xx), lambda xx: _ref_simulated(module, qp, xx)):
        module.zero_grad(set_to_none=True)
        xx = (x * 1.3).requires_grad_(True)
        out = run(xx)
        (out * torch.linspace(-1, 1, out.numel()).view(out.shape)).sum().backward()
        outs.append(out.detach())
        grads.append([xx.grad] + [p.grad for p in module.parameters()])
    assert torch.equal(outs[0], outs[1])
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_stack_fake_quant_equals_torch_ops_on_ties_and_random_values():
    from qrobust.quant.fake_quant import fake_quantize

    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        scale = float(torch.rand((), generator=g) * 0.2 + 1e-3)
        zp = int(torch.randint(0, 256, (), generator=g))
        k = torch.arange(-300, 300, dtype=torch.float32)
        x = torch.cat([(k + 0.5) * scale, (k - zp + 0.5) * scale, torch.randn(5000, generator=g) * 3]).requires_grad_(True)
        ours = fake_quantize(x, torch.tensor(scale), torch.tensor(float(zp)), 0, 255)
        xr = x.detach().clone().requires_grad_(True)
        ref = torch.fake_quantize_per_tensor_affine(xr, scale, zp, 0, 255)
        assert torch.equal(ours, ref)
        ours.sum().backward(), ref.sum().backward()
        assert torch.equal(x.grad, xr.grad)
    w = torch.randn(16, 8, 3, 3, generator=g) * torch.logspace(-3, 1, 16).view(-1, 1, 1, 1)
    for bits in (2, 4, 8):
        assert torch.equal(fake_quant_weight(w, bits), _ref_simulated_weight(w, bits))


def _ref_simulated_weight(w, bits):
    qmax = 2 ** (bits - 1) - 1
    scale = torch.clamp(w.abs().reshape(w.shape[0], -1).amax(dim=1) / qmax, min=_EPS)
    return torch.fake_quantize_per_channel_affine(w, scale, torch.zeros(w.shape[0], dtype=torch.int32), 0, -qmax, qmax)


def test_the_kernel_stores_the_twins_weight_grid_and_input_grid():
    for case in CASES:
        for bits in (8, 4, 2):
            module, x, qp = _layer(case, bits)
            kern = kernel_layer(module, qp)
            assert torch.equal(kern.weight().dequantize(), simulate_layer(module, qp).fake_weight().detach())
            want = torch.quantize_per_tensor(torch.fake_quantize_per_tensor_affine(x, qp.in_scale, qp.in_zero_point, 0, qp.in_qmax),
                                             qp.in_scale, qp.in_zero_point, torch.quint8)
            assert torch.equal(kern.quantize_input(x).int_repr(), want.int_repr())
