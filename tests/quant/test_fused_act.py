"""ReLU6 and DQ's activation grid as one function (quant/fused.py hardtanh_quantize): the same values and
gradients as F.relu6 followed by quantize_range, bit for bit, and taken only where that holds."""
import copy

import pytest
import torch
import torch.nn.functional as F

from qrobust.models import create_model
from qrobust.quant import QuantConfig, quantize_
from qrobust.quant.fake_quant import gradient_path, quantize_range
from qrobust.quant.fused import hardtanh_quantize, hardtanh_quantize_bpda
from qrobust.quant.layers import QuantAct
from qrobust.quant.quantizers import make_quantizer
from qrobust.quant.spec import QuantizerSpec


def _bits(t):
    return t.contiguous().view(torch.int32)


def _hard_inputs(bits: int, seed: int = 0) -> torch.Tensor:
    """Every rounding threshold of the grid and its float neighbours, the grid's levels, signed zeros,
    the clamp's ends and beyond, infinities, NaN, and random values (a channels_last 4-d tensor)."""
    levels = 2 ** bits - 1
    step = 6.0 / levels
    k = torch.arange(-2, levels + 3, dtype=torch.float32)
    points = torch.cat([k * step, (k + 0.5) * step])
    near = torch.cat([points, torch.nextafter(points, points + 1), torch.nextafter(points, points - 1)])
    special = torch.tensor([0.0, -0.0, 6.0, -6.0, 6.0000005, -1e-30, 1e-30, float("inf"), float("-inf"), float("nan")])
    g = torch.Generator().manual_seed(seed)
    rand = torch.randn(2000, generator=g) * 4 + 3
    flat = torch.cat([near, special, rand])
    n = 4 * 6 * 10 * 10
    flat = flat.repeat(n // flat.numel() + 1)[:n][torch.randperm(n, generator=g)]
    return flat.view(4, 10, 10, 6).permute(0, 3, 1, 2)  # (4, 6, 10, 10) in channels_last


def _unfused(x, bits):
    return quantize_range(F.relu6(x), 0.0, 6.0, bits)


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 8])
def test_values_and_gradients_are_the_unfused_ops(bits):
    x = _hard_inputs(bits, seed=bits)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    grad.view(-1)[::97] = -0.0
    grad.view(-1)[::89] = float("inf")
    with torch.no_grad():
        assert torch.equal(_bits(hardtanh_quantize(x, 0.0, 6.0, bits)), _bits(_unfused(x, bits)))
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = hardtanh_quantize(a, 0.0, 6.0, bits), _unfused(b, bits)
    assert torch.equal(_bits(ya.detach()), _bits(yb.detach()))
    (ga,), (gb,) = torch.autograd.grad(ya, a, grad), torch.autograd.grad(yb, b, grad)
    assert torch.equal(_bits(ga), _bits(gb))
    assert torch.isnan(x).any() and (ga == 0).any() and (ga == grad).any()  # the cases were there
    finite = x.nan_to_num(nan=3.0, posinf=float("inf"), neginf=float("-inf"))  # no NaN, infinities kept
    a, b = finite.clone().requires_grad_(True), finite.clone().requires_grad_(True)
    (ga,), (gb,) = (torch.autograd.grad(hardtanh_quantize(a, 0.0, 6.0, bits), a, grad),
                    torch.autograd.grad(_unfused(b, bits), b, grad))
    assert torch.equal(_bits(ga), _bits(gb)) and torch.isinf(finite).any()


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
@pytest.mark.parametrize("temperature", [0.25, 1.0, 3.7])
@pytest.mark.parametrize("x_layout,grad_layout", [("cl", "cl"), ("cl", "c"), ("c", "cl"), ("c", "c")])
def test_bpda_values_and_gradients_are_the_unfused_ops(bits, temperature, x_layout, grad_layout):
    """Under gradient_path("bpda"): the grid's values and the soft staircase's gradient, bit for bit, NaN
    inputs included (there the unfused gradient is 0 or NaN by where the element falls in
    hardtanh_backward's vector loop, so both operands' memory layouts are varied)."""
    fmt = {"cl": torch.channels_last, "c": torch.contiguous_format}
    x = _hard_inputs(bits, seed=bits).contiguous(memory_format=fmt[x_layout])
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    grad.view(-1)[::97] = -0.0
    grad.view(-1)[::89] = float("inf")
    grad = grad.contiguous(memory_format=fmt[grad_layout])
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya = hardtanh_quantize_bpda(a, 0.0, 6.0, bits, temperature)
    with gradient_path("bpda", temperature):
        yb = _unfused(b, bits)
    assert torch.equal(_bits(ya.detach()), _bits(yb.detach()))
    (ga,), (gb,) = torch.autograd.grad(ya, a, grad), torch.autograd.grad(yb, b, grad)
    assert torch.equal(_bits(ga), _bits(gb))
    with gradient_path("ste"):
        (gs,) = torch.autograd.grad(_unfused(b, bits), b, grad)
    assert not torch.equal(ga.nan_to_num(), gs.nan_to_num())  # the soft staircase's gradient, not the STE's


def test_bpda_rejects_a_bad_temperature():
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    for t in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            hardtanh_quantize_bpda(x, 0.0, 6.0, 2, t)


def test_a_shifted_range_matches_too():
    """lo != 0 (a hardtanh on [-1, 1]): the shift by lo is kept."""
    x = torch.randn(3, 5, 7, 7) * 1.5
    with torch.no_grad():
        ours = hardtanh_quantize(x, -1.0, 1.0, 3)
        ref = quantize_range(F.hardtanh(x, -1.0, 1.0), -1.0, 1.0, 3)
    assert torch.equal(_bits(ours), _bits(ref))


def _spy(monkeypatch, name="hardtanh_quantize"):
    calls = []
    import qrobust.quant.layers as layers

    real = getattr(layers, name)
    monkeypatch.setattr(layers, name, lambda *a: calls.append(1) or real(*a))
    return calls


def test_the_fused_path_is_taken_only_where_it_is_exact(monkeypatch):
    calls, bpda = _spy(monkeypatch), _spy(monkeypatch, "hardtanh_quantize_bpda")
    act = QuantAct("relu6", bits=2)
    x = torch.randn(2, 3, 4, 4) * 4
    act(x)
    act(x.requires_grad_())
    assert len(calls) == 2
    with gradient_path("bpda"):
        act(x)
    assert len(calls) == 2 and len(bpda) == 1
    for path in ("smooth", "float"):  # their forwards differ: the quantizer runs
        with gradient_path(path):
            act(x)
    act(x.double())
    QuantAct("relu1", bits=2)(x)
    QuantAct("relu6")(x)  # not quantized
    h = act.quant.register_forward_hook(lambda *a: None)  # someone reads the quantizer's output
    act(x)
    h.remove()
    h = torch.nn.modules.module.register_module_forward_hook(lambda *a: None)  # one on every module
    act(x)
    h.remove()
    other = QuantAct("relu6", bits=2)
    other.quant = make_quantizer(QuantizerSpec(bits=2, symmetric=False, fixed_range=(0.0, 4.0)), "act")
    other(x)  # a grid that is not the clamp's range
    with gradient_path("bpda"):
        other(x)
        act(x.double())
    assert len(calls) == 2 and len(bpda) == 1


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("path", ["ste", "bpda"])
def test_model_logits_and_gradients_bit_identical_with_and_without_fusion(bits, path, monkeypatch):
    torch.manual_seed(0)
    model = create_model("small_cnn", num_classes=10, in_channels=1, width=8, hidden=32, mean=[0.13], std=[0.31])
    quantize_(model, QuantConfig(act_bits=bits))
    x, y = torch.rand(40, 1, 28, 28), torch.randint(0, 10, (40,))
    start = copy.deepcopy(model.state_dict())

    def run():
        model.load_state_dict(start)  # the training forward moves batch-norm statistics
        model.zero_grad(set_to_none=True)
        model.train()
        F.cross_entropy(model(x), y).backward()  # a training step's parameter gradients
        params = [p.grad.clone() for p in model.parameters()]
        model.eval()
        xx = x.clone().requires_grad_(True)
        with gradient_path(path, 0.25):
            logits = model(xx)
            (gx,) = torch.autograd.grad(F.cross_entropy(logits, y), xx)  # an attack's input gradient
        with torch.no_grad():
            fast = model(x)
        return [logits.detach(), gx, fast, *params]

    calls, bpda = _spy(monkeypatch), _spy(monkeypatch, "hardtanh_quantize_bpda")
    fused = run()
    assert calls and (bool(bpda) == (path == "bpda"))
    monkeypatch.setattr(QuantAct, "_fused", lambda self, x: False)
    plain = run()
    assert all(torch.equal(_bits(a), _bits(b)) for a, b in zip(fused, plain))


def test_the_soft_staircase_gradient_is_computed_not_remembered():
    """soft_round_grad once sat under an lru_cache keyed by the tensor object: a tensor edited in place got the
    stale gradient back, and every cached batch stayed in memory (up to 1024 of them)."""
    from qrobust.quant.fused import soft_round_grad

    v = torch.linspace(0, 3, 101)
    first = soft_round_grad(v, 0.25).clone()
    v.add_(0.25)
    assert not torch.equal(soft_round_grad(v, 0.25), first)
    assert not hasattr(soft_round_grad, "cache_info")
