"""Per-layer latency profile: layer shapes and MACs, measured vs modelled precisions, the cost-model fit."""
from __future__ import annotations

import json

import pytest
import torch

from qrobust.models import create_model
from qrobust.papers.ohq.latency import bitops, bytes_moved, layer_infos, profile_layers, size_bytes, time_kernel_only
from qrobust.quant.simulate import LayerQParams
from qrobust.runtime.hardware import hardware_name

TIMING_KEYS = {"latency_ms", "spread_ms", "predicted_ms", "cost_model_ms"}


def _small_cnn():
    torch.manual_seed(0)
    return create_model("small_cnn", num_classes=10, in_channels=1, act="relu6", mean=[0.13], std=[0.3],
                        width=16, hidden=128).eval()


def _profile(model, **kw):
    return profile_layers(model, torch.zeros(2, 1, 28, 28), ["fp32", "int8", "int4"], device="cpu",
                          batch_size=4, warmup=1, repeats=3, **kw)


@pytest.fixture(scope="module")
def profiles():
    model = _small_cnn()
    return _profile(model), _profile(model)


def test_layer_infos_small_cnn():
    infos = layer_infos(_small_cnn(), torch.zeros(2, 1, 28, 28))
    assert [i.kind for i in infos] == ["conv", "conv", "linear", "linear"]
    first = infos[0]
    # 16 output channels x 28 x 28 positions, each a 1 x 3 x 3 dot product
    assert first.macs == 16 * 28 * 28 * 1 * 3 * 3 == 112896
    assert first.in_shape == (1, 28, 28) and first.out_shape == (16, 28, 28) and first.weight_shape == (16, 1, 3, 3)
    assert first.stride == (1, 1) and first.padding == (1, 1) and first.groups == 1 and not first.has_bias
    assert infos[1].macs == 32 * 14 * 14 * 16 * 9
    assert infos[2].macs == 512 * 128 and infos[2].params == 512 * 128 + 128 and infos[2].stride is None
    assert infos[3].out_shape == (10,)
    assert json.loads(json.dumps(first.to_dict())) == first.to_dict()


def test_layer_infos_resnet20_order():
    model = create_model("resnet20", num_classes=10, in_channels=3, act="relu6")
    infos = layer_infos(model, torch.zeros(2, 3, 32, 32))
    assert len(infos) == 19 + 2 + 1  # 19 3x3 convs, 2 projection shortcuts, the classifier
    assert infos[0].name == "stem.0" and infos[-1].name == "head.2"
    assert [i.name for i in infos[7:10]] == ["layers.3.conv1", "layers.3.conv2", "layers.3.shortcut.0"]


def test_counting_conventions():
    info = layer_infos(_small_cnn(), torch.zeros(2, 1, 28, 28))[2]  # linear 512 -> 128 with bias
    assert bitops(info, "fp32") == 65536 * 32 * 32
    assert bitops(info, "int4") == 65536 * 16
    # int: K-bit weights and inputs, 8-bit (requantized) outputs
    assert bytes_moved(info, "int4", 4) == 65536 * 0.5 + 4 * (512 * 0.5 + 128 * 1)
    assert bytes_moved(info, "fp32", 4) == 65536 * 4 + 4 * (512 + 128) * 4
    assert size_bytes(info, "int8") == 65536 + 128 * 4 + 128 * 4  # weights, fp32 scales, fp32 bias
    assert size_bytes(info, "fp16") == 65536 * 2 + 128 * 4


def test_profile_measures_and_models(profiles):
    prof, _ = profiles
    json.dumps(prof)  # JSON-serialisable as it stands
    assert prof["precisions"] == ["fp32", "int8", "int4"] and prof["engine"] == "x86"
    assert prof["batch_size"] == 4 and prof["repeats"] == 3 and prof["hardware"] == hardware_name("cpu")
    assert len(prof["layers"]) == 4
    for layer in prof["layers"]:
        assert all(layer["latency_ms"][p] > 0 for p in prof["precisions"])
        assert layer["source"] == {"fp32": "measured", "int8": "measured", "int4": "cost_model"}
        assert set(layer["spread_ms"]) == {"fp32", "int8"} and set(layer["predicted_ms"]) == {"fp32", "int8"}
        assert set(layer["cost_model_ms"]) == {"int4"}
        lo, hi = layer["spread_ms"]["fp32"]
        assert lo <= layer["latency_ms"]["fp32"] <= hi
        assert layer["bitops"]["int4"] < layer["bitops"]["int8"] < layer["bitops"]["fp32"]
        # anchored on the layer's measured int8 and scaled down by the model: never above it
        assert layer["latency_ms"]["int4"] <= layer["latency_ms"]["int8"]
    fit = prof["cost_model"]
    assert fit["n_points"] == 8 and fit["fitted_on"] == ["fp32", "int8"] and fit["predicts"] == ["int4"]
    assert min(fit["a_ms_per_bitop"], fit["b_ms_per_byte"], fit["c_ms"]) >= 0
    assert fit["r2"] is None or fit["r2"] <= 1.0
    assert fit["anchored"] == {"int4": "int8"}


def test_profile_unanchored_uses_the_fit():
    prof = _profile(_small_cnn(), anchor=False)
    for layer in prof["layers"]:
        assert layer["latency_ms"]["int4"] == layer["cost_model_ms"]["int4"]


def test_measured_only_rejects_modelled_precisions():
    with pytest.raises(ValueError) as err:
        _profile(_small_cnn(), measured_only=True)
    msg = str(err.value)
    assert "\n" not in msg and "int4" in msg and "engine x86" in msg
    assert "drop it from ohq.precisions" in msg and "ohq.measured_only: false" in msg


def test_unknown_precision_rejected_before_timing():
    with pytest.raises(ValueError, match="unknown precision 'int16'"):
        profile_layers(_small_cnn(), torch.zeros(2, 1, 28, 28), ["fp32", "int16"], device="cpu")


def test_profile_deterministic_outside_timings(profiles):
    a, b = profiles

    def strip(p):
        return {**{k: v for k, v in p.items() if k != "cost_model" and k != "layers"},
                "layers": [{k: v for k, v in L.items() if k not in TIMING_KEYS} for L in p["layers"]]}

    assert strip(a) == strip(b)


def test_time_kernel_only():
    module = _small_cnn()[1][4]
    qp = LayerQParams.from_ranges(8, -1.0, 3.0, -2.0, 2.0)
    t = time_kernel_only(module, qp, 4, "x86", in_shape=(16, 14, 14), warmup=1, repeats=3)
    assert t["repeats"] == 3 and t["median_ms"] > 0
