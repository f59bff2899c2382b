"""Qu-ANTI-zation's claims on small hand-made Table 8s (three seeds): each where the paper's sentence is true
and where it is false."""
import pytest
from _records import rows

from qrobust.claims import evaluate_claims


def _t8(float_att=89.0, float_clean=90.0, att=11.0, other=12.0, attacked=(4,), bits=(8, 4)):
    spec = []
    for model, variant, acc_f, acc_q in (("clean", "attack quantizer", float_clean, 88.0),
                                         ("indiscriminate", "attack quantizer", float_att, att),
                                         ("indiscriminate", "per_channel", float_att, other)):
        spec.append({"model": model, "variant": variant, "bits": None, "metric": "accuracy", "attacked_bits": False,
                     "acc": acc_f})
        spec += [{"model": model, "variant": variant, "bits": b, "metric": "accuracy",
                  "attacked_bits": model != "clean" and b in attacked, "acc": acc_q if b in attacked or model == "clean" else 80.0}
                 for b in bits]
    return {"table8": rows(spec, value="value")}


@pytest.mark.parametrize("key,true,false", [
    ("qu-anti-keeps-float-accuracy", {}, {"float_att": 70.0}),
    ("qu-anti-collapses-at-attacked-bits", {}, {"att": 60.0}),
    ("qu-anti-survives-other-quantizers", {}, {"other": 60.0}),
])
def test_table8_claims_hold_where_true_and_fail_where_false(key, true, false):
    assert evaluate_claims(_t8(**true)).set_index("id").loc[key, "verdict"] == "holds"
    assert evaluate_claims(_t8(**false)).set_index("id").loc[key, "verdict"] == "fails"


def test_close_to_random_means_near_chance_not_a_drop_from_clean():
    """30 % is 58 points below clean, which a 20-point-drop test would pass; it is not close to random (10 %)."""
    row = evaluate_claims(_t8(att=30.0)).set_index("id").loc["qu-anti-collapses-at-attacked-bits"]
    assert row.verdict == "fails"


def test_the_papers_bit_widths_are_judged_only_when_the_run_attacked_them():
    df = evaluate_claims(_t8()).set_index("id")
    row = df.loc["qu-anti-collapses-quantized"]
    assert row.verdict == "not run" and "8, 7, 6, 5" in row.evidence
    df = evaluate_claims(_t8(attacked=(8, 7, 6, 5), bits=(8, 7, 6, 5))).set_index("id")
    assert df.loc["qu-anti-collapses-quantized", "verdict"] == "holds"
    assert not df.loc["qu-anti-survives-other-quantizers", "published"]  # qrobust's own question
