"""DQ's claims on small hand-made tables (three seeds, per-image outcomes): each where the paper's sentence
is true and where it is false; one table goes through its builder and back through the CSV reader."""
import pandas as pd
import pytest
from _records import _m, rows, worst_record

from qrobust.claims import evaluate_claims


def _verdict(tables, key):
    return evaluate_claims(tables).set_index("id").loc[key, "verdict"]


def _table1(fp_worst=60.0, q_worst=20.0, dq_worst=45.0, dq_clean=90.0, van_clean=90.0, betas=(1e-3,)):
    spec = []
    for bits in (None, 2, 4):
        spec += [{"method": "vanilla", "beta": 0.0, "act_bits": bits, "metric": "worst",
                  "acc": fp_worst if bits is None else q_worst, "masking": ""},
                 {"method": "vanilla", "beta": 0.0, "act_bits": bits, "metric": "clean", "acc": van_clean, "masking": ""}]
        for b in betas:
            spec += [{"method": "dq", "beta": b, "act_bits": bits, "metric": "worst",
                      "acc": fp_worst if bits is None else dq_worst, "masking": ""},
                     {"method": "dq", "beta": b, "act_bits": bits, "metric": "clean", "acc": dq_clean, "masking": ""}]
    return {"table1": rows(spec, value="value")}


@pytest.mark.parametrize("key,true,false", [
    ("dq-vanilla-quantized-less-robust", {}, {"fp_worst": 20.0, "q_worst": 60.0}),
    ("dq-improves-quantized-robustness", {}, {"dq_worst": 15.0}),
    ("dq-keeps-clean-accuracy", {}, {"dq_clean": 80.0}),
])
def test_table1_claims_hold_where_true_and_fail_where_false(key, true, false):
    assert _verdict(_table1(**true), key) == "holds"
    assert _verdict(_table1(**false), key) == "fails"


def test_the_best_of_three_betas_pays_for_the_choice():
    """One beta of three 6 points better than vanilla: the effect is its gain, and Bonferroni's price for choosing
    it shows in a lower bound below what the same beta alone would get."""
    def spec(betas):
        s = [{"method": "vanilla", "beta": 0.0, "act_bits": 2, "metric": "worst", "acc": {0: 20.0, 1: 26.0, 2: 23.0}}]
        s += [{"method": "dq", "beta": b, "act_bits": 2, "metric": "worst",
               "acc": {0: 26.0, 1: 32.0, 2: 29.0} if b == 1e-3 else {0: 20.0, 1: 26.0, 2: 23.0}} for b in betas]
        return {"table1": rows([c | {"masking": ""} for c in s], value="value")}
    three = evaluate_claims(spec((3e-4, 6e-4, 1e-3))).set_index("id").loc["dq-improves-quantized-robustness"]
    one = evaluate_claims(spec((1e-3,))).set_index("id").loc["dq-improves-quantized-robustness"]
    assert three.effect == pytest.approx(6.0, abs=1e-3) and one.effect == pytest.approx(6.0, abs=1e-3)
    assert three.ci_low < one.ci_low and three.p > one.p


def test_table1_claims_read_the_builders_csv(tmp_path):
    """Through the table builder and the CSV reader: raw method/beta, empty bits, per-image outcomes as text."""
    from qrobust.papers.dq.table1 import build
    from qrobust.tables._base import read_long

    metrics, worst = [], []
    for seed in (0, 1, 2):
        for method, beta in (("vanilla", 0.0), ("dq", 1e-3)):
            for bits in (None, 2):
                m = _m(method, beta, bits, seed, 90.0, 60.0)
                w = 60.0 if bits is None else (20.0 if method == "vanilla" else 50.0)
                from _records import per_image
                m.update(images=per_image(90.0, 100, seed)["images"],
                         correct={"clean": per_image(90.0, 100, seed)["correct"], "adv": per_image(60.0, 100, seed)["correct"]})
                metrics.append(m)
                rec = worst_record(m["run"], w)
                rec.update(images="0-99", worst_correct=per_image(w, 100, seed)["correct"])
                worst.append(rec)
    build(metrics, tmp_path / "t1.csv", act_bits=[None, 2], methods=[{"name": "vanilla", "beta": 0.0},
                                                                     {"name": "dq", "beta": 1e-3}], worst=worst)
    long = read_long(tmp_path / "t1_long.csv")
    assert long.correct.str.fullmatch("[01]+").all() and long.act_bits.isna().sum() == 18
    df = evaluate_claims({"table1": long}).set_index("id")
    assert df.loc["dq-vanilla-quantized-less-robust", "verdict"] == "holds"
    assert df.loc["dq-vanilla-quantized-less-robust", "effect"] == pytest.approx(40.0)
    assert df.loc["dq-improves-quantized-robustness", "verdict"] == "holds"
    ci = pd.read_csv(tmp_path / "t1_ci.csv")
    assert {"Method", "Acc.", "Bits", "mean", "low", "high", "n_seeds", "n_images"} <= set(ci.columns)
    assert "±" in (tmp_path / "t1.md").read_text()


def _table2(gain=20.0, fs_gain=20.0, pgd_margin=10.0, adv=60.0, rfgsm=70.0, pgd_train=50.0, normal=20.0, fs=25.0):
    spec = []
    for tech, adv_kind, defense, base in (("normal", "none", "none", normal), ("fs", "none", "fs", fs),
                                          ("rfgsm", "rfgsm", "none", rfgsm), ("pgd", "pgd", "none", pgd_train)):
        for method in ("vanilla", "dq"):
            g = (fs_gain if tech == "fs" else gain) if method == "dq" else 0.0
            spec.append({"method": method, "beta": 0.0, "act": "relu6", "act_bits": 4, "adv": adv_kind, "defense": defense,
                         "attack": "worst", "eps": 0.1, "blackbox": False, "acc": base + g, "masking": ""})
    for eps in (0.05, 0.1):
        spec.append({"method": "vanilla", "beta": 0.0, "act": "relu6", "act_bits": 4, "adv": "none", "defense": "none",
                     "attack": "pgd", "eps": eps, "blackbox": False, "acc": 30.0, "masking": ""})
        spec.append({"method": "vanilla", "beta": 0.0, "act": "relu6", "act_bits": 4, "adv": "none", "defense": "none",
                     "attack": "fgsm", "eps": eps, "blackbox": False, "acc": 30.0 + pgd_margin, "masking": ""})
    return {"table2": rows(spec)}


@pytest.mark.parametrize("key,true,false", [
    ("dq-helps-every-defense", {}, {"fs_gain": -10.0}),
    ("pgd-strongest", {}, {"pgd_margin": -15.0}),
    ("adversarial-training-best-defense", {}, {"fs": 75.0}),
    ("rfgsm-beats-pgd-training", {}, {"rfgsm": 40.0}),
])
def test_table2_claims_hold_where_true_and_fail_where_false(key, true, false):
    assert _verdict(_table2(**true), key) == "holds"
    assert _verdict(_table2(**false), key) == "fails"


def _table3(v6=90.0, v1=70.0, d6=90.0, d1=85.0):
    spec = [{"method": m, "beta": 0.0, "act": a, "act_bits": 4, "adv": "none", "defense": "none", "attack": "clean",
             "eps": 0.0, "blackbox": False, "acc": acc, "masking": ""}
            for m, a, acc in (("vanilla", "relu6", v6), ("vanilla", "relu1", v1), ("dq", "relu6", d6), ("dq", "relu1", d1))]
    return {"table3": rows(spec)}


def test_relu1_claim_needs_both_halves():
    assert _verdict(_table3(), "relu1-worse-dq-closes-gap") == "holds"
    assert _verdict(_table3(d1=60.0), "relu1-worse-dq-closes-gap") == "fails"  # DQ widens the gap
    # ReLU1 no worse than ReLU6 under vanilla training: the first half fails, whatever DQ does
    assert _verdict(_table3(v1=92.0, d1=95.0), "relu1-worse-dq-closes-gap") == "fails"


def _table4(white: dict, black: dict):
    spec = []
    for (adv, act, bits, attack), w in white.items():
        for bb, acc in ((False, w), (True, black[(adv, act, bits, attack)])):
            for eps in (0.05, 0.1, 0.2):
                spec.append({"method": "vanilla", "beta": 0.0, "act": act, "act_bits": bits, "adv": adv, "defense": "none",
                             "attack": attack, "eps": eps, "blackbox": bb, "acc": acc, "masking": ""})
    return {"table4": rows(spec)}


MODELS4 = [("pgd", "relu6", 2, "pgd"), ("pgd", "tanh", 2, "pgd"), ("fgsm", "relu6", None, "fgsm"), ("rfgsm", "relu6", None, "fgsm")]


@pytest.mark.parametrize("key,model", [("no-masking-relu6-quantized", MODELS4[0]), ("rfgsm-training-no-masking", MODELS4[3])])
def test_no_masking_claims_read_black_box_against_white_box_accuracy(key, model):
    white = dict.fromkeys(MODELS4, 50.0)
    assert _verdict(_table4(white, dict.fromkeys(MODELS4, 60.0)), key) == "holds"   # transfer weaker: no masking
    black = dict.fromkeys(MODELS4, 60.0) | {model: 30.0}
    assert _verdict(_table4(white, black), key) == "fails"


@pytest.mark.parametrize("key,model", [("tanh-quantized-masks-gradients", MODELS4[1]), ("fgsm-training-masks-gradients", MODELS4[2])])
def test_masking_claims_hold_when_the_transfer_beats_the_white_box_attack(key, model):
    white = dict.fromkeys(MODELS4, 50.0)
    assert _verdict(_table4(white, dict.fromkeys(MODELS4, 60.0) | {model: 20.0}), key) == "holds"
    assert _verdict(_table4(white, dict.fromkeys(MODELS4, 60.0)), key) == "fails"
