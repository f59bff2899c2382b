import math

import pandas as pd
import pytest

from qrobust.papers.dq.table1 import build, method_label


def _m(method, beta, bits, seed, clean, adv):
    return {"run": {"method": method, "beta": beta, "act_bits": bits, "seed": seed},
            "clean_acc": clean, "adv_acc": adv, "n": 100, "attack": {"name": "fgsm", "eps": 0.1}}


METRICS = [
    _m("vanilla", 0.0, None, 0, 90.0, 40.0), _m("vanilla", 0.0, None, 1, 92.0, 44.0),
    _m("vanilla", 0.0, 1, 0, 80.0, 30.0), _m("vanilla", 0.0, 1, 1, 82.0, 50.0),
    _m("dq", 1e-3, None, 0, 91.0, 45.0), _m("dq", 1e-3, None, 1, 91.0, 45.0),
    _m("dq", 1e-3, 1, 0, 90.0, 47.0), _m("dq", 1e-3, 1, 1, 90.0, 49.0),
]
METHODS = [{"name": "vanilla", "beta": 0.0}, {"name": "dq", "beta": 1e-3}]


def test_mean_std_gain_and_best_over_seeds(tmp_path):
    out = tmp_path / "table1.csv"
    build(METRICS, out, act_bits=[None, 1], methods=METHODS)
    t = pd.read_csv(out).set_index(["Method", "Acc."])
    s = pd.read_csv(tmp_path / "table1_std.csv").set_index(["Method", "Acc."])
    assert t.loc[("Vanilla", "clean"), "Full Prec."] == 91.0
    assert t.loc[("Vanilla", "adv."), "1"] == 40.0
    # gain per seed: 30 - 40 = -10 and 50 - 44 = +6 -> mean -2, std sqrt(128)
    assert t.loc[("Vanilla", "adv."), "Quantize Gain"] == -2.0
    assert s.loc[("Vanilla", "adv."), "Quantize Gain"] == pytest.approx(math.sqrt(128), abs=0.01)
    # best per seed: 40 and 50 -> 45
    assert t.loc[("Vanilla", "adv."), "Best Acc."] == 45.0
    assert t.loc[("DQ (1e-3)", "adv."), "Quantize Gain"] == 3.0
    assert s.loc[("Vanilla", "clean"), "Full Prec."] == pytest.approx(math.sqrt(2), abs=0.01)
    assert math.isnan(t.loc[("Vanilla", "clean"), "Quantize Gain"])
    long = pd.read_csv(tmp_path / "table1_long.csv")
    assert len(long) == 16 and set(long.metric) == {"clean", "adv"}
    assert "| Vanilla" in (tmp_path / "table1.md").read_text()


def test_missing_evaluation_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"DQ \(1e-3\) at 1 bits"):
        build(METRICS[:-2], tmp_path / "t.csv", act_bits=[None, 1], methods=METHODS)
    assert not (tmp_path / "t.csv").exists()


@pytest.mark.parametrize("beta,label", [(3e-4, "DQ (3e-4)"), (6e-4, "DQ (6e-4)"), (1e-3, "DQ (1e-3)"), (2.5e-4, "DQ (2.5e-4)")])
def test_labels_match_the_paper(beta, label):
    assert method_label("dq", beta) == label
