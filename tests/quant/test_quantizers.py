"""Quantizer and calibrator registries, BN folding and PTQ."""
import pytest
import torch
from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver

from qrobust.checkpoint import load_checkpoint, save_checkpoint
from qrobust.models import create_model
from qrobust.quant import CALIBRATORS, QUANTIZERS, QuantConfig, QuantizerSpec, calibrate, make_quantizer, qparams, quant_layers, quantize_
from qrobust.quant.graph import conv_bn_pairs
from qrobust.quant.ptq import fold_bn, ptq


def _roles(name):
    return QUANTIZERS.get(name).role_allowed


SYMMETRIC = {"uniform": (True, False), "pwlq": (True,), "lsq": (True, False)}  # others (pact, dorefa) asymmetric only

CASES = [(q, role, bits, sym) for q in QUANTIZERS.names() for role in _roles(q)
         for bits in (2, 3, 4, 8) for sym in SYMMETRIC.get(q, (False,))
         if not (role == "weight" and not sym and QUANTIZERS.get(q).weights_signed_only)]


def _quantizer(name, role, bits, sym, lo=-1.5, hi=2.5):
    q = make_quantizer(QuantizerSpec(quantizer=name, bits=bits, symmetric=sym), role)
    q.set_range(torch.tensor([lo]), torch.tensor([hi]))
    return q.eval()


@pytest.mark.parametrize("name,role,bits,sym", CASES)
def test_outputs_lie_on_a_grid_of_at_most_2_to_the_bits_levels(name, role, bits, sym):
    q = _quantizer(name, role, bits, sym)
    x = torch.linspace(-4, 4, 40001)
    y = q(x)  # weights take their range from x itself, activations keep [-1.5, 2.5]
    levels = torch.unique(y)
    assert len(levels) <= 2 ** bits
    assert len(levels) >= 2 ** bits - 2  # a dense sweep reaches (nearly) every level
    if name == "dorefa":
        return _check_dorefa_grid(q, x, y, levels, bits)
    if not q.uniform_grid:
        return _check_piecewise_grid(q, x, y, levels, bits)
    steps = levels[1:] - levels[:-1]
    assert torch.allclose(steps, steps[0].expand_as(steps), rtol=1e-4, atol=1e-6)  # uniform spacing
    assert 0.0 in levels  # zero (padding, ReLU's zeros) is exact on every grid
    scale = steps[0]
    inside = (x >= levels[0]) & (x <= levels[-1])
    assert ((y - x)[inside].abs() <= scale / 2 + 1e-5).all()  # round to nearest inside the grid


def _check_dorefa_grid(q, x, y, levels, bits):
    """DoReFa: 2^bits evenly spaced levels, [-1, 1] for weights (no zero among them), [0, 1] for
    activations; each value goes to the level nearest its transform (tanh-normalised weights, clipped
    activations)."""
    assert len(levels) == 2 ** bits and torch.allclose(levels, q.levels(), atol=1e-6)
    assert (0.0 in levels) == (q.role == "act")
    if q.role == "weight":
        t = torch.tanh(x)
        r = 2 * (t / (2 * t.abs().max()) + 0.5) - 1  # the transform on [-1, 1], before rounding
    else:
        r = x.clamp(0, 1)
    step = levels[1] - levels[0]
    assert ((y - r).abs() <= step / 2 + 1e-5).all()


def _check_piecewise_grid(q, x, y, levels, bits):
    """PWLQ: uniform steps inside the centre [-p, p] and inside each tail [p, m], nearest level per region."""
    m, p = q.hi.item(), q.breakpoint.item()
    assert 0 < p < m and 0.0 in levels
    assert torch.allclose(levels, q.levels(), atol=1e-6)
    assert torch.allclose(levels, -levels.flip(0))  # symmetric
    centre = levels[levels.abs() <= p + 1e-6]
    tail = levels[levels >= p - 1e-6]  # p itself starts the tail's grid (a level from 3 bits on)
    for piece in (centre, tail):
        steps = piece[1:] - piece[:-1]
        if len(steps):
            assert torch.allclose(steps, steps[0].expand_as(steps), rtol=1e-4, atol=1e-6)
    if bits >= 3:
        assert len(centre) == 2 ** (bits - 1) - 1 and len(tail) == 2 ** (bits - 2) + 1
    # every value goes to the nearest level of its own region
    in_centre = x.abs() <= p
    own = torch.where(in_centre[:, None], levels.abs()[None] <= p + 1e-6, levels.abs()[None] >= p - 1e-6)
    dist = torch.where(own, (x[:, None] - levels[None]).abs(), torch.inf).min(dim=1).values
    assert ((y - x).abs() <= dist + 1e-5).all()


@pytest.mark.parametrize("name,role,bits,sym", CASES)
def test_straight_through_gradient_is_one_inside_the_range_zero_outside(name, role, bits, sym):
    q = _quantizer(name, role, bits, sym).train()
    x = torch.linspace(-4, 4, 801, requires_grad=True)
    q(x).sum().backward()
    # weights took their range from x itself; a rounded zero point can still push an end off the grid
    if name == "dorefa" and role == "weight":
        return  # its gradient runs through tanh: test_dorefa_weight_gradient_is_the_transforms
    if name == "pact":
        lo, hi = 0.0, q.alpha.item()
    elif name == "lsq":  # the paper's STE: 1 strictly inside [-Qn s, Qp s], no half step beyond
        lo, hi = -q.qn * q.step.item(), q.qp * q.step.item()
    elif name == "dorefa":
        lo, hi = 0.0, 1.0
    elif not q.uniform_grid:  # pwlq: identity on [-m, m]
        lo, hi = q.lo.item(), q.hi.item()
    else:
        scale, zp, qmin, qmax = q.grid(x)
        lo, hi = float((qmin - zp - 0.5) * scale), float((qmax - zp + 0.5) * scale)
    inside = (x.detach() > lo + 1e-4) & (x.detach() < hi - 1e-4)
    outside = (x.detach() < lo - 1e-4) | (x.detach() > hi + 1e-4)
    assert torch.all(x.grad[inside] == 1) and torch.all(x.grad[outside] == 0)
    assert inside.float().mean() > (0.1 if name == "dorefa" else 0.3)  # a real part of the sweep ([0, 1] of [-4, 4] for dorefa)


def test_pact_alpha_gradient_counts_inputs_above_alpha():
    """PACT eq. 3: dL/dalpha = sum of upstream gradients where x >= alpha."""
    q = _quantizer("pact", "act", 4, False, lo=0.0, hi=2.0).train()
    x = torch.tensor([-1.0, 0.5, 1.9, 2.0, 3.0, 7.0])
    up = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    (q(x) * up).sum().backward()
    assert q.alpha.grad.item() == pytest.approx(4.0 + 5.0 + 6.0)


@pytest.mark.parametrize("sym", [True, False])
def test_8_bit_output_equals_torch_ao_fake_quantize(sym):
    torch.manual_seed(0)
    x = torch.randn(64, 32) * 3
    q = make_quantizer(QuantizerSpec(bits=8, symmetric=sym), "act").eval()
    q.set_range(x.min().reshape(1), x.max().reshape(1))
    scale, zp, qmin, qmax = q.grid(x)
    ref = FakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=qmin, quant_max=qmax,
                       dtype=torch.qint8 if sym else torch.quint8,
                       qscheme=torch.per_tensor_symmetric if sym else torch.per_tensor_affine)
    ref.disable_observer()
    ref.scale = torch.tensor([float(scale)])
    ref.zero_point = torch.tensor([int(zp)], dtype=torch.int32)
    assert torch.equal(q(x), ref(x))


def test_8_bit_per_channel_weights_equal_torch_ao_fake_quantize():
    torch.manual_seed(0)
    w = torch.randn(16, 8, 3, 3) * torch.linspace(0.1, 2, 16).view(-1, 1, 1, 1)
    q = make_quantizer(QuantizerSpec(bits=8, per_channel=True), "weight", channels=16).eval()
    y = q(w)
    scale, zp, qmin, qmax = q.grid(w)
    ref = FakeQuantize(observer=MovingAveragePerChannelMinMaxObserver, quant_min=qmin, quant_max=qmax,
                       dtype=torch.qint8, qscheme=torch.per_channel_symmetric, ch_axis=0)
    ref.disable_observer()
    ref.scale = scale.flatten().clone()
    ref.zero_point = zp.flatten().to(torch.int32)
    assert torch.equal(y, ref(w))


def test_per_channel_weights_have_less_error_than_per_tensor():
    torch.manual_seed(0)
    w = torch.randn(32, 16, 3, 3) * torch.logspace(-2, 0, 32).view(-1, 1, 1, 1)
    errs = {}
    for pc in (False, True):
        q = make_quantizer(QuantizerSpec(bits=4, per_channel=pc), "weight", channels=32).eval()
        errs[pc] = (q(w) - w).pow(2).mean().item()
    assert errs[True] < 0.5 * errs[False]


# -- PWLQ (Fang et al. 2020) ---------------------------------------------------------

def _weights(dist, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dist == "gauss":
        w = torch.randn(*shape, generator=g)
    else:  # Laplace by inverse CDF, from the same generator
        u = torch.rand(*shape, generator=g) - 0.5
        w = -torch.sign(u) * torch.log1p(-2 * u.abs())
    # channels of different scales, as in trained layers (what per-channel ranges are for)
    return 0.05 * w * torch.logspace(-1, 0, shape[0]).view(-1, *[1] * (len(shape) - 1))


@pytest.mark.parametrize("dist", ["gauss", "laplace"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_pwlq_has_less_error_than_uniform_symmetric_at_4_bits(dist, per_channel):
    w = _weights(dist, (64, 256, 3, 3))
    errs = {}
    for name in ("uniform", "pwlq"):
        q = make_quantizer(QuantizerSpec(quantizer=name, bits=4, per_channel=per_channel), "weight", channels=64)
        errs[name] = (q.eval()(w) - w).pow(2).mean().item()
    assert errs["pwlq"] < 0.8 * errs["uniform"], errs


def test_pwlq_breakpoint_search_finds_the_least_error_split_inside_the_range():
    from qrobust.quant.pwlq import pwlq_values, search_breakpoint

    w = _weights("laplace", (8, 2000))
    m = w.abs().amax(dim=1)
    p = search_breakpoint(w, m, bits=4)
    assert p.shape == (8,) and torch.all(p > 0) and torch.all(p < m)
    assert torch.all(p / m < 0.5)  # a peaked distribution wants a narrow dense centre
    err = lambda r: (pwlq_values(w, m[:, None], r * m[:, None], 4) - w).pow(2).mean(dim=1)  # noqa: E731
    best = err(p[:, None] / m[:, None])
    for r in (0.1, 0.3, 0.5, 0.9):
        assert torch.all(best <= err(torch.tensor(r)) + 1e-12)
    q = make_quantizer(QuantizerSpec(quantizer="pwlq", bits=4, per_channel=True), "weight", channels=8)
    q(w)
    assert torch.allclose(q.breakpoint, p) and torch.allclose(q.hi, m)


def test_pwlq_passes_no_gradient_beyond_a_clipped_range():
    q = make_quantizer(QuantizerSpec(quantizer="pwlq", bits=4, calibrator="percentile", percentile=90.0), "weight")
    x = torch.linspace(-4, 4, 801, requires_grad=True)
    y = q(x)
    y.sum().backward()
    m = q.hi.item()
    assert m == pytest.approx(3.6, abs=0.02) and y.abs().max().item() == pytest.approx(m)
    inside = x.detach().abs() <= m
    assert torch.all(x.grad[inside] == 1) and torch.all(x.grad[~inside] == 0) and (~inside).any()


def test_pwlq_weights_train_in_a_model_and_survive_a_checkpoint(tmp_path):
    from qrobust.quant.quantizers import PWLQuantizer

    torch.manual_seed(0)
    spec_model = {"name": "small_cnn", "num_classes": 10, "in_channels": 1, "width": 8, "hidden": 16}
    qcfg = QuantConfig(weight_quant=QuantizerSpec(quantizer="pwlq", bits=4, per_channel=True))
    m = quantize_(create_model(**spec_model), qcfg)
    assert all(isinstance(layer.wq, PWLQuantizer) for _, layer in quant_layers(m))
    x = torch.rand(3, 1, 28, 28)
    out = m.train()(x)
    out.square().sum().backward()
    assert all(layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0 for _, layer in quant_layers(m))
    conv = quant_layers(m)[1][1]
    assert len(torch.unique(conv.wq(conv.weight)[0])) <= 15  # 4-bit per-channel grid
    m.eval()
    save_checkpoint(tmp_path / "c.pt", m, {"model": spec_model, "quant": qcfg.to_dict()})
    m2, _ = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(m2(x), m(x))


def test_pwlq_refuses_activations_and_asymmetric_grids():
    with pytest.raises(ValueError, match="quantizer 'pwlq' cannot quantize acts; allowed for: weight"):
        make_quantizer(QuantizerSpec(quantizer="pwlq"), "act")
    with pytest.raises(ValueError, match="quantizer 'pwlq' cannot quantize acts"):
        quantize_(create_model("small_cnn", num_classes=10, in_channels=1, width=4, hidden=8),
                  QuantConfig(act_quant=QuantizerSpec(quantizer="pwlq")))
    with pytest.raises(ValueError, match="'pwlq' is symmetric by construction"):
        make_quantizer(QuantizerSpec(quantizer="pwlq", symmetric=False), "weight")


# -- calibrators -----------------------------------------------------------------

@pytest.mark.parametrize("name", CALIBRATORS.names())
@pytest.mark.parametrize("sym", [True, False])
def test_every_calibrator_gives_one_ordered_range_per_channel(name, sym):
    torch.manual_seed(0)
    x = torch.randn(1, 5000) * torch.arange(1, 9).view(-1, 1)  # row i is row 0 scaled by i+1
    lo, hi = calibrate(name, x, bits=4, symmetric=sym, ch_axis=0)
    assert lo.shape == hi.shape == (8,)
    assert torch.all(lo < hi)
    assert torch.all(hi <= x.max(dim=1).values + 1e-6)  # never wider than the data
    # ranges scale with the data (minmax and percentile exactly, mse up to its search grid)
    ratio = hi / hi[0]
    assert torch.allclose(ratio, torch.arange(1, 9).float(), rtol=0.05)


def test_minmax_is_the_data_extremes_and_percentile_drops_an_outlier():
    x = torch.cat([torch.linspace(0, 1, 100001), torch.tensor([50.0])])
    assert calibrate("minmax", x, bits=8, symmetric=False) == (torch.tensor([0.0]), torch.tensor([50.0]))
    lo, hi = calibrate("percentile", x, bits=8, symmetric=False, percentile=99.0)
    assert lo.item() == pytest.approx(0.01, abs=1e-3) and hi.item() == pytest.approx(0.99, abs=1e-3)


def test_mse_clips_a_gaussian_near_its_known_optimum_and_beats_minmax():
    """For N(0,1) at 4 bits the MSE-optimal symmetric clip is about 2.5 sigma (Banner et al. 2019, ~2.55)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200000, generator=g)
    lo, hi = calibrate("mse", x, bits=4, symmetric=True)
    assert 2.2 < hi.item() < 2.9
    errs = {}
    for name in ("minmax", "mse"):
        lo, hi = calibrate(name, x, bits=4, symmetric=True)
        scale, zp, qmin, qmax = qparams(lo, hi, 4, True)
        errs[name] = (torch.clamp(torch.round(x / scale), qmin, qmax) * scale - x).pow(2).mean().item()
    assert errs["mse"] < 0.5 * errs["minmax"]


def test_asymmetric_range_always_holds_zero_exactly():
    lo, hi = torch.tensor([0.7]), torch.tensor([5.0])  # ReLU outputs never observed at 0
    scale, zp, qmin, qmax = qparams(lo, hi, 4, False)
    assert zp.item() == 0 and (scale * qmax).item() == pytest.approx(5.0)


# -- config errors -------------------------------------------------------------------

@pytest.mark.parametrize("kw,msg", [
    ({"quantizer": "lsqq"}, "unknown quantizer 'lsqq'; allowed:"),
    ({"calibrator": "kl"}, "unknown calibrator 'kl'; allowed: minmax, mse, percentile"),
    ({"bits": 1}, "bits must be an integer in 2..16"),
    ({"percentile": 20}, "percentile must be in (50, 100]"),
])
def test_bad_quantizer_specs_name_the_problem(kw, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace("]", r"\]")):
        QuantizerSpec(**kw)


def test_pact_for_weights_and_per_channel_activations_are_refused():
    with pytest.raises(ValueError, match="pact"):
        QuantConfig(weight_quant=QuantizerSpec(quantizer="pact"))
    with pytest.raises(ValueError, match="per_channel applies to weights only"):
        QuantConfig(act_quant=QuantizerSpec(per_channel=True))


# -- BN folding and PTQ ----------------------------------------------------------------

@pytest.mark.parametrize("name,shape,kw", [("small_cnn", (1, 28, 28), {"width": 8, "hidden": 16}),
                                           ("resnet20", (3, 32, 32), {}),
                                           ("resnet18", (3, 32, 32), {"width": 8}),
                                           ("wide_resnet", (3, 32, 32), {"depth": 10, "widen_factor": 1})])
def test_folding_batchnorm_keeps_the_function(name, shape, kw):
    torch.manual_seed(0)
    m = create_model(name, num_classes=10, in_channels=shape[0], **kw)
    for mod in m.modules():  # non-trivial BN statistics
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5), mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5), mod.bias.data.uniform_(-0.2, 0.2)
    m.eval()
    x = torch.rand(4, *shape)
    f = fold_bn(m)
    assert conv_bn_pairs(m) and not conv_bn_pairs(f)
    assert torch.allclose(f(x), m(x), atol=1e-4)


def test_ptq_at_8_bits_keeps_accuracy_and_2_bits_loses_it(trained_small_cnn, mnist_small):
    train_split, test_split = mnist_small
    x, y = test_split.x.float() / 255, test_split.y
    float_model = trained_small_cnn
    quantize_(float_model, QuantConfig(act_bits=None))  # the fixture trained with 4-bit ReLU6; use it as float

    def acc(m):
        with torch.no_grad():
            return (m(x).argmax(1) == y).float().mean().item() * 100

    base = acc(float_model)
    spec = lambda b, **kw: QuantConfig(weight_quant=QuantizerSpec(bits=b, per_channel=True, **kw),  # noqa: E731
                                       act_quant=QuantizerSpec(bits=b, symmetric=False, **kw))
    q8 = ptq(float_model, spec(8), train_split.x[:128])
    q2 = ptq(float_model, spec(2), train_split.x[:128])
    assert abs(acc(q8) - base) <= 1.0
    assert acc(q2) < base - 10
    # the original model is untouched, and every layer of the copy is quantized and calibrated
    assert all(getattr(m, "wq", None) is None for _, m in quant_layers(float_model))
    assert all(bool(m.aq.calibrated) for _, m in quant_layers(q8))
    quantize_(float_model, QuantConfig(act_bits=4))


def test_checkpoint_round_trip_keeps_quantizers(tmp_path):
    torch.manual_seed(0)
    spec_model = {"name": "small_cnn", "num_classes": 10, "in_channels": 1, "width": 8, "hidden": 16}
    qcfg = QuantConfig(weight_quant=QuantizerSpec(bits=4, per_channel=True),
                       act_quant=QuantizerSpec(quantizer="pact", bits=4, symmetric=False))
    m = quantize_(create_model(**spec_model), qcfg)
    x = torch.rand(3, 1, 28, 28)
    m.train()(x)  # quantizers track ranges
    m.eval()
    save_checkpoint(tmp_path / "c.pt", m, {"model": spec_model, "quant": qcfg.to_dict()})
    m2, _ = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(m2(x), m(x))


# -- schemes: PTQ and the QAT variants -------------------------------------------------------

@pytest.mark.parametrize("mode,init,act_q,beta", [("ptq", "float", "uniform", 0.0), ("qat", "float", "pact", 0.0),
                                                   ("qat", "scratch", "uniform", 0.0), ("qat", "float", "uniform", 1e-3)])
def test_every_scheme_mode_quantizes_and_trains_as_asked(trained_small_cnn, mnist_small, mode, init, act_q, beta):
    import copy

    from qrobust.quant.quantizers import PACTQuantizer
    from qrobust.quant.schemes import apply_scheme, scheme_config

    train_split, test_split = mnist_small
    float_model = copy.deepcopy(trained_small_cnn)
    quantize_(float_model, QuantConfig(act_bits=None))
    scheme = {"name": "s", "mode": mode, "beta": beta,
              "weight": {"quantizer": "uniform", "calibrator": "minmax", "per_channel": True, "symmetric": True, "percentile": 99.99},
              "act": {"quantizer": act_q, "calibrator": "minmax", "per_channel": False, "symmetric": False, "percentile": 99.99}}
    qcfg = scheme_config(scheme, 4, 4)
    settings = {"calib_images": 64, "fold_bn": True, "qat": {"init": init, "epochs": 1, "lr": 0.01}}
    spec = {"name": "small_cnn", "num_classes": 10, "in_channels": 1, "act": "relu6", "width": 8, "hidden": 32,
            "mean": [0.13], "std": [0.31]}
    train_cfg = {"epochs": 3, "batch_size": 64, "lr": 0.05}  # from scratch: 3 epochs (float reaches ~77 % here)
    before = {k: v.clone() for k, v in float_model.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    model, info = apply_scheme(float_model, spec, scheme, qcfg, settings, train_cfg, train_split.x, train_split.y,
                               g, 0, "cpu")
    layers = quant_layers(model)
    assert all(m.wq.spec.bits == 4 and m.wq.spec.per_channel for _, m in layers)
    assert isinstance(layers[1][1].aq, PACTQuantizer) == (act_q == "pact")
    assert layers[0][1].aq.spec.bits == 8  # the image input stays 8-bit
    assert info["folded"] == (mode == "ptq")
    assert len(info["history"]) == {"ptq": 0, "float": 1, "scratch": 3}["ptq" if mode == "ptq" else init]
    if mode == "ptq":  # PTQ trains nothing: the folded weights are the float ones, rescaled
        assert all(torch.equal(before[k], v) for k, v in float_model.state_dict().items())
    if init == "scratch":  # activation ranges tracked while training, not calibrated
        assert not bool(layers[1][1].aq.calibrated) and float(layers[1][1].aq.hi) > 0
    if beta:
        assert info["history"][0]["reg"] > 0
    x = test_split.x.float() / 255
    with torch.no_grad():
        acc = (model(x).argmax(1) == test_split.y).float().mean().item() * 100
    assert acc > 50  # a working 4-bit model, not noise (10 % is chance)


def test_residual_adds_tie_the_layers_that_feed_them():
    from qrobust.quant.graph import tie_groups

    res = create_model("resnet20", num_classes=10, in_channels=3)
    # identity shortcuts add an activation (no layer to tie); projection shortcuts add a 1x1 conv
    assert tie_groups(res) == [["layers.3.conv2", "layers.3.shortcut.0"], ["layers.6.conv2", "layers.6.shortcut.0"]]
    assert tie_groups(create_model("small_cnn", num_classes=10, in_channels=1)) == []


# -- one spec, one place for each rule --------------------------------------------------------

@pytest.mark.parametrize("kw,role,field,msg", [
    ({"quantizer": "pact"}, "weight", "quantizer", "use uniform for weights"),
    ({"quantizer": "pwlq"}, "act", "quantizer", "cannot quantize acts; allowed for: weight"),
    ({"per_channel": True}, "act", "per_channel", "per_channel applies to weights only"),
    ({"quantizer": "pwlq", "symmetric": False}, None, "symmetric", "symmetric by construction"),
    ({"quantizer": "pwlq", "rounding": "floor"}, None, "rounding", "rounds to its nearest level"),
    ({"quantizer": "pact", "dynamic": True}, None, "dynamic", "dynamic and fixed_range do not apply to it"),
    ({"rounding": "ceil"}, None, "rounding", "unknown rounding 'ceil'; allowed: nearest, floor, stochastic"),
    ({"fixed_range": (1.0, 0.0), "symmetric": False}, None, "fixed_range", "lo < hi"),
    ({"fixed_range": (0.0, 6.0)}, "act", "fixed_range", "set symmetric: false"),
    ({"fixed_range": (0.0, 6.0), "symmetric": False}, "weight", "fixed_range", "for activations"),
])
def test_each_rule_is_the_specs_and_names_its_field(kw, role, field, msg):
    from qrobust.quant.spec import SpecError

    with pytest.raises(SpecError, match=msg) as e:
        QuantizerSpec(role=role, **kw)
    assert e.value.field == field


def test_scheme_rules_prefix_the_role_and_config_validation_uses_them():
    import subprocess
    import sys

    from qrobust.quant.spec import SchemeSpec, SpecError

    for scheme, field in [({"mode": "qat", "weight": {"quantizer": "pact"}}, "weight.quantizer"),
                          ({"mode": "ptq", "act": {"per_channel": True}}, "act.per_channel"),
                          ({"mode": "ptq", "act": {"quantizer": "pact", "symmetric": False}}, "act.quantizer"),
                          ({"mode": "ptq", "beta": 1e-3}, "beta")]:
        with pytest.raises(SpecError) as e:
            SchemeSpec.from_config(scheme)
        assert e.value.field == field
    ok = SchemeSpec.from_config({"mode": "qat", "act": {"quantizer": "pact", "symmetric": False}})
    assert ok.weight.role == "weight" and ok.act.role == "act"
    # the rules stay importable without torch: Snakemake validates configs while it parses the workflow
    code = "import sys, qrobust.config, qrobust.quant.spec; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_to_dict_keeps_the_stored_form_and_round_trips():
    old = {"quantizer": "uniform", "bits": 4, "calibrator": "mse", "per_channel": True, "symmetric": True, "percentile": 99.99}
    spec = QuantConfig(weight_quant=old).weight_quant
    assert spec.role == "weight" and spec.to_dict() == old  # checkpoints and run records unchanged
    new = QuantizerSpec(bits=3, rounding="stochastic", dynamic=True)
    assert new.to_dict() == {**old, "bits": 3, "calibrator": "minmax", "per_channel": False,
                             "rounding": "stochastic", "dynamic": True}
    assert QuantizerSpec(**new.to_dict()) == new


def test_dynamic_ranges_follow_each_input_and_hold_no_state():
    q = make_quantizer(QuantizerSpec(bits=4, symmetric=False, dynamic=True), "act")
    assert list(q.state_dict()) == []
    for scale in (1.0, 10.0):
        x = torch.linspace(-scale, 3 * scale, 1001)
        y = q.eval()(x)
        assert q.lo.item() == -scale and q.hi.item() == 3 * scale and (y - x).abs().max() <= 4 * scale / 15 + 1e-5
    q.observe()  # nothing to calibrate: calibration passes leave it quantizing
    assert not q.observing and len(torch.unique(q(x))) <= 16


def test_a_given_grid_is_used_as_is():
    q = make_quantizer(QuantizerSpec(bits=4, symmetric=False), "act")
    q.set_grid(0.25, 3)
    x = torch.linspace(-2, 5, 701)
    assert torch.equal(q(x), torch.fake_quantize_per_tensor_affine(x, 0.25, 3, 0, 15))
    q.observe()
    assert not q.observing


def test_table7_ptq_is_the_schemes_ptq(trained_small_cnn, mnist_small):
    """li2024's PTQ/QAT is qrobust.quant.schemes' path: the same inputs give the same model."""
    import copy

    from qrobust.papers.li2024.method import apply_table7_scheme, target_config
    from qrobust.quant.schemes import apply_scheme, scheme_config
    from qrobust.training.adversarial import AdvConfig

    train_split, test_split = mnist_small
    base = copy.deepcopy(trained_small_cnn)
    quantize_(base, QuantConfig(act_bits=None))
    w = {"quantizer": "uniform", "calibrator": "mse", "per_channel": True, "symmetric": True, "percentile": 99.99}
    scheme = {"name": "s", "init": "float", "mode": "ptq", "robust": "none", "beta": 0.0, "weight": w,
              "act": {**w, "calibrator": "percentile", "per_channel": False, "symmetric": False}}
    assert target_config(scheme, "wa", 4) == scheme_config(scheme, 4, 4)
    assert target_config(scheme, "a", 4).weight_quant is None and target_config(scheme, "w", 4).act_quant is None
    x, y = train_split.x[:200], train_split.y[:200]
    g = torch.Generator().manual_seed(0)
    a, info_a = apply_scheme(copy.deepcopy(base), {}, scheme, scheme_config(scheme, 4, 4),
                             {"calib_images": 64, "fold_bn": True, "qat": {"init": "float", "epochs": 1, "lr": 0.01}},
                             {}, x, y, g, 3, "cpu")
    b, info_b = apply_table7_scheme(copy.deepcopy(base), {}, scheme, target_config(scheme, "wa", 4),
                                    {"calib_images": 64, "finetune_fraction": 0.1, "qat": {"epochs": 1, "lr": 0.01}}, {},
                                    AdvConfig(), x, y, g, 3, "cpu")
    xt = test_split.x[:50].float() / 255
    with torch.no_grad():
        assert torch.equal(a(xt), b(xt))
    assert info_a["folded"] and info_b["folded"] and info_a["calib_images"] == info_b["calib_images"] == 64


def test_resnet18_has_torchvisions_layers_with_the_cifar_stem():
    """Reference: torchvision's ResNet-18 with a 3x3 stride-1 stem and no max-pool (the CIFAR variant)."""
    import torchvision

    ref = torchvision.models.resnet18(num_classes=10)
    ref.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    ref.maxpool = torch.nn.Identity()
    ours = create_model("resnet18", num_classes=10, in_channels=3)
    shapes = lambda m: sorted(tuple(p.shape) for p in m.parameters())  # noqa: E731
    assert shapes(ours) == shapes(ref)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters()) == 11_173_962
    assert ours(torch.rand(2, 3, 32, 32)).shape == (2, 10)
