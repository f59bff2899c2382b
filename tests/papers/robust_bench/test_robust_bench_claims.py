"""The robustness benchmark's claims on small hand-made Table 5s (three seeds, per-image outcomes): each where
the paper's sentence is true and where it is false."""
import pytest
from _records import rows

from qrobust.claims import evaluate_claims
from qrobust.papers.robust_bench.claims import IMAGENET_C, INTERPOLATION

MODELS = [("float", None, None), ("ptq", 4, 4), ("ptq", 2, 4)]


def _t5(clean=None, cor=None, worst=None, system=None, corruption_acc=None, resize=None):
    """One float model and one scheme at W4A4 and W2A4. clean, cor (mean corruption accuracy), worst, system (mean
    system-noise accuracy): {bits label: %}; corruption_acc: {corruption: %} for every model; resize: {variant: %}."""
    clean = {"float": 90.0, "W4A4": 88.0, "W2A4": 70.0} | (clean or {})
    cor = {"float": 72.0, "W4A4": 66.0, "W2A4": 49.0} | (cor or {})
    worst = {"float": 20.0, "W4A4": 30.0, "W2A4": 40.0} | (worst or {})
    system = {"float": 88.0, "W4A4": 84.0, "W2A4": 62.0} | (system or {})
    spec = []
    for name, w, a in MODELS:
        key = "float" if w is None else f"W{w}A{a}"
        base = {"model": name, "weight_bits": w, "act_bits": a, "severity": None, "variant": None, "eps": None,
                "reference": False, "masking": ""}
        spec.append({**base, "family": "clean", "noise": "clean", "acc": clean[key]})
        spec.append({**base, "family": "worst", "noise": "worst-case", "eps": 0.1, "acc": worst[key]})
        for c in IMAGENET_C:
            acc = (corruption_acc or {}).get(c, cor[key])
            spec.append({**base, "family": "corruption", "noise": c, "severity": 3, "acc": acc})
        for v in INTERPOLATION:
            acc = (resize or {}).get(v, system[key])
            spec.append({**base, "family": "system", "noise": "resize", "variant": v, "acc": acc})
    return {"table5": rows(spec)}


@pytest.mark.parametrize("key,true,false", [
    ("quantized-more-adversarially-robust", {}, {"worst": {"W4A4": 5.0, "W2A4": 5.0}}),
    # 80 % of clean vs 75 % and 70 %; false: the quantized models keep as large a share as float
    ("quantized-less-corruption-robust", {}, {"cor": {"W4A4": 74.0, "W2A4": 60.0}}),
    ("more-bits-more-natural-robustness", {}, {"cor": {"W4A4": 57.0}}),
    ("more-bits-less-adversarial-robustness", {}, {"worst": {"W4A4": 45.0}}),
    # drops: float 2, W4A4 4, W2A4 8; false: W4A4 loses more than W2A4
    ("more-bits-more-systematic-robustness", {}, {"system": {"W4A4": 70.0}}),
    ("systematic-noise-hurts-quantized-more", {}, {"system": {"float": 80.0}}),
])
def test_table5_claims_hold_where_true_and_fail_where_false(key, true, false):
    assert evaluate_claims(_t5(**true)).set_index("id").loc[key, "verdict"] == "holds"
    assert evaluate_claims(_t5(**false)).set_index("id").loc[key, "verdict"] == "fails"


def test_corruption_accuracy_is_compared_at_matched_clean_accuracy():
    """W2A4's clean accuracy collapsed (70 %) and its corrupted one with it (56 %): 80 % of clean, as float's 72 of
    90. Absolute accuracy would call it corruption-fragile; relative accuracy does not."""
    t = _t5(cor={"W4A4": 70.4, "W2A4": 56.0})  # 80 % of clean everywhere
    row = evaluate_claims(t).set_index("id").loc["quantized-less-corruption-robust"]
    assert row.verdict == "fails" and abs(row.effect) < 0.2


def test_corruption_ranking_over_imagenet_c():
    order = {c: 70.0 for c in IMAGENET_C} | {"impulse_noise": 40.0, "glass_blur": 45.0, "brightness": 85.0}
    key = "impulse-glass-worst-brightness-least"
    assert evaluate_claims(_t5(corruption_acc=order)).set_index("id").loc[key, "verdict"] == "holds"
    reversed_ = order | {"impulse_noise": 85.0, "brightness": 40.0}
    assert evaluate_claims(_t5(corruption_acc=reversed_)).set_index("id").loc[key, "verdict"] == "fails"


def test_interpolation_claims_measure_harm_against_the_unresized_images():
    resize = {v: 88.0 for v in INTERPOLATION} | {"pil-nearest": 60.0, "cv2-nearest": 62.0, "pil-lanczos": 80.0,
                                                 "cv2-lanczos4": 80.0}
    t = _t5(clean={"float": 90.0, "W4A4": 90.0, "W2A4": 90.0}, resize=resize)
    df = evaluate_claims(t).set_index("id")
    assert df.loc["nearest-interpolation-most-harmful", "verdict"] == "holds"
    assert df.loc["bilinear-cubic-area-least-harmful", "verdict"] == "holds"
    t = _t5(clean={"float": 90.0, "W4A4": 90.0, "W2A4": 90.0}, resize=resize | {"pil-nearest": 88.0, "cv2-nearest": 88.0,
                                                                                 "pil-bicubic": 50.0, "cv2-cubic": 50.0})
    df = evaluate_claims(t).set_index("id")
    assert df.loc["nearest-interpolation-most-harmful", "verdict"] == "fails"
    assert df.loc["bilinear-cubic-area-least-harmful", "verdict"] == "fails"


def test_without_worst_case_rows_the_adversarial_claims_are_not_run():
    t = _t5()
    t["table5"] = t["table5"][t["table5"].family != "worst"]
    row = evaluate_claims(t).set_index("id").loc["quantized-more-adversarially-robust"]
    assert row.verdict == "not run" and "never one attack" in row.evidence
