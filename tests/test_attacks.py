import pytest
import torch

from qrobust.attacks import ATTACKS, create_attack

EPS = 0.1


def _batch(mnist_small, n=200):
    _, test = mnist_small
    return test.x[:n].float() / 255.0, test.y[:n]


def _acc(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("name", ATTACKS.names())
def test_perturbation_within_eps_ball_and_image_range(name, trained_small_cnn, mnist_small):
    x, y = _batch(mnist_small)
    adv = create_attack(name, trained_small_cnn, eps=EPS)(x, y)
    assert adv.shape == x.shape and adv.dtype == x.dtype
    assert (adv - x).abs().max().item() <= EPS + 1e-6
    assert adv.min().item() >= 0.0 and adv.max().item() <= 1.0


@pytest.mark.parametrize("name", ATTACKS.names())
def test_attack_is_deterministic_and_restores_mode(name, trained_small_cnn, mnist_small):
    x, y = _batch(mnist_small, 64)
    trained_small_cnn.train()
    a = create_attack(name, trained_small_cnn, eps=EPS, seed=3)(x, y)
    assert trained_small_cnn.training  # the attack ran in eval mode and put the mode back
    trained_small_cnn.eval()
    b = create_attack(name, trained_small_cnn, eps=EPS, seed=3)(x, y)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ATTACKS.names())
def test_attack_is_stronger_than_random_noise(name, trained_small_cnn, mnist_small):
    x, y = _batch(mnist_small)
    g = torch.Generator().manual_seed(0)
    noise = torch.clamp(x + EPS * (2 * torch.rand(x.shape, generator=g) - 1), 0, 1)
    adv = create_attack(name, trained_small_cnn, eps=EPS)(x, y)
    assert _acc(trained_small_cnn, x, y) > 0.6  # the fixture really learned something
    assert _acc(trained_small_cnn, adv, y) < _acc(trained_small_cnn, noise, y) - 0.1


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.2])
def test_fgsm_matches_torchattacks(trained_small_cnn, mnist_small, eps):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = _batch(mnist_small)
    ours = create_attack("fgsm", trained_small_cnn, eps=eps)(x, y)
    ref = torchattacks.FGSM(trained_small_cnn, eps=eps)(x, y)
    assert torch.allclose(ours, ref, atol=1e-6)
    assert _acc(trained_small_cnn, ours, y) == _acc(trained_small_cnn, ref, y)


def test_gradient_flows_through_quantized_activations(trained_small_cnn, mnist_small):
    x, y = _batch(mnist_small, 32)
    x = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(trained_small_cnn(x), y).backward()
    assert x.grad.abs().sum().item() > 0  # STE: no gradient masking by the rounding


@pytest.mark.parametrize("eps", [-0.1, 1.5])
def test_bad_eps_is_rejected(trained_small_cnn, eps):
    with pytest.raises(ValueError, match="eps"):
        create_attack("fgsm", trained_small_cnn, eps=eps)
