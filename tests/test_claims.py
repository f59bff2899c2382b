"""The claim engine and each paper's claims, on raw long CSVs written by the table builders and read
back as `qrobust claims` reads them (plain pd.read_csv): editing one number flips a verdict."""
import subprocess
import sys

import pandas as pd
import pytest
from _records import _m, eval_record, noise_record, t7_record, t8_record, worst_record

from qrobust.claims import CLAIMS, PAPERS, evaluate_claims, judge

# masking: the audit's flags on the models behind a claim judged on worst-case rows ("" otherwise)
COLUMNS = ["id", "paper", "source", "claim", "value", "spread", "n_seeds", "margin", "verdict", "evidence", "masking"]


def _verdict(tables: dict, key: str) -> str:
    return evaluate_claims(tables).set_index("id").loc[key, "verdict"]


def _long(build, tmp_path, name, *args, **kw) -> pd.DataFrame:
    build(*args, tmp_path / f"{name}.csv", **kw)
    return pd.read_csv(tmp_path / f"{name}_long.csv")


def test_judge_margin_and_verdicts():
    assert judge([2.0])["verdict"] == "holds" and judge([-2.0])["verdict"] == "fails"
    assert judge([0.5])["verdict"] == "inconclusive"
    spread = judge([1.0, 5.0])  # mean 3, std 2.83: margin 5.66 > 3
    assert spread["margin"] == pytest.approx(2 * 2.8284, abs=1e-3) and spread["verdict"] == "inconclusive"


def test_every_claim_is_listed_paper_by_paper_with_the_same_columns():
    df = evaluate_claims({})
    assert len(df) == 26 and set(df.verdict) == {"not run"}
    modules = [CLAIMS.get(k).module for k in df.id]
    assert modules == sorted(modules, key=PAPERS.index) and set(modules) == set(PAPERS)
    assert df.id.iloc[0] == "dq-vanilla-quantized-less-robust" and df.id.iloc[-1] == "qu-anti-survives-other-quantizers"


def test_report_order_does_not_depend_on_which_module_is_imported_first():
    code = ("import qrobust.papers.qu_anti.claims, qrobust.papers.ohq.claims\n"
            "from qrobust.claims import evaluate_claims\nprint(','.join(evaluate_claims({}).id))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out.split(",") == evaluate_claims({}).id.tolist()


def test_table1_claims_read_raw_method_beta_and_empty_bits(tmp_path):
    from qrobust.papers.dq.table1 import build

    metrics = [_m("vanilla", 0.0, None, 0, 90.0, 60.0), _m("vanilla", 0.0, 2, 0, 85.0, 40.0),
               _m("dq", 3e-4, None, 0, 90.0, 61.0), _m("dq", 3e-4, 2, 0, 85.0, 41.0),   # no better than vanilla
               _m("dq", 1e-3, None, 0, 90.0, 62.0), _m("dq", 1e-3, 2, 0, 85.0, 50.0)]  # the best beta
    methods = [{"name": "vanilla", "beta": 0.0}, {"name": "dq", "beta": 3e-4}, {"name": "dq", "beta": 1e-3}]
    # worst case: 10 points under FGSM everywhere, so the differences are FGSM's
    worst = [worst_record(m["run"], m["adv_acc"] - 10.0) for m in metrics]
    long = _long(build, tmp_path, "t1", metrics, act_bits=[None, 2], methods=methods, worst=worst)
    df = evaluate_claims({"table1": long}).set_index("id")
    assert df.loc["dq-vanilla-quantized-less-robust", "verdict"] == "holds"
    assert df.loc["dq-vanilla-quantized-less-robust", "value"] == 20.0
    # each beta is its own DQ method: the best one (1e-3) is 10 points above vanilla
    assert df.loc["dq-improves-quantized-robustness", "value"] == 10.0
    assert df.loc["dq-keeps-clean-accuracy", "verdict"] == "holds"
    # the claims read the worst case, not FGSM: FGSM numbers alone change nothing
    fgsm_fp = (long.method == "vanilla") & long.act_bits.isna() & (long.metric == "adv")
    long.loc[fgsm_fp, "value"] = 0.0
    assert _verdict({"table1": long}, "dq-vanilla-quantized-less-robust") == "holds"
    fp = (long.method == "vanilla") & long.act_bits.isna() & (long.metric == "worst")
    long.loc[fp, "value"] = 20.0  # the full-precision model is now the weak one
    assert _verdict({"table1": long}, "dq-vanilla-quantized-less-robust") == "fails"
    long.loc[(long.beta == 1e-3) & (long.act_bits == 2) & (long.metric == "worst"), "value"] = 20.0
    assert _verdict({"table1": long}, "dq-improves-quantized-robustness") == "inconclusive"  # best DQ now 31 vs 30
    # no worst-case evaluations: the robustness claims are not run (never judged on FGSM alone)
    no_worst = long[long.metric != "worst"]
    assert _verdict({"table1": no_worst}, "dq-vanilla-quantized-less-robust") == "not run"


def test_masking_flags_reach_the_claims(tmp_path):
    from qrobust.papers.dq.table1 import build

    metrics = [_m("vanilla", 0.0, None, 0, 90.0, 60.0), _m("vanilla", 0.0, 2, 0, 85.0, 40.0),
               _m("dq", 1e-3, None, 0, 90.0, 62.0), _m("dq", 1e-3, 2, 0, 85.0, 50.0)]
    methods = [{"name": "vanilla", "beta": 0.0}, {"name": "dq", "beta": 1e-3}]
    # a flag of one attack path (the STE attacks trail the best one): reported, verdict kept
    worst = [worst_record(m["run"], m["adv_acc"] - 10.0, flags=("ste_gap",) if m["run"]["act_bits"] else ())
             for m in metrics]
    long = _long(build, tmp_path, "t1", metrics, act_bits=[None, 2], methods=methods, worst=worst)
    row = evaluate_claims({"table1": long}).set_index("id").loc["dq-vanilla-quantized-less-robust"]
    assert row.verdict == "holds" and row.masking == "vanilla 2-bit s0: ste_gap"
    # a flag that questions the worst case itself (no chance at a large eps): verdict masked, named
    worst[1] = worst_record(metrics[1]["run"], 30.0, flags=("ste_gap", "eps_reaches_chance"))
    long = _long(build, tmp_path, "t1", metrics, act_bits=[None, 2], methods=methods, worst=worst)
    row = evaluate_claims({"table1": long}).set_index("id").loc["dq-vanilla-quantized-less-robust"]
    assert row.verdict == "masked" and "eps_reaches_chance" in row.masking
    assert "on the worst case it holds; flagged: eps_reaches_chance" in row.evidence


def test_table5_claims_read_raw_bits_and_variants(tmp_path):
    from qrobust.papers.robust_bench.table5 import build

    noise = [noise_record(), noise_record("ptq-mse", clean=80.0, cor=60.0)]
    evals = [eval_record(adv=40.0), eval_record("ptq-mse", adv=45.0)]
    long = _long(build, tmp_path, "t5", noise, evals)
    df = evaluate_claims({"table5": long}).set_index("id")
    assert df.loc["quantized-more-adversarially-robust", "verdict"] == "holds"
    assert df.loc["quantized-less-corruption-robust", "verdict"] == "holds"
    assert df.loc["impulse-glass-worst-brightness-least", "verdict"] == "holds"
    row = df.loc["nearest-interpolation-most-harmful"]
    assert row.verdict == "holds" and row.evidence.startswith("largest mean accuracy drop: resize:cv2-nearest (+20.0 points)")
    long.loc[long.variant == "cv2-nearest", "acc"] = 80.0  # no drop: the INT8 kernel now hurts most
    assert _verdict({"table5": long}, "nearest-interpolation-most-harmful") == "fails"
    long.loc[(long.family == "adversarial") & long.weight_bits.notna(), "acc"] = 30.0
    assert _verdict({"table5": long}, "quantized-more-adversarially-robust") == "fails"


def test_table5_adversarial_claim_reads_the_worst_case_and_its_masking_flags(tmp_path):
    from qrobust.papers.robust_bench.table5 import build

    noise = [noise_record(), noise_record("ptq-mse")]
    # FGSM says quantized is more robust (45 vs 40); the worst case says the opposite (10 vs 20)
    evals = [eval_record(adv=40.0), eval_record("ptq-mse", adv=45.0)]
    worst = [worst_record(evals[0]["run"], 20.0), worst_record(evals[1]["run"], 10.0, flags=("ste_gap",))]
    long = _long(build, tmp_path, "t5", noise, evals, worst=worst)
    row = evaluate_claims({"table5": long}).set_index("id").loc["quantized-more-adversarially-robust"]
    assert row.verdict == "fails" and row.evidence.startswith("worst-case acc. quantized (mean) 10.0 vs float 20.0")
    assert "FGSM 45.0 vs 40.0" in row.evidence and row.masking == "ptq-mse W4A4: ste_gap"
    worst[1] = worst_record(evals[1]["run"], 10.0, flags=("more_steps_stable",))
    long = _long(build, tmp_path, "t5", noise, evals, worst=worst)
    row = evaluate_claims({"table5": long}).set_index("id").loc["quantized-more-adversarially-robust"]
    assert row.verdict == "masked" and "on the worst case it fails; flagged: more_steps_stable" in row.evidence
    # without worst-case rows the claim says what it read
    long = _long(build, tmp_path, "t5", noise, evals)
    row = evaluate_claims({"table5": long}).set_index("id").loc["quantized-more-adversarially-robust"]
    assert row.verdict == "holds" and "fgsm acc. (no worst-case rows)" in row.evidence

def test_table7_claims_read_raw_targets_and_robust(tmp_path):
    from qrobust.papers.li2024.table7 import build

    recs = [t7_record("f-ptq", "float", "none", "w", 30.0), t7_record("f-ptq", "float", "none", "a", 40.0),
            t7_record("adv-ptq", "adv", "none", "w", 45.0), t7_record("adv-ptq", "adv", "none", "a", 55.0),
            t7_record("f-ft", "float", "finetune", "w", 50.0)]
    # the claims read the worst case: here 5 points under PGD everywhere, so the differences are PGD's
    worst = [worst_record(r["run"], r["results"][0]["acc"] - 5.0) for r in recs]
    long = _long(build, tmp_path, "t7", recs, worst=worst)
    df = evaluate_claims({"table7": long}).set_index("id")
    assert df.loc["activation-quantization-more-robust", "verdict"] == "holds"
    assert df.loc["robust-init-helps", "verdict"] == "holds" and df.loc["robust-init-helps", "value"] == 15.0
    assert df.loc["partial-data-finetune-helps", "verdict"] == "holds"  # 50 vs the float-init PTQ 30 ("before" excluded)
    long.loc[long.target == "a", "acc"] -= 30.0
    assert _verdict({"table7": long}, "activation-quantization-more-robust") == "fails"


def test_table8_claims_read_integer_bits_and_empty_float(tmp_path):
    from qrobust.papers.qu_anti.table8 import build

    recs = [t8_record("clean", {"float": 90.0, "8": 89.0, "4": 88.0}),
            t8_record("indiscriminate", {"float": 89.0, "8": 85.0, "4": 11.0}),
            t8_record("indiscriminate", {"float": 89.0, "8": 85.0, "4": 20.0}, variant="per_channel")]
    long = _long(build, tmp_path, "t8", recs)
    assert long.bits.isna().sum() == 3  # float rows
    df = evaluate_claims({"table8": long}).set_index("id")
    assert df.loc["qu-anti-keeps-float-accuracy", "verdict"] == "holds"
    assert df.loc["qu-anti-collapses-at-attacked-bits", "verdict"] == "holds"
    assert df.loc["qu-anti-collapses-at-attacked-bits", "evidence"] == "at 4 bits: attacked 11.0 vs clean 88.0"
    assert df.loc["qu-anti-survives-other-quantizers", "verdict"] == "holds"
    assert df.loc["qu-anti-collapses-quantized", "verdict"] == "not run"  # attacked at 4 bits, not 8 to 5
    long.loc[(long.model == "indiscriminate") & long.bits.isna(), "value"] = 70.0  # float accuracy ruined
    assert _verdict({"table8": long}, "qu-anti-keeps-float-accuracy") == "fails"
    long.loc[(long.variant == "per_channel") & (long.bits == 4), "value"] = 87.0  # per-channel repairs the attack
    assert _verdict({"table8": long}, "qu-anti-survives-other-quantizers") == "fails"


def test_claim_rows_have_the_report_columns(tmp_path):
    from qrobust.papers.qu_anti.table8 import build

    long = _long(build, tmp_path, "t8", [t8_record("clean", {"float": 90.0, "4": 88.0}),
                                         t8_record("indiscriminate", {"float": 89.0, "4": 11.0})])
    df = evaluate_claims({"table8": long})
    assert sorted(df.columns) == sorted(COLUMNS)
    ran = df[df.verdict != "not run"]
    assert len(ran) == 2 and ran[COLUMNS].notna().all().all()  # no other quantizer: that claim is not run


def test_summaries_count_verdicts_per_paper_and_give_headline_numbers(tmp_path):
    from qrobust.claims import summaries
    from qrobust.papers.dq.table1 import build

    metrics = [_m("vanilla", 0.0, None, 0, 90.0, 60.0), _m("vanilla", 0.0, 2, 0, 85.0, 40.0),
               _m("dq", 1e-3, None, 0, 90.0, 62.0), _m("dq", 1e-3, 2, 0, 81.0, 50.0)]
    worst = [worst_record(m["run"], m["adv_acc"] - 10.0) for m in metrics]
    long = _long(build, tmp_path, "t1", metrics, act_bits=[None, 2],
                 methods=[{"name": "vanilla", "beta": 0.0}, {"name": "dq", "beta": 1e-3}], worst=worst)
    tables = {"table1": long}
    judged = evaluate_claims(tables)
    out = summaries(tables, judged)
    assert set(out) == set(PAPERS)  # every paper with claims has a row, run or not
    dq = out["dq"]
    ran = judged[judged.paper == "DQ"]
    assert dq["claims"] == len(ran) and dq["holds"] == (ran.verdict == "holds").sum() > 0
    assert dq["not_run"] == (ran.verdict == "not run").sum() > 0  # Tables 2-4 are missing here
    assert sum(dq[v] for v in ("holds", "fails", "inconclusive", "masked", "not_run")) == dq["claims"]
    # Table 1's quantized models: clean (85 + 81) / 2, worst (30 + 40) / 2; float models' worst (50 + 52) / 2
    assert (dq["clean_q"], dq["worst_q"], dq["worst_fp"]) == (83.0, 35.0, 51.0)
    assert "clean_q" not in out["ohq"] and out["ohq"]["not_run"] == out["ohq"]["claims"]  # no Table 6: no numbers
