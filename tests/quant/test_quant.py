import pytest
import torch

from qrobust.quant import (
    ACT_RANGES,
    QConv2d,
    QLinear,
    QuantAct,
    QuantConfig,
    fake_quantize,
    quantize_,
    quantize_range,
    quantize_weight_symmetric,
)

BOUNDED = [k for k, r in ACT_RANGES.items() if r is not None]


@pytest.mark.parametrize("kind", BOUNDED)
@pytest.mark.parametrize("bits", range(1, 9))
def test_activation_outputs_lie_on_the_k_bit_grid(kind, bits):
    lo, hi = ACT_RANGES[kind]
    # dense inside the range (256 levels at 8 bits) and wide enough for tanh to saturate
    x = torch.cat([torch.linspace(lo - 1, hi + 1, 20001), torch.linspace(-12, 12, 20001)])
    y = QuantAct(kind, bits)(x)
    levels = 2 ** bits - 1
    grid = lo + torch.arange(levels + 1) * (hi - lo) / levels
    dist = (y[:, None] - grid[None, :]).abs().min(dim=1).values
    assert dist.max() < 1e-5
    # every level is reached by a dense sweep, and the ends are exactly lo and hi
    assert len(torch.unique(torch.round(y * 1e4))) == levels + 1
    assert y.min().item() == pytest.approx(lo) and y.max().item() == pytest.approx(hi)


def test_one_bit_relu6_is_a_threshold_at_three():
    y = QuantAct("relu6", 1)(torch.tensor([-1.0, 2.9, 3.1, 7.0]))
    assert y.tolist() == [0.0, 0.0, 6.0, 6.0]


def test_float_activation_is_untouched():
    x = torch.randn(100) * 4
    assert torch.equal(QuantAct("relu6", None)(x), torch.clamp(x, 0, 6))


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_ste_gradient_is_identity_inside_range_and_zero_outside(bits):
    x = torch.tensor([-2.0, -0.01, 0.3, 1.7, 3.2, 5.9, 6.01, 9.0], requires_grad=True)
    QuantAct("relu6", bits)(x).sum().backward()
    expected = ((x > 0) & (x < 6)).float()
    assert torch.equal(x.grad, expected)


@pytest.mark.parametrize("scale,zp,qmin,qmax", [(0.05, 0, 0, 255), (0.1, 10, 0, 255), (0.02, 0, -128, 127)])
def test_fake_quantize_matches_torch_reference(scale, zp, qmin, qmax):
    x = (torch.randn(1000) * 4).requires_grad_(True)
    ours = fake_quantize(x, scale, zp, qmin, qmax)
    ref_x = x.detach().clone().requires_grad_(True)
    ref = torch.fake_quantize_per_tensor_affine(ref_x, scale, zp, qmin, qmax)
    assert torch.allclose(ours, ref, atol=1e-6)
    ours.sum().backward()
    ref.sum().backward()
    assert torch.equal(x.grad, ref_x.grad)


def test_quantize_range_is_idempotent():
    x = torch.rand(500) * 6
    once = quantize_range(x, 0.0, 6.0, 3)
    assert torch.equal(quantize_range(once, 0.0, 6.0, 3), once)


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_weight_quantizer_levels_and_gradient(bits):
    w = torch.randn(64, 32, requires_grad=True)
    q = quantize_weight_symmetric(w, bits)
    n_levels = 2 if bits == 1 else 2 ** bits - 1
    assert len(torch.unique(q.detach())) <= n_levels
    assert (q.detach().abs().max() - w.detach().abs().max()).abs() < 1e-5 or bits == 1
    q.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))  # max-abs scale: nothing is clipped


@pytest.mark.parametrize("bad", [0, 17, 33, -1, 2.5, True, "4"])
def test_quant_config_rejects_bad_bits(bad):
    with pytest.raises(ValueError, match="act_bits"):
        QuantConfig(act_bits=bad)


def test_quantize_sets_every_layer():
    net = torch.nn.Sequential(QConv2d(1, 2, 3), QuantAct("relu6"), torch.nn.Flatten(), QLinear(8, 2), QuantAct("tanh"))
    quantize_(net, QuantConfig(act_bits=3, weight_bits=4))
    assert [m.bits for m in net if isinstance(m, QuantAct)] == [3, 3]
    assert [m.weight_bits for m in net if isinstance(m, (QConv2d, QLinear))] == [4, 4]
    quantize_(net, QuantConfig())
    assert all(getattr(m, "bits", None) is None and getattr(m, "weight_bits", None) is None for m in net)


def test_relu_cannot_be_quantized():
    with pytest.raises(ValueError, match="unbounded"):
        QuantAct("relu", 4)


# -- DQ's activation quantizer is the stack's (a fixed-range QuantizerSpec): bit-identical to its formula ----

@pytest.mark.parametrize("kind", BOUNDED)
@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8, 16])
def test_quant_act_is_bit_identical_to_dqs_formula(kind, bits):
    lo, hi = ACT_RANGES[kind]
    g = torch.Generator().manual_seed(bits)
    x = torch.cat([torch.randn(20000, generator=g) * 4, torch.linspace(lo - 1, hi + 1, 4001)]).requires_grad_(True)
    act = QuantAct(kind, bits)
    y = act(x)
    up = torch.linspace(-1, 2, len(x))
    (y * up).sum().backward()
    # the formula before the refactor: quantize_range on the activation's output, in Python-float scale
    xr = x.detach().clone().requires_grad_(True)
    a = {"relu6": lambda t: torch.nn.functional.relu6(t), "relu1": lambda t: torch.clamp(t, 0.0, 1.0),
         "tanh": torch.tanh}[kind](xr)
    levels = 2 ** bits - 1
    scale = (hi - lo) / levels
    with torch.no_grad():
        q = torch.round((a - lo) * (1.0 / scale))
        inside = (q >= 0) & (q <= levels)
        want = (torch.clamp(q, 0, levels) - 0) * scale + lo
    (a * (up * inside)).sum().backward()
    assert torch.equal(y.detach().view(torch.int32), want.view(torch.int32))
    assert torch.equal(x.grad, xr.grad)
    assert act.quant.spec.fixed_range == (lo, hi) and not act.state_dict()  # no state: old checkpoints load as before


def test_stochastic_and_floor_rounding_are_spec_options_of_the_same_grid():
    from qrobust.quant import QuantizerSpec, make_quantizer

    x = torch.rand(100000) * 6
    near = make_quantizer(QuantizerSpec(bits=3, symmetric=False, fixed_range=(0.0, 6.0)), "act")(x)
    floor = make_quantizer(QuantizerSpec(bits=3, symmetric=False, fixed_range=(0.0, 6.0), rounding="floor"), "act")(x)
    stoch = make_quantizer(QuantizerSpec(bits=3, symmetric=False, fixed_range=(0.0, 6.0), rounding="stochastic"), "act")(x)
    grid = torch.arange(8) * 6 / 7
    for y in (near, floor, stoch):
        assert (y[:, None] - grid[None]).abs().min(dim=1).values.max() < 1e-5
    assert torch.equal(near, quantize_range(x, 0.0, 6.0, 3))
    assert (floor <= x + 1e-6).all() and ((x - floor) < 6 / 7 + 1e-6).all()
    assert abs((stoch - x).mean().item()) < 3e-3 < abs((floor - x).mean().item())  # unbiased, floor is not


def _grid_case(case: int, float_zp: int):
    """Case 0-1: a tensor scale and zero point; 2-3: a Python-float scale (6/31: its float32 inverse is not
    the fused kernel's) and `float_zp`; 4-5: per channel on dim 0 or 1. Ties and both range ends first."""
    g = torch.Generator().manual_seed(case)
    shape = [(8, 4, 5, 5), (6, 9), (3, 4, 2, 2)][case % 3]
    x = torch.randn(shape, generator=g) * 3
    if case < 2:
        scale, zp, qmin, qmax = torch.rand((), generator=g) * 0.4 + 0.01, torch.tensor(2.0), 0, 7
    elif case < 4:
        scale, zp, qmin, qmax = 6.0 / 15 if case == 2 else 6.0 / 31, float_zp, 0, 15
    else:
        axis = case - 4
        n = shape[axis]
        scale = (torch.rand(n, generator=g) * 0.4 + 0.01).reshape((n,) + (1,) * (len(shape) - 1 - axis))
        zp, qmin, qmax = torch.zeros_like(scale), -7, 7
    s0 = scale if not isinstance(scale, torch.Tensor) else scale.reshape(-1)[0]
    x.view(-1)[:12] = (torch.arange(12) - 6 + 0.5) * s0
    return g, shape, x, scale, zp, qmin, qmax


@pytest.mark.parametrize("case", range(6))
def test_the_in_place_grid_gives_the_out_of_place_values_and_gradient(case):
    """fake_quantize without a gradient (in place, no mask) and _FakeQuantize's in-place forward give the
    out-of-place arithmetic's values bit for bit, and the same gradient: per tensor (tensor or float
    scale, a zero point), per channel on dim 0 or 1, ties and both range ends included."""
    from qrobust.quant.fake_quant import _FakeQuantize, _in_place_ok, fake_quantize

    g, shape, x, scale, zp, qmin, qmax = _grid_case(case, float_zp=1)
    want = (torch.clamp(torch.round(x * (1.0 / scale)) + zp, qmin, qmax) - zp) * scale
    assert _in_place_ok(x, scale, zp)
    with torch.no_grad():
        assert torch.equal(fake_quantize(x, scale, zp, qmin, qmax).view(torch.int32), want.view(torch.int32))
    assert torch.equal(fake_quantize(x, scale, zp, qmin, qmax).view(torch.int32), want.view(torch.int32))
    x.requires_grad_(True)
    y = _FakeQuantize.apply(x, scale, zp, qmin, qmax)
    assert torch.equal(y.detach().view(torch.int32), want.view(torch.int32))
    gy = torch.randn(shape, generator=g)
    (gx,) = torch.autograd.grad(y, x, gy)
    q = torch.round(x.detach() * (1.0 / scale)) + zp
    assert torch.equal(gx, gy * ((q >= qmin) & (q <= qmax)))
    assert not _in_place_ok(x.double(), scale, zp)
    assert not _in_place_ok(x[:1], torch.ones((2,) + (1,) * (len(shape) - 1)), 0)  # would broadcast x up


@pytest.mark.parametrize("case", range(6))
def test_the_fused_kernel_gives_the_element_wise_quantizers_exact_values_and_gradient(case):
    """fake_quant._fused (torch's fused kernels, used on CUDA) against _FakeQuantize: per tensor with a
    tensor or Python-float scale, per channel on dim 0 or 1, ties and both range ends included; a
    float scale whose float32 inverse differs from the kernel's is left to the element-wise ops."""
    from qrobust.quant.fake_quant import _FakeQuantize
    from qrobust.quant.fused import _fused, _same_inverse

    g, shape, x, scale, zp, qmin, qmax = _grid_case(case, float_zp=0)
    x.requires_grad_(True)
    fused = _fused(x, scale, zp, qmin, qmax)
    if case == 3:  # 6/31: float32(1/s) != 1.0f/float32(s)
        assert not _same_inverse(scale) and fused is None
        return
    ref = _FakeQuantize.apply(x, scale, zp, qmin, qmax)
    gy = torch.randn(shape, generator=g)
    (g_fused,), (g_ref,) = torch.autograd.grad(fused, x, gy), torch.autograd.grad(ref, x, gy)
    assert torch.equal(fused, ref) and torch.equal(g_fused, g_ref)
    assert (g_ref == 0).any() and (g_ref != 0).any()  # the mask cut something
