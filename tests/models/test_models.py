"""Every registered model, built at the size its registration calls tiny: the shapes the datasets give,
gradients to every parameter, quantized activations, and the channels_last forward of evaluation."""
import pytest
import torch
import torch.nn.functional as F

from qrobust.models import MODELS, create_model, inference_layout
from qrobust.quant import QuantConfig, quantize_


def _build(name: str, in_channels: int, bits=None, seed: int = 0):
    torch.manual_seed(seed)
    model = create_model(name, num_classes=10, in_channels=in_channels, mean=[0.5] * in_channels,
                         std=[0.25] * in_channels, **MODELS.get(name).tiny)
    if bits:
        quantize_(model, QuantConfig(act_bits=bits))
    return model


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=["mnist", "cifar"])
def test_every_model_gives_logits_for_each_dataset_shape(name, shape):
    model = _build(name, shape[0]).eval()
    with torch.no_grad():
        out = model(torch.rand(3, *shape))
    assert out.shape == (3, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS.names())
def test_every_parameter_gets_a_gradient_and_one_step_lowers_the_loss(name):
    model = _build(name, 1, bits=4).train()
    x, y = torch.rand(16, 1, 28, 28), torch.arange(16) % 10
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing
    for _ in range(5):
        opt.step()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
    assert F.cross_entropy(model(x), y).item() < loss.item()


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_is_deterministic_from_its_seed_and_evaluates_channels_last(name):
    a, b = _build(name, 3, bits=2, seed=1), _build(name, 3, bits=2, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    a.eval()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        plain = a(x)
        with inference_layout(a):
            cl = a(x)
    assert (plain.argmax(1) == cl.argmax(1)).all()


def test_an_unknown_model_names_the_registered_ones():
    with pytest.raises(KeyError, match="unknown model 'nope'; allowed: .*small_cnn"):
        create_model("nope", num_classes=10, in_channels=1)
