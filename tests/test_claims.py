"""The claim engine: the verdict rule on hand-made intervals, Holm's adjustment over a run, the one-seed cap,
what "not run" means, the report's columns and order. Each paper's claims are tested in tests/papers/."""
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from _records import rows

from qrobust.claims import CLAIMS, COLUMNS, NONINFERIORITY, PAPERS, RANKING, SUPERIORITY, Claim, Interval, evaluate_claims, interval, judge
from qrobust.evidence import Part, combine, difference, ratio, result


def _claim(kind=SUPERIORITY, delta=5.0, training=True) -> Claim:
    return Claim("P", "src", "text", (), lambda t: {}, "", kind, delta, training)


def _iv(low, high, effect=None, seeds=3) -> Interval:
    return Interval((low + high) / 2 if effect is None else effect, low, high, 0.001, seeds, 100, seeds == 1, None)


@pytest.mark.parametrize("low,high,p_adj,verdict,note", [
    (2.0, 9.0, 0.001, "holds", ""),
    (0.5, 3.0, 0.001, "holds", "small"),            # on the claimed side, but below the effect of interest
    (-1.0, 4.0, 0.3, "fails", ""),                  # excludes an effect of 5 points
    (-8.0, -2.0, 0.9, "fails", "reversed"),
    (-2.0, 12.0, 0.4, "inconclusive", ""),
    (0.5, 12.0, 0.04, "inconclusive", "Holm"),       # above 0 alone, not after the run's correction
])
def test_superiority_verdicts(low, high, p_adj, verdict, note):
    v, n = judge(_claim(), _iv(low, high), p_adj)
    assert v == verdict and (note in n if note else n == "")


@pytest.mark.parametrize("low,high,verdict", [(-0.5, 2.0, "holds"), (-3.0, -1.5, "fails"), (-2.0, 1.0, "inconclusive")])
def test_non_inferiority_holds_above_minus_the_margin_and_fails_below_it(low, high, verdict):
    assert judge(_claim(NONINFERIORITY, delta=1.0), _iv(low, high), 0.001)[0] == verdict


@pytest.mark.parametrize("prob,verdict", [(0.97, "holds"), (0.03, "fails"), (0.6, "inconclusive")])
def test_a_ranking_holds_in_95_percent_of_resamples_and_fails_in_5(prob, verdict):
    iv = _iv(0, 0)
    assert judge(_claim(RANKING, 0.0), iv, 1 - prob, prob)[0] == verdict


def test_one_or_two_seeds_cap_a_claim_about_training_at_inconclusive():
    v, note = judge(_claim(), _iv(2.0, 9.0, seeds=1), 0.001)
    assert v == "inconclusive" and "would be holds" in note and "image noise only" in note
    assert judge(_claim(), _iv(-9.0, -2.0, seeds=2), 0.9)[0] == "inconclusive"
    assert judge(_claim(training=False), _iv(2.0, 9.0, seeds=1), 0.001)[0] == "holds"  # not about training
    assert judge(_claim(), _iv(2.0, 9.0, seeds=3), 0.001)[0] == "holds"


def _t1(fp: float, quant: float, seeds=(0, 1, 2)) -> pd.DataFrame:
    return rows([{"method": "vanilla", "beta": 0.0, "act_bits": None, "metric": "worst", "acc": fp, "masking": ""},
                 {"method": "vanilla", "beta": 0.0, "act_bits": 2, "metric": "worst", "acc": quant, "masking": ""}],
                seeds, value="value")


def test_holm_adjusts_over_the_claims_that_ran():
    """The same table judged with one more claim in the run: the p-values are adjusted over all of them."""
    df = evaluate_claims({"table1": _t1(60.0, 20.0)})
    ran = df[df.verdict != "not run"]
    assert (ran.p_adj >= ran.p - 1e-12).all()
    order = ran.sort_values("p")
    m = len(ran)
    assert order.p_adj.iloc[0] == pytest.approx(min(1.0, order.p.iloc[0] * m), abs=1e-4)


def test_paired_difference_equals_the_difference_of_accuracies_and_uses_common_images():
    a = rows([{"acc": 80.0}], seeds=(0,))
    b = rows([{"acc": 50.0}], seeds=(0,))
    part = difference(a, b)
    idx, d = part.samples[0]
    assert len(idx) == 200 and d.mean() == pytest.approx(30.0)
    # a row measured on a subset (an attack's sample) pairs on the images both measured
    b.loc[0, "images"], b.loc[0, "correct"] = "0-9", "1" * 10
    idx, d = difference(a, b).samples[0]
    assert list(idx) == list(range(10))
    shifted = combine([(part, 1.0)], shift=5.0)
    assert shifted.samples[0][1].mean() == pytest.approx(25.0)


def test_a_ratio_is_the_ratio_of_means_with_its_linearized_spread():
    num = rows([{"acc": 45.0}], seeds=(0,))
    den = rows([{"acc": 90.0}], seeds=(0,))
    part = ratio(num, den)
    assert part.samples[0][1].mean() == pytest.approx(50.0)
    assert part.estimate().low < 50.0 < part.estimate().high


def test_all_and_any_combine_parts_by_their_weakest_and_strongest_with_bonferroni():
    strong = Part({s: (np.arange(100), np.r_[np.full(80, 100.0), np.zeros(20)]) for s in range(3)}, "strong")
    weak = Part({s: (np.arange(100), np.r_[np.full(10, 100.0), np.zeros(90)] - 5.0) for s in range(3)}, "weak")
    every = interval(result([strong, weak], "e", "all"), 0.0)
    assert every.effect == pytest.approx(5.0) and every.low == pytest.approx(weak.estimate().low)
    assert every.p == max(strong.estimate().p_above(0), weak.estimate().p_above(0))
    best = interval(result([strong, weak], "e", "any"), 0.0)
    assert best.effect == pytest.approx(80.0)
    assert best.low == pytest.approx(strong.estimate(1 - 0.05 / 2).low) and best.low < strong.estimate().low
    assert best.p == pytest.approx(min(1.0, 2 * strong.estimate().p_above(0)))


def test_every_claim_is_listed_paper_by_paper_with_the_report_columns():
    df = evaluate_claims({})
    assert list(df.columns) == COLUMNS and set(df.verdict) == {"not run"}
    assert len(df) == len(CLAIMS.names())
    modules = [CLAIMS.get(k).module for k in df.id]
    assert modules == sorted(modules, key=PAPERS.index) and set(modules) == set(PAPERS)
    assert df.id.iloc[0] == "dq-vanilla-quantized-less-robust" and df.id.iloc[-1] == "qu-anti-survives-other-quantizers"
    assert df.loc[df.id == "qu-anti-survives-other-quantizers", "published"].item() is False
    assert all(CLAIMS.get(k).kind in (SUPERIORITY, NONINFERIORITY, RANKING) for k in df.id)


def test_report_order_does_not_depend_on_which_module_is_imported_first():
    code = ("import qrobust.papers.qu_anti.claims, qrobust.papers.ohq.claims\n"
            "from qrobust.claims import evaluate_claims\nprint(','.join(evaluate_claims({}).id))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out.split(",") == evaluate_claims({}).id.tolist()


def test_missing_data_is_not_run_with_the_reason_and_other_errors_are_errors():
    t = _t1(60.0, 20.0)
    no_outcomes = t.assign(correct=float("nan"))
    row = evaluate_claims({"table1": no_outcomes}).set_index("id").loc["dq-vanilla-quantized-less-robust"]
    assert row.verdict == "not run" and "no per-image outcomes" in row.evidence
    row = evaluate_claims({"table1": t[t.metric != "worst"]}).set_index("id").loc["dq-vanilla-quantized-less-robust"]
    assert row.verdict == "not run" and "no worst-case rows" in row.evidence
    broken = t.copy()
    broken.loc[0, "correct"] = "1" * 5  # 5 outcomes for 200 images: a corrupted table, not missing data
    with pytest.raises(ValueError, match="200 image indices but 5 outcomes"):
        evaluate_claims({"table1": broken})


def test_a_run_writes_an_interval_and_the_sample_that_would_decide():
    noisy = {0: 30.0, 1: 45.0, 2: 25.0}  # the quantized models' worst case varies from seed to seed
    df = evaluate_claims({"table1": _t1(40.0, noisy)}).set_index("id")
    row = df.loc["dq-vanilla-quantized-less-robust"]
    assert row.n_seeds == 3 and row.n_images == 200 and row.ci_low < row.effect < row.ci_high
    assert row.effect == pytest.approx(40.0 - np.mean(list(noisy.values())), abs=1e-3)
    assert row.verdict == "inconclusive" and "seeds x 200 images" in row.needed
    one = evaluate_claims({"table1": _t1(60.0, 20.0, seeds=(0,))}).set_index("id").loc["dq-vanilla-quantized-less-robust"]
    assert one.verdict == "inconclusive" and "image noise only" in one.note and "seeds" in one.needed
    assert math.isfinite(one.ci_low) and one.n_seeds == 1


def test_masked_only_when_the_flagged_models_lower_bound_could_change_the_verdict():
    """Quantized less robust than float (60 vs 20): a flag on a quantized model's worst case only questions
    numbers that can go lower, which strengthens the claim; a flag on the float model could flip it."""
    t = _t1(60.0, 20.0)
    quant = t.act_bits.notna()
    flagged_q = t.assign(masking=["more_steps_stable" if q else "" for q in quant])
    row = evaluate_claims({"table1": flagged_q}).set_index("id").loc["dq-vanilla-quantized-less-robust"]
    assert row.verdict == "holds" and "even at 0 the verdict stands" in row.note and "more_steps_stable" in row.masking
    flagged_fp = t.assign(masking=["" if q else "eps_reaches_chance" for q in quant])
    row = evaluate_claims({"table1": flagged_fp}).set_index("id").loc["dq-vanilla-quantized-less-robust"]
    assert row.verdict == "masked" and "at 0 it would be fails" in row.evidence
    # a flag that does not question the worst case itself (one attack path trailing) changes nothing
    row = evaluate_claims({"table1": t.assign(masking="ste_gap")}).set_index("id").loc["dq-vanilla-quantized-less-robust"]
    assert row.verdict == "holds" and row.masking.count("ste_gap") == 6  # 2 models x 3 seeds, named
