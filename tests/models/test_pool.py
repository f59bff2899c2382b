"""qrobust's MaxPool2d: the fast no-gradient forward gives torch's values; model outputs are bit-identical."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from qrobust.models import create_model
from qrobust.models._base import MaxPool2d
from qrobust.quant import QuantConfig, quantize_


def _ties(shape, seed=0):
    """Few distinct values (as after a k-bit activation), signed zeros, a few NaN and -inf."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-2, 3, shape, generator=g).float() * 0.5
    zero = x == 0
    x[zero] = torch.where(torch.rand(int(zero.sum()), generator=g) < 0.5, -0.0, 0.0)
    x[torch.rand(shape, generator=g) < 0.02] = float("nan")
    x[torch.rand(shape, generator=g) < 0.02] = float("-inf")
    return x


def _same_numbers(a, b):
    return a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan())).all())


@pytest.mark.parametrize("shape", [(4, 3, 8, 10), (2, 5, 7, 9), (3, 1, 28, 28), (1, 2, 2, 2)])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_fast_forward_gives_torch_values(shape, ceil_mode, layout):
    x = _ties(shape).contiguous(memory_format=layout)
    with torch.no_grad():
        ours = MaxPool2d(2, ceil_mode=ceil_mode)(x)
    assert _same_numbers(ours, F.max_pool2d(x.contiguous(), 2, ceil_mode=ceil_mode))


def test_fast_path_is_taken_without_gradient_only(monkeypatch):
    x = torch.rand(2, 3, 8, 8)
    pool = MaxPool2d(2)
    calls = []
    native = F.max_pool2d

    def spy(*a, **k):
        calls.append(1)
        return native(*a, **k)

    monkeypatch.setattr(F, "max_pool2d", spy)
    with torch.no_grad():
        pool(x)
    with torch.inference_mode():
        pool(x)
    pool(x)  # no tensor needs a gradient
    assert calls == []
    xg = x.clone().requires_grad_()
    with torch.no_grad():
        pool(x.contiguous(memory_format=torch.channels_last))  # qrobust's models' layout: fast too
    assert calls == []
    pool(xg).sum().backward()  # a gradient: torch's kernel (its routing of gradients to one index)
    pool(x.transpose(2, 3))  # neither layout's dense strides
    MaxPool2d(3)(x)
    MaxPool2d(2, ceil_mode=True)(torch.rand(1, 1, 7, 7))
    MaxPool2d(2, padding=1)(x)
    assert len(calls) == 5


def test_gradient_is_torchs():
    x = _ties((3, 4, 8, 8), seed=1).nan_to_num(0.0, 0.0, -1.0)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    g = torch.randn(3, 4, 4, 4)
    MaxPool2d(2)(a).backward(g)
    nn.MaxPool2d(2)(b).backward(g)
    assert torch.equal(a.grad, b.grad)


@pytest.mark.parametrize("name,kw,bits", [("small_cnn", {"width": 8, "hidden": 32}, None),
                                          ("small_cnn", {"width": 8, "hidden": 32}, 2),
                                          ("vgg16", {"width_mult": 0.0625}, 4)])
def test_model_outputs_bit_identical_with_and_without_gradient(name, kw, bits):
    """The fast forward (no gradient: evaluation, Square) and torch's kernel (attacks, training) give the
    same logits, bit for bit, on k-bit activations (many ties and signed zeros in the pooled maps)."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=1, **kw)
    if bits:
        quantize_(model, QuantConfig(act_bits=bits))
    model.train()
    with torch.no_grad():
        model(torch.rand(64, 1, 28, 28))  # batch-norm statistics and activation ranges
    model.eval()
    x = torch.rand(50, 1, 28, 28)
    with torch.no_grad():
        fast = model(x)
    native = model(x.clone().requires_grad_())
    assert torch.equal(fast.view(torch.int32), native.detach().view(torch.int32))
