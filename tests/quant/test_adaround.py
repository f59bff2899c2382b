"""AdaRound (Nagel et al. 2020) against the paper's equations; on a trained model, the rounding it learns.

No maintained implementation is compared here (not attempted): aimet-torch's AdaRound runs on its own
QuantizationSimModel and brevitas' learned rounding inside its own quantized layers, and wiring either to these
layers would be larger than the method. So the parts are tested against eq. 21-25 written out by hand, and the
whole against nearest rounding on the same grid and images."""
import copy
import math

import pytest
import torch

from qrobust.checkpoint import load_checkpoint, save_checkpoint
from qrobust.quant import QuantConfig, QuantizerSpec, make_quantizer, quant_layers, quantize_
from qrobust.quant.adaround import GAMMA, ZETA, adaround_, init_v, rectified_sigmoid, rounding_reg
from qrobust.quant.ptq import calibration_images, fold_bn, ptq
from qrobust.quant.spec import SchemeSpec, SpecError


def test_rectified_sigmoid_its_start_and_the_regularizer_are_eq_23_and_24():
    v = torch.tensor([-10.0, -1.0, 0.0, 0.7, 10.0])
    expect = [min(max(1 / (1 + math.exp(-x)) * (ZETA - GAMMA) + GAMMA, 0.0), 1.0) for x in v.tolist()]
    assert rectified_sigmoid(v).tolist() == pytest.approx(expect, abs=1e-6)
    assert expect[0] == 0.0 and expect[-1] == 1.0  # zeta, gamma stretch the sigmoid so 0 and 1 are reached
    rest = torch.tensor([0.0, 0.1, 0.5, 0.93])
    assert rectified_sigmoid(init_v(rest)).tolist() == pytest.approx(rest.tolist(), abs=1e-5)
    h = torch.tensor([0.0, 0.25, 0.5, 1.0])
    for beta in (20.0, 2.0):
        assert rounding_reg(h, beta).item() == pytest.approx(sum(1 - abs(2 * x - 1) ** beta for x in h.tolist()))
    assert rounding_reg(torch.tensor([0.0, 1.0, 1.0]), 2.0).item() == 0.0


def test_before_reconstruction_it_is_the_uniform_quantizer_and_its_grid_stays_put():
    torch.manual_seed(0)
    w = torch.randn(4, 3, 3, 3)
    spec = dict(bits=4, calibrator="mse", per_channel=True)
    a = make_quantizer(QuantizerSpec(quantizer="adaround", **spec), "weight", 4)
    u = make_quantizer(QuantizerSpec(quantizer="uniform", **spec), "weight", 4)
    assert torch.equal(a(w), u(w))  # nearest rounding on the same grid
    lo = a.lo.clone()
    a(w * 3)  # a learned rounding belongs to one grid: it is not recomputed
    assert torch.equal(a.lo, lo)


def test_learned_rounding_is_floor_or_ceil_lowers_the_loss_and_the_checkpoint_keeps_it(tmp_path, trained_small_cnn, mnist_small):
    train_split, test_split = mnist_small
    float_model = copy.deepcopy(trained_small_cnn)
    quantize_(float_model, QuantConfig(act_bits=None))
    qcfg = QuantConfig(weight_quant=QuantizerSpec(quantizer="adaround", bits=2, calibrator="mse", per_channel=True),
                       act_quant=QuantizerSpec(bits=8, symmetric=False))
    calib = calibration_images(train_split.x, 128, 0)
    model = ptq(float_model, qcfg, calib)
    near = copy.deepcopy(model)
    report = adaround_(model, fold_bn(float_model), calib, iters=300, lr=1e-2, seed=0)
    assert [r["layer"] for r in report] == [n for n, _ in quant_layers(model)]
    for _, layer in quant_layers(model):
        w = layer.weight
        scale, _, qmin, qmax = layer.wq.grid(w)
        q = layer.qweight().detach()
        codes = q / scale
        assert torch.allclose(codes, torch.round(codes), atol=1e-4)  # on the grid
        fl = torch.clamp(torch.floor(w / scale), qmin, qmax) * scale
        ce = torch.clamp(torch.floor(w / scale) + 1, qmin, qmax) * scale
        assert bool(((q - fl).abs() < 1e-6).logical_or((q - ce).abs() < 1e-6).all())  # floor or ceil of w / s
        assert set(layer.wq.up.unique().tolist()) <= {0, 1}
    # it rounds some weights away from nearest, and lowers every layer's reconstruction error (eq. 25)
    assert any(r["changed"] > 0.005 for r in report)
    assert all(r["loss_adaround"] < r["loss_nearest"] for r in report), report
    # on 200 test images (a point is 0.5 %): measured 28.5 % nearest, 60 % AdaRound at W2A8
    acc = [(m(test_split.x.float() / 255).argmax(1) == test_split.y).float().mean().item() * 100 for m in (near, model)]
    assert acc[1] > acc[0] + 10, acc
    x = test_split.x[:64].float() / 255
    spec = {"name": "small_cnn", "num_classes": 10, "in_channels": 1, "act": "relu6", "width": 8, "hidden": 32,
            "mean": [0.13], "std": [0.31]}
    save_checkpoint(tmp_path / "a.pt", model, {"model": spec, "quant": qcfg.to_dict(), "folded": True})
    back, _ = load_checkpoint(tmp_path / "a.pt")
    with torch.no_grad():
        assert torch.equal(back(x), model(x))
        assert not torch.equal(near(x), model(x))


def test_adaround_is_ptq_only_and_reconstruct_needs_it():
    with pytest.raises(SpecError, match="needs mode: ptq") as e:
        SchemeSpec.from_config({"mode": "qat", "weight": {"quantizer": "adaround"}})
    assert e.value.field == "weight.quantizer"
    with pytest.raises(SpecError, match="quantizer: adaround") as e:
        SchemeSpec.from_config({"mode": "ptq", "weight": {}, "reconstruct": {"iters": 10}})
    assert e.value.field == "reconstruct"
    with pytest.raises(SpecError, match="cannot quantize acts"):
        QuantizerSpec(quantizer="adaround", role="act")


def test_the_schemas_defaults_are_adarounds():
    import inspect

    import yaml

    from qrobust.config import SCHEMA_PATH

    schema = yaml.safe_load(open(SCHEMA_PATH))
    props = schema["properties"]["quantize"]["properties"]["schemes"]["items"]["properties"]["reconstruct"]["properties"]
    defaults = {k: p["default"] for k, p in props.items()}
    sig = inspect.signature(adaround_).parameters
    assert set(defaults) == {"iters", "lam", "warmup", "beta", "lr", "batch_size", "granularity", "loss", "drop_prob"}
    assert {k: (list(sig[k].default) if isinstance(sig[k].default, tuple) else sig[k].default) for k in defaults} == defaults


def test_units_split_a_chain_model_into_layers_or_blocks():
    from qrobust.models import create_model
    from qrobust.quant.adaround import units

    cnn = create_model("small_cnn", num_classes=10, in_channels=1, act="relu6", width=4, hidden=8, mean=[0.1], std=[0.3])
    assert units(cnn, "layer") == [["1.0"], ["1.4"], ["1.10"], ["1.12"]]
    # a layer with the BatchNorm, activation and pooling after it; Normalize (no quantizer) alone first
    assert units(cnn, "block") == [["0"], ["1.0", "1.1", "1.2", "1.3"], ["1.4", "1.5", "1.6", "1.7", "1.8", "1.9"],
                                   ["1.10", "1.11"], ["1.12"]]
    res = create_model("resnet20", num_classes=10, in_channels=3, act="relu6", width=4)
    blocks = units(res, "block")
    assert blocks[0] == ["stem.0", "stem.1", "stem.2"] and blocks[-1] == ["head.2"]
    assert [b[0] for b in blocks[1:-1]] == [f"layers.{i}" for i in range(9)]  # each residual block, one unit
    assert blocks[-2] == ["layers.8", "head.0", "head.1"]
    x = torch.rand(2, 3, 16, 16)
    from qrobust.quant.adaround import _run

    for model, x in ((cnn, torch.rand(2, 1, 28, 28)), (res, x)):  # the units compose to the model
        y = x
        for names in units(model.eval(), "block"):
            y = _run(model, names, y)
        assert torch.allclose(y, model(x), atol=1e-6)


def test_qdrop_passes_each_element_unquantized_with_its_probability():
    from qrobust.quant.adaround import _DropActQuant

    q = make_quantizer(QuantizerSpec(bits=2, symmetric=False, fixed_range=(0.0, 1.0)), "act")
    x = torch.rand(20000)
    for p in (0.0, 0.5, 1.0):
        d = _DropActQuant([q], p, torch.Generator().manual_seed(0))
        kept = (q(x) == x).float().mean().item()
        d.remove()
        assert abs(kept - p) < 0.02 or (p == 0.0 and kept < 0.01)
    assert not torch.equal(q(x), x)  # the hooks are gone


def _ptq_pair(trained_small_cnn, mnist_small, bits=2):
    train_split, _ = mnist_small
    float_model = copy.deepcopy(trained_small_cnn)
    quantize_(float_model, QuantConfig(act_bits=None))
    qcfg = QuantConfig(weight_quant=QuantizerSpec(quantizer="adaround", bits=bits, calibrator="mse", per_channel=True),
                       act_quant=QuantizerSpec(bits=4, calibrator="mse", symmetric=False))
    calib = calibration_images(train_split.x, 128, 0)
    return ptq(float_model, qcfg, calib), fold_bn(float_model), calib


def test_fisher_weights_are_the_kl_gradient_of_the_unit_output_plus_one(trained_small_cnn, mnist_small):
    from qrobust.quant.adaround import _output_grads

    model, target, calib = _ptq_pair(trained_small_cnn, mnist_small)
    last = model.get_submodule("1.12")
    g = _output_grads(model, target, last, calib[:8], 4, "cpu")
    assert g.shape == (8, 10) and (g >= 1).all() and (g > 1).any()
    # by hand on the logits: d KL(q || fp) / d logits_q = (softmax(q) - softmax(fp)) / batch
    x = calib[:4].float() / 255
    with torch.no_grad():
        d = (torch.softmax(model(x), 1) - torch.softmax(target(x), 1)) / 4
    assert torch.allclose(g[:4], d.abs() + 1, atol=1e-5)


@pytest.mark.parametrize("kw", [{"granularity": "block", "loss": "fisher"}, {"granularity": "block", "drop_prob": 0.5}])
def test_brecq_and_qdrop_learn_a_rounding_that_lowers_each_blocks_error(trained_small_cnn, mnist_small, kw):
    _, test_split = mnist_small
    model, target, calib = _ptq_pair(trained_small_cnn, mnist_small)
    near = copy.deepcopy(model)
    report = adaround_(model, target, calib, iters=200, seed=0, **kw)
    assert [r["layer"].split(",")[0] for r in report] == ["1.0", "1.4", "1.10", "1.12"]
    assert sum(r["loss_adaround"] for r in report) < sum(r["loss_nearest"] for r in report), report
    x = test_split.x.float() / 255
    with torch.no_grad():
        acc = [(m(x).argmax(1) == test_split.y).float().mean().item() * 100 for m in (near, model)]
    assert acc[1] > acc[0], acc
