"""Gradient paths through the quantizers (quant/fake_quant.py): the forward stays the real one under ste
and bpda, bpda's gradient is the soft staircase's, smooth is a differentiable copy, float the float twin."""
import math

import pytest
import torch

from qrobust.quant.fake_quant import (
    PATHS,
    current_path,
    fake_quantize,
    gradient_path,
    quantize_range,
    round_ste,
    soft_round,
)
from qrobust.quant.fused import soft_round_grad


def _grad(fn, x):
    x = x.clone().requires_grad_(True)
    y = fn(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), g


X = torch.linspace(0.0, 6.0, 97)


def test_soft_round_matches_its_gradient_and_limits():
    v = torch.linspace(-2.3, 3.7, 301, dtype=torch.float64, requires_grad=True)
    for t in (0.05, 0.25, 1.0):
        (g,) = torch.autograd.grad(soft_round(v, t).sum(), v)
        # soft_round detaches floor(v): autograd's derivative is the closed form of soft_round_grad
        assert torch.allclose(g, soft_round_grad(v.detach(), t), atol=1e-10)
    # continuous at integers, close to round() for a small temperature away from the thresholds
    k = torch.arange(-2.0, 4.0, dtype=torch.float64)
    assert torch.allclose(soft_round(k - 1e-9, 0.25), soft_round(k + 1e-9, 0.25), atol=1e-6)
    w = torch.tensor([0.1, 0.9, 1.2, 2.8], dtype=torch.float64)
    assert torch.allclose(soft_round(w, 0.02), torch.round(w), atol=1e-6)
    # the gradient peaks at the threshold (half-integers) and is smallest at the levels
    assert soft_round_grad(torch.tensor(0.5), 0.25) > 1.0 > soft_round_grad(torch.tensor(0.0), 0.25)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_bpda_keeps_the_exact_forward_and_changes_only_the_gradient(bits):
    y_ste, g_ste = _grad(lambda x: quantize_range(x, 0.0, 6.0, bits), X)
    with gradient_path("bpda", 0.25):
        y_bpda, g_bpda = _grad(lambda x: quantize_range(x, 0.0, 6.0, bits), X)
    assert torch.equal(y_ste, y_bpda)
    assert torch.equal(g_ste, torch.ones_like(X))  # after ReLU6 the STE mask is always true
    levels = 2 ** bits - 1
    v = X * (1.0 / (6.0 / levels))
    assert torch.allclose(g_bpda, soft_round_grad(v, 0.25), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(g_bpda, g_ste)


def test_smooth_is_the_soft_staircase_and_float_the_identity():
    with gradient_path("smooth", 0.25):
        y, g = _grad(lambda x: quantize_range(x, 0.0, 6.0, 1), X)
    assert torch.allclose(y, 6.0 * soft_round(X / 6.0, 0.25), atol=1e-5)
    assert (g > 0).any() and not torch.equal(y, quantize_range(X, 0.0, 6.0, 1))
    with gradient_path("float"):
        y, g = _grad(lambda x: quantize_range(x, 0.0, 6.0, 1), X)
        w = torch.randn(8, 4)
        assert torch.equal(fake_quantize(w, torch.tensor(0.1), 0, -7, 7), w)
    assert torch.allclose(y, X) and torch.equal(g, torch.ones_like(X))


def test_masked_ste_has_no_gradient_but_bpda_does():
    _, g = _grad(lambda x: fake_quantize(x, 2.0, 0, 0, 3, ste_grad=0.0), X)
    assert torch.count_nonzero(g) == 0
    with gradient_path("bpda"):
        y, g = _grad(lambda x: fake_quantize(x, 2.0, 0, 0, 3, ste_grad=0.0), X)
    assert torch.count_nonzero(g) > 0
    assert torch.equal(y, fake_quantize(X, 2.0, 0, 0, 3))


def test_round_ste_other_roundings_follow_the_path():
    v = torch.linspace(-1.0, 3.0, 41)
    y, g = _grad(lambda u: round_ste(u, "floor"), v)
    assert torch.equal(y, torch.floor(v)) and torch.equal(g, torch.ones_like(v))
    with gradient_path("bpda", 0.5):
        y, g = _grad(lambda u: round_ste(u, "floor"), v)
    assert torch.equal(y, torch.floor(v)) and torch.allclose(g, soft_round_grad(v, 0.5))


def test_context_restores_and_validates():
    assert current_path()[0] == "ste"
    with gradient_path("bpda", 0.1):
        assert current_path() == ("bpda", 0.1)
        with gradient_path("float"):
            assert current_path()[0] == "float"
        assert current_path() == ("bpda", 0.1)
    assert current_path()[0] == "ste"
    with pytest.raises(ValueError, match="unknown gradient path 'soft'"):
        with gradient_path("soft"):
            pass
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="temperature"):
            with gradient_path("bpda", bad):
                pass
    assert set(PATHS) == {"ste", "bpda", "smooth", "float"}


def test_model_layers_follow_the_path():
    """DQ's QuantAct, PACT and Feature Squeezing: real forward under bpda, a nonzero soft gradient."""
    from qrobust.papers.dq.defenses import FeatureSqueeze
    from qrobust.quant.layers import QuantAct

    act = QuantAct("relu6", 1)
    x = torch.linspace(-1.0, 7.0, 33)
    y0, g0 = _grad(act, x)
    with gradient_path("bpda"):
        y1, g1 = _grad(act, x)
    assert torch.equal(y0, y1) and not torch.equal(g0, g1)
    fs = FeatureSqueeze(torch.nn.Identity(), bits=1, median=1)
    img = torch.rand(2, 1, 4, 4)
    y0, g0 = _grad(fs, img)
    with gradient_path("bpda"):
        y1, g1 = _grad(fs, img)
    assert torch.equal(y0, y1) and torch.equal(g0, torch.ones_like(img)) and not torch.equal(g0, g1)


def test_soft_round_grad_in_place_is_the_formula_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    v = torch.cat([torch.randn(20000, generator=g) * 8, torch.arange(-40, 40) * 0.5])
    for t in (0.1, 0.25, 1.0):
        a = 1.0 / t
        want = a * (1.0 - torch.tanh(a * (v - torch.floor(v) - 0.5)) ** 2) / (2.0 * math.tanh(a / 2.0))
        got = soft_round_grad(v, t)
        assert torch.equal(got.view(torch.int32), want.view(torch.int32))
        vg = v.clone().requires_grad_(True)
        assert torch.equal(soft_round_grad(vg, t).detach().view(torch.int32), want.view(torch.int32))
