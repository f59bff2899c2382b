"""qrobust's MaxPool2d: the fast no-gradient forward gives torch's values; model outputs are bit-identical."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from qrobust.models import _base, create_model
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
    via_channels_last = []
    apply = _base._MaxPoolIndicesChannelsLast.apply
    monkeypatch.setattr(_base._MaxPoolIndicesChannelsLast, "apply",
                        lambda *a: via_channels_last.append(1) or apply(*a))
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
    pool(x.transpose(2, 3))  # neither layout's dense strides
    MaxPool2d(3)(x)
    MaxPool2d(2, ceil_mode=True)(torch.rand(1, 1, 7, 7))
    MaxPool2d(2, padding=1)(x)
    assert len(calls) == 4 and via_channels_last == []
    pool(xg)  # a gradient on NCHW: torch's kernels through the channels_last forward
    MaxPool2d(2, ceil_mode=True)(torch.rand(1, 2, 7, 7, requires_grad=True))
    assert len(calls) == 4 and len(via_channels_last) == 2
    pool(xg.detach().contiguous(memory_format=torch.channels_last).requires_grad_())  # channels_last already
    MaxPool2d(3)(xg)
    MaxPool2d(2, padding=1)(xg)
    with torch.no_grad():
        pool(xg)  # no gradient taken: the strided maxima
    assert len(calls) == 7 and len(via_channels_last) == 2


def _bits(t):
    return t.view(torch.int64 if t.dtype == torch.float64 else torch.int32)


@pytest.mark.parametrize("shape", [(4, 3, 8, 10), (2, 5, 7, 9), (3, 16, 28, 28), (1, 2, 2, 2), (2, 3, 1, 5)])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradient_path_gives_torchs_values_indices_and_gradients_bit_for_bit(shape, ceil_mode, dtype):
    """With a gradient on NCHW the forward runs torch's channels_last kernel: outputs (signed zeros and NaN
    included), indices and input gradients are torch's NCHW kernels' bits, ties, NaN, -inf, odd sizes,
    ceil_mode and signed-zero and NaN gradients included."""
    if shape[-2] < 2 and not ceil_mode:
        pytest.skip("torch: output size 0")
    x = _ties(shape, seed=sum(shape)).to(dtype)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = MaxPool2d(2, ceil_mode=ceil_mode)(a)
    theirs = F.max_pool2d(b, 2, ceil_mode=ceil_mode)
    assert ours.grad_fn is not None and type(ours.grad_fn).__name__ != type(theirs.grad_fn).__name__
    assert ours.is_contiguous() and torch.equal(_bits(ours), _bits(theirs))
    g = torch.randn(theirs.shape, generator=torch.Generator().manual_seed(2), dtype=dtype)
    g[torch.rand(g.shape, generator=torch.Generator().manual_seed(3)) < 0.2] = -0.0
    g.view(-1)[::7] = float("nan")
    ours.backward(g)
    theirs.backward(g)
    assert a.grad.is_contiguous() and torch.equal(_bits(a.grad), _bits(b.grad))


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


@pytest.mark.parametrize("name,kw,bits", [("small_cnn", {"width": 8, "hidden": 32}, 2),
                                          ("vgg16", {"width_mult": 0.0625}, None)])
def test_training_steps_bit_identical_to_torchs_pool(name, kw, bits):
    """SGD steps through the channels_last max-pool forward (training's NCHW layout) leave the same weight
    bits as torch's nn.MaxPool2d (VGG's ceil_mode pools odd 7x7 maps)."""
    import copy

    torch.manual_seed(0)
    ours = create_model(name, num_classes=10, in_channels=1, **kw)
    if bits:
        quantize_(ours, QuantConfig(act_bits=bits))
    theirs = copy.deepcopy(ours)
    for mod_name, mod in list(theirs.named_modules()):
        if isinstance(mod, MaxPool2d):
            parent, _, leaf = mod_name.rpartition(".")
            setattr(theirs.get_submodule(parent) if parent else theirs, leaf,
                    nn.MaxPool2d(mod.kernel_size, mod.stride, ceil_mode=mod.ceil_mode))
    assert not any(type(m) is MaxPool2d for m in theirs.modules())
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g)
    for m in (ours, theirs):
        opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
        m.train()
        for i in range(3):
            opt.zero_grad()
            F.cross_entropy(m(x[i * 8:i * 8 + 16]), y[i * 8:i * 8 + 16]).backward()  # overlapping batches of 16
            opt.step()
    for p, q in zip(ours.state_dict().values(), theirs.state_dict().values()):
        assert torch.equal(p, q)
