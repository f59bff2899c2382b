"""OHQ steps on a trained tiny model: sensitivity, allocation from real profiles, deployment on INT8 kernels."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from qrobust.papers.ohq import plans as jobs
from qrobust.papers.ohq.deploy import build_mixed, correct, deploy_all
from qrobust.papers.ohq.latency import profile_model
from qrobust.papers.ohq.sensitivity import kl_sensitivity, layer_ranges, sensitivity_job
from qrobust.quant import QuantConfig, quantize_
from qrobust.quant.kernels import KernelLayer
from qrobust.quant.precision import ordered
from qrobust.quant.ptq import fold_bn

OHQ = {"precisions": ["int4", "fp32", "int8", "int2"], "measured_only": False, "engine": "x86", "calib_images": 64,
       "calibrator": "minmax", "random_plans": 2, "latency": {"batch_size": 8, "warmup": 1, "repeats": 3}}


@pytest.fixture(scope="module")
def float_model(trained_small_cnn):
    m = fold_bn(trained_small_cnn)
    quantize_(m, QuantConfig(act_bits=None))  # the fixture trained with 4-bit ReLU6; here it is the float model
    return m


@pytest.fixture(scope="module")
def sens(float_model, mnist_small):
    return sensitivity_job(float_model, mnist_small[0].x, OHQ, seed=0, progress=False)


@pytest.fixture(scope="module")
def profile(float_model):
    return profile_model(float_model, [1, 28, 28], OHQ, device="cpu")


def test_precisions_are_ordered_high_to_low():
    assert ordered(["int4", "fp32", "int8", "int2"]) == ["fp32", "int8", "int4", "int2"]


def test_sensitivity_is_zero_at_fp32_and_grows_as_bits_shrink(sens):
    s = np.array(sens["sensitivity"])
    assert sens["precisions"] == ["fp32", "int8", "int4", "int2"]
    assert s.shape == (4, 4) and np.all(s[:, 0] == 0)
    assert np.all(s[:, 1:] > 0)
    # fewer bits hurt more, layer by layer (int8 is nearly lossless, int2 is not)
    assert np.all(s[:, 1] < s[:, 2]) and np.all(s[:, 2] < s[:, 3])
    assert json.loads(json.dumps(sens)) == sens  # a JSON file as-is


def test_sensitivity_is_deterministic_for_a_seed(float_model, mnist_small, sens):
    again = sensitivity_job(float_model, mnist_small[0].x, OHQ, seed=0, progress=False)
    assert again["sensitivity"] == sens["sensitivity"]
    other = sensitivity_job(float_model, mnist_small[0].x, OHQ, seed=1, progress=False)
    assert other["sensitivity"] != sens["sensitivity"]  # another calibration batch


def test_kl_of_a_layer_matches_running_the_simulated_model_by_hand(float_model, mnist_small, sens):
    import copy

    from qrobust.papers.ohq.sensitivity import qparams_for
    from qrobust.quant.graph import set_submodule
    from qrobust.quant.simulate import simulate_layer

    x = mnist_small[0].x[:32].float() / 255
    layers = sens["layers"]
    ranges = layer_ranges(float_model, x, layers)
    got = kl_sensitivity(float_model, x, layers, ["int4"], ranges, progress=False)[1, 0]
    m = copy.deepcopy(float_model)
    set_submodule(m, layers[1], simulate_layer(m.get_submodule(layers[1]), qparams_for(ranges[layers[1]], 4)))
    p, q = torch.softmax(float_model(x), 1), torch.log_softmax(m(x), 1)
    assert got == pytest.approx((p * (p.log() - q)).sum(1).mean().item(), rel=1e-4)


def test_allocation_from_a_real_profile_meets_its_budget_and_beats_random(profile, sens):
    out = jobs.allocate(profile, sens, {"name": "half", "latency": 0.5}, n_random=2, seed=0)
    prob = jobs.problem(profile, sens)
    alloc = out["allocation"]
    assert alloc["status"] == "Optimal"
    assert alloc["latency"] <= out["absolute"]["latency"] + 1e-9
    assert len(out["random"]) == 2
    for plan, s in zip(out["random"], out["random_sensitivity"]):
        assert jobs.plan_cost(prob, plan, "latency") <= out["absolute"]["latency"] + 1e-9
        assert alloc["objective"] <= s + 1e-12  # the LP optimum is never worse than a feasible random plan


def test_an_infeasible_budget_is_reported_with_the_smallest_feasible_one(profile, sens, capsys):
    out = jobs.allocate(profile, sens, {"name": "never", "latency_ms": 1e-6}, n_random=2, seed=0)
    assert out["allocation"]["status"] == "Infeasible" and out["allocation"]["plan"] is None
    assert out["random"] == []
    smallest = out["smallest_feasible"]["latency"]["absolute"]
    prob = jobs.problem(profile, sens)
    assert smallest == pytest.approx(min(prob.latency.min(1).sum(), smallest))
    err = capsys.readouterr().err
    assert "budget 'never' is infeasible" in err and "smallest feasible: latency" in err
    # the smallest feasible budget really is feasible
    again = jobs.allocate(profile, sens, {"name": "ok", "latency_ms": smallest * (1 + 1e-6)}, n_random=0, seed=0)
    assert again["allocation"]["status"] == "Optimal"


def test_absolute_and_fraction_budgets(profile, sens):
    prob = jobs.problem(profile, sens)
    lo = jobs.budget_values(prob, {"name": "a", "latency": 0.0})["latency"]
    hi = jobs.budget_values(prob, {"name": "a", "latency": 1.0})["latency"]
    assert lo == pytest.approx(prob.latency[:, -1].sum()) and hi == pytest.approx(prob.latency[:, 0].sum())
    assert jobs.budget_values(prob, {"name": "b", "size_kb": 2.0}) == {"latency": None, "size": 2048.0}


def test_deployed_int8_runs_on_int8_kernels_and_keeps_accuracy(float_model, sens, mnist_small):
    _, test = mnist_small
    layers = sens["layers"]
    int8 = build_mixed(float_model, dict.fromkeys(layers, "int8"), sens["ranges"], "cpu")
    fp32 = build_mixed(float_model, dict.fromkeys(layers, "fp32"), sens["ranges"], "cpu")
    assert all(isinstance(int8.get_submodule(n), KernelLayer) for n in layers)
    assert sum(isinstance(m, KernelLayer) for m in fp32.modules()) == 0
    def accuracy(m):
        return 100.0 * correct(m, test.x, test.y, "cpu").float().mean().item()

    base = accuracy(float_model)
    assert accuracy(fp32) == base
    assert abs(accuracy(int8) - base) <= 2.0
    int2 = build_mixed(float_model, dict.fromkeys(layers, "int2"), sens["ranges"], "cpu")
    assert accuracy(int2) < base - 10


def test_deploy_all_measures_every_plan(float_model, sens, profile, mnist_small):
    _, test = mnist_small
    layers = sens["layers"]
    plans = jobs.uniform_plans(layers, sens["precisions"])
    assert list(plans) == ["uniform-fp32", "uniform-int8", "uniform-int4"]
    plans["same-as-int8"] = dict(plans["uniform-int8"])
    res = deploy_all(float_model, plans, sens["ranges"], profile, test.x[:100], test.y[:100], device="cpu",
                     batch_size=8, warmup=1, repeats=3)
    for pid, r in res.items():
        assert r["latency_ms"] > 0 and 0 <= r["accuracy"] <= 100
    assert res["same-as-int8"] == res["uniform-int8"]  # one plan, built and timed once
    assert res["uniform-fp32"]["latency_model_source"] == "measured"
    assert res["uniform-int4"]["latency_model_source"] == "cost model for int4"
    assert res["uniform-int4"]["size_bytes"] < res["uniform-int8"]["size_bytes"] < res["uniform-fp32"]["size_bytes"]
    assert res["uniform-int4"]["bitops"] < res["uniform-int8"]["bitops"] < res["uniform-fp32"]["bitops"]


def test_pareto_front_keeps_only_undominated_plans():
    from qrobust.papers.ohq.pareto import pareto_front

    df = pd.DataFrame({"lat": [1.0, 2.0, 3.0, 1.5, 2.5], "acc": [80.0, 90.0, 95.0, 70.0, 89.0]})
    front = pareto_front(df, "lat", "acc")
    assert sorted(front.index) == [0, 1, 2]
