"""Li et al.'s claims on small hand-made Table 7s (three seeds, worst-case rows): each where the paper's sentence
is true and where it is false, comparing like with like."""
import pytest
from _records import rows

from qrobust.claims import evaluate_claims

SCHEMES = [  # name, init, mode, robust, weight quantizer, act quantizer
    ("float-ptq-uniform", "float", "ptq", "none", "uniform", "uniform"),
    ("float-ptq-pwlq", "float", "ptq", "none", "pwlq", "uniform"),
    ("adv-ptq-uniform", "adv", "ptq", "none", "uniform", "uniform"),
    ("float-ptq-finetune", "float", "ptq", "finetune", "uniform", "uniform"),
    ("float-qat-pact", "float", "qat", "none", "uniform", "pact"),
    ("float-qat-pact-adv", "float", "qat", "during", "uniform", "pact"),
]


def _t7(acc: dict):
    """acc: {(scheme, target): worst-case %}; unlisted: 30 for weights, 40 for activations."""
    spec = []
    for name, init, mode, robust, wq, aq in SCHEMES:
        for target in ("w", "a"):
            spec.append({"scheme": name, "init": init, "mode": mode, "robust": robust, "target": target, "bits": 4,
                         "weight_quantizer": wq if target == "w" else None, "act_quantizer": aq if target == "a" else None,
                         "attack": "worst", "eps": 0.1, "masking": "",
                         "acc": acc.get((name, target), 30.0 if target == "w" else 40.0)})
    return {"table7": rows(spec)}


HIGH = {(s, t): 60.0 for s, t in [("adv-ptq-uniform", "w"), ("adv-ptq-uniform", "a"), ("float-ptq-finetune", "w"),
                                  ("float-ptq-finetune", "a"), ("float-qat-pact-adv", "w"), ("float-qat-pact-adv", "a")]}


@pytest.mark.parametrize("key,false", [
    ("activation-quantization-more-robust", {(s[0], "a"): 20.0 for s in SCHEMES}),
    ("robust-init-helps", {("adv-ptq-uniform", "w"): 10.0, ("adv-ptq-uniform", "a"): 10.0}),
    ("adversarial-qat-helps", {("float-qat-pact-adv", "w"): 10.0, ("float-qat-pact-adv", "a"): 10.0}),
    ("partial-data-finetune-helps", {("float-ptq-finetune", "w"): 10.0, ("float-ptq-finetune", "a"): 10.0}),
])
def test_table7_claims_hold_where_true_and_fail_where_false(key, false):
    assert evaluate_claims(_t7(HIGH)).set_index("id").loc[key, "verdict"] == "holds"
    assert evaluate_claims(_t7(HIGH | false)).set_index("id").loc[key, "verdict"] == "fails"


def test_fine_tuning_is_compared_with_its_own_quantizers_only():
    """PWLQ weights of a float init at 90 % would lift a pooled "PTQ without fine-tuning" group; matched like with
    like, the fine-tuned uniform scheme meets the uniform one alone."""
    row = evaluate_claims(_t7(HIGH | {("float-ptq-pwlq", "w"): 90.0})).set_index("id").loc["partial-data-finetune-helps"]
    assert row.verdict == "holds" and "float-ptq-finetune vs float-ptq-uniform (w4): 60.0 vs 30.0" in row.evidence
