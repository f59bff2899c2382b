"""OHQ's claims on small hand-made Table 6s (three seeds): per-image accuracy, and the latency claim over the
timed rounds of the deploy jobs; each where the paper's sentence is true and where it is false."""
import numpy as np
import pytest
from _records import rows

from qrobust.claims import evaluate_claims


def _t6(int8=90.0, fp32=90.0, lp=88.0, rnd=80.0, lp_ms=1.0, int8_ms=1.4, jitter=0.05):
    spec = [{"plan_id": "uniform-fp32", "kind": "uniform", "budget": "", "plan": "a", "acc": fp32, "ms": 2.0},
            {"plan_id": "uniform-int8", "kind": "uniform", "budget": "", "plan": "b", "acc": int8, "ms": int8_ms},
            {"plan_id": "lp-lat50", "kind": "ohq-lp", "budget": "lat50", "plan": "c", "acc": lp, "ms": lp_ms}]
    spec += [{"plan_id": f"rnd{i}-lat50", "kind": "random", "budget": "lat50", "plan": f"r{i}", "acc": rnd, "ms": 1.2}
             for i in range(3)]
    df = rows([{k: v for k, v in c.items() if k != "ms"} for c in spec], value="accuracy")
    rng = np.random.default_rng(0)
    ms = {c["plan_id"]: c["ms"] for c in spec}
    df["latency_times_ms"] = [" ".join(repr(float(v)) for v in ms[p] * (1 + jitter * rng.standard_normal(30)))
                              for p in df.plan_id]
    return {"table6": df}


@pytest.mark.parametrize("key,true,false", [
    ("int8-keeps-fp32-accuracy", {}, {"int8": 85.0}),
    ("lp-beats-random-allocations", {}, {"lp": 70.0}),
    ("lp-faster-than-int8", {}, {"lp_ms": 1.6}),
])
def test_table6_claims_hold_where_true_and_fail_where_false(key, true, false):
    assert evaluate_claims(_t6(**true)).set_index("id").loc[key, "verdict"] == "holds"
    assert evaluate_claims(_t6(**false)).set_index("id").loc[key, "verdict"] == "fails"


def test_latency_gain_is_measured_against_int8_not_fp32_and_noted_small_below_15_percent():
    row = evaluate_claims(_t6(lp_ms=1.3)).set_index("id").loc["lp-faster-than-int8"]  # 7 % faster than INT8
    assert row.verdict == "holds" and "small" in row.note and 5 < row.effect < 9
    assert row.n_images == 90  # 30 timed rounds in each of three seeds' deploy jobs
