"""Models infer in channels_last (models._base.inference_layout): evaluation and attacks switch to it and
back, the logits are the contiguous model's within float rounding, training never sees it."""
import pytest
import torch
import torch.nn.functional as F

from qrobust.attacks import create_attack
from qrobust.models import MODELS, create_model, inference_layout, training_layout
from qrobust.quant import QuantConfig, quantize_


def _model(name="small_cnn", bits=2, **kw):
    torch.manual_seed(0)
    kw = kw or ({"width": 8, "hidden": 16} if name == "small_cnn" else {})
    m = create_model(name, num_classes=10, in_channels=1, mean=[0.13], std=[0.31], **kw)
    if bits:
        quantize_(m, QuantConfig(act_bits=bits))
    m.train()
    with torch.no_grad():
        m(torch.rand(64, 1, 28, 28))  # batch-norm statistics
    return m.eval()


def _cl(m):
    return [p.is_contiguous(memory_format=torch.channels_last) for p in m.parameters() if p.dim() == 4]


@pytest.mark.parametrize("name", MODELS.names())
def test_inside_the_block_every_conv_block_runs_channels_last_and_contiguous_after(name):
    model = _model(name, bits=None, **MODELS.get(name).tiny)
    weights = {n: p for n, p in model.named_parameters()}
    seen = []
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d)):
            m.register_forward_hook(lambda m, i, o: seen.append(o.is_contiguous(memory_format=torch.channels_last)))
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        before = model(x)
    with inference_layout(model):
        assert all(_cl(model))
        with torch.no_grad():
            inside = model(x)  # a plain NCHW input, as the data loaders give
    assert seen and all(seen[len(seen) // 2:])
    assert all(p.is_contiguous() for p in model.parameters())
    assert all(weights[n] is p for n, p in model.named_parameters())  # the same Parameters (optimizers keep them)
    assert torch.allclose(before, inside, atol=1e-5)


@pytest.mark.parametrize("bits", [None, 2, 4])
def test_logits_match_the_contiguous_model_within_rounding(bits):
    model = _model(bits=bits)
    x = torch.rand(300, 1, 28, 28)
    with torch.no_grad():
        plain = model(x)
        with inference_layout(model):
            cl = model(x)
            again = model(x)
    assert torch.equal(cl, again)  # deterministic
    if bits is None:
        assert torch.allclose(plain, cl, atol=1e-5)
    else:  # float rounding can move an activation across a grid threshold: one level, rarely
        assert (plain.argmax(1) == cl.argmax(1)).float().mean() > 0.98


def test_weights_stay_ordinary_tensors_when_switched_inside_inference_mode():
    model = _model(bits=None)
    with torch.inference_mode():
        with inference_layout(model):
            model(torch.rand(2, 1, 28, 28))
    assert not any(p.is_inference() for p in model.parameters())
    model.train()
    F.cross_entropy(model(torch.rand(4, 1, 28, 28)), torch.arange(4)).backward()  # trainable afterwards
    assert all(p.grad is not None for p in model.parameters())


def test_nested_blocks_cuda_like_and_other_dtypes_are_left_alone():
    model = _model(bits=None)
    with inference_layout(model, None):
        with inference_layout(model):  # inner block: already switched, leaves it switched
            pass
        assert all(_cl(model)[1:])
    assert all(p.is_contiguous() for p in model.parameters())
    half = _model(bits=None).to(torch.bfloat16)
    with inference_layout(half):
        assert not any(_cl(half)[1:])


def test_attacks_run_channels_last_but_inside_a_training_run():
    model = _model(bits=2)
    layouts = []
    conv = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][1]
    conv.register_forward_hook(lambda m, i, o: layouts.append(o.is_contiguous(memory_format=torch.channels_last)))
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    model.train()  # the caller's mode does not matter: the same layout, the same examples
    adv = create_attack("pgd", model, eps=0.1, steps=2)(x, y)
    assert layouts and all(layouts) and all(p.is_contiguous() for p in model.parameters()) and model.training
    layouts.clear()
    with training_layout():  # what training.loop.train runs in: adversarial training's examples
        again = create_attack("pgd", model, eps=0.1, steps=2)(x, y)
    assert layouts and not any(layouts)
    assert (adv != again).float().mean() < 0.01  # float rounding only


def test_adversarial_training_crafts_its_examples_contiguous():
    from qrobust.training.adversarial import AdvConfig, adversarial_loss
    from qrobust.training.loop import TrainConfig, train

    model = _model(bits=2)
    layouts = []
    conv = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][1]
    conv.register_forward_hook(lambda m, i, o: layouts.append(o.is_contiguous(memory_format=torch.channels_last)))
    x, y = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8), torch.randint(0, 10, (64,))
    g = torch.Generator().manual_seed(0)
    train(model, x, y, TrainConfig(epochs=1, batch_size=32, lr=0.01, allow_chance=True), g, torch.device("cpu"),
          progress=False, extra_loss=adversarial_loss(AdvConfig(attack="pgd", eps_max=0.2, steps=2), g))
    assert len(layouts) >= 2 * 4 and not any(layouts)  # 2 batches x (2 PGD steps + 2 training forwards)


def test_a_checkpoint_saved_inside_the_block_has_the_same_bytes(tmp_path):
    from qrobust.checkpoint import save_checkpoint

    model = _model(bits=2)
    spec = {"model": {"name": "small_cnn", "num_classes": 10, "in_channels": 1, "width": 8, "hidden": 16,
                      "mean": [0.13], "std": [0.31]}, "quant": {"act_bits": 2}}
    save_checkpoint(tmp_path / "a.pt", model, spec)
    with inference_layout(model):
        save_checkpoint(tmp_path / "b.pt", model, spec)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
