"""DQ Tables 2-4, Table 5, the DQ figures and the claims through Snakemake on the tiny config."""
import json

import pandas as pd
import pytest
import yaml

from _helpers import ROOT, only, planned_jobs, snakemake

pytestmark = pytest.mark.slow
TARGETS = ["results/table2.csv", "results/table3.csv", "results/table4.csv", "results/table5.csv",
           "results/figures/corruptions.png", "results/figures/sysnoise.png", "results/figures/fig3.png",
           "results/figures/beta_sweep.png", "results/table7.csv", "results/table8.csv", "results/claims.csv"]
TINY = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())


@pytest.fixture(scope="module")
def robust_run(ohq_run, tmp_path_factory):
    """On top of the finished tiny table1 + table6 run (its quantize-suite models feed Table 5)."""
    import shutil

    wd = shutil.copytree(ohq_run[0], tmp_path_factory.mktemp("robust") / "wf", symlinks=True)
    r = snakemake(wd, *TARGETS, "--cores", "2", "--configfile", "config/tiny.yaml", timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    return wd


def test_table2_has_every_technique_and_attack(robust_run):
    t = pd.read_csv(robust_run / "results/table2.csv")
    assert t["Training Technique"].tolist() == ["Normal", "Normal + DQ", "Feature Squeezing", "Feature Squeezing + DQ",
                                                "Adversarial R+FGSM", "Adversarial R+FGSM + DQ", "Adversarial PGD",
                                                "Adversarial PGD + DQ"]
    for col in ("Random", "FGSM", "R+FGSM", "PGD", "FGSM(B)", "PGD(B)"):
        cells = [list(map(float, c.split("/"))) for c in t[col]]
        assert all(len(c) == 3 and all(0 <= v <= 100 for v in c) for c in cells)
    long = pd.read_csv(robust_run / "results/table2_long.csv")
    # stronger eps, lower accuracy (white-box FGSM, every model)
    f = long[(long.attack == "fgsm") & (~long.blackbox)].groupby(["method", "adv", "defense", "eps"]).acc.mean()
    for key, g in f.groupby(level=[0, 1, 2]):
        assert g.iloc[-1] <= g.iloc[0], key


def test_tables_3_4_5_and_figures(robust_run):
    t3 = pd.read_csv(robust_run / "results/table3.csv")
    assert set(t3.Activation) == {"ReLU6", "ReLU1"} and set(t3.Method) == {"Vanilla", "DQ"}
    t4 = pd.read_csv(robust_run / "results/table4.csv")
    assert len(t4) == 5 and set(t4["Gradient masking"]) <= {"yes", "no"}
    t5 = pd.read_csv(robust_run / "results/table5.csv")
    assert t5.Model.tolist() == ["float", "ptq-mse", "qat-pact"]
    for c in TINY["robust_bench"]["corruptions"] + ["mCA", "ceil_mode", "int8"]:
        assert c in t5.columns, c
    assert any(c.startswith("resize:") for c in t5.columns)
    for fig in ("corruptions", "sysnoise", "fig3", "beta_sweep"):
        assert (robust_run / f"results/figures/{fig}.pdf").stat().st_size > 0
    dist = json.loads(only(robust_run, "results/metrics/act_distance/act_distance-*.json").read_text())
    assert all(d == 0 for d in dist["models"][0]["distance"][0])  # eps 0: no distance


def test_table7_grid(robust_run):
    t = pd.read_csv(robust_run / "results/table7.csv")
    assert t.Scheme.tolist() == [s["name"] for s in TINY["li2024"]["schemes"]]
    assert t["Robust opt."].tolist() == ["none", "finetune", "before", "during"]
    for tg in ("W4", "A4"):
        for m in ("clean", "PGD", "Square"):
            col = t[f"{tg} {m}"]
            assert col.notna().all() and ((col >= 0) & (col <= 100)).all()
    # gradient attacks at least as strong as clean accuracy allows
    assert (t["W4 PGD"] <= t["W4 clean"]).all()


def test_table8_attack_collapses_quantized_accuracy(robust_run):
    t = pd.read_csv(robust_run / "results/table8.csv")
    acc = t[(t.Metric == "acc.") & (t.Quantizer == "attack quantizer")].set_index("Model")
    assert list(acc.index) == ["clean", "indiscriminate", "backdoor"]
    # at the attacked bit-width (4) the model collapses, far more than it loses in float
    float_drop = acc.loc["clean", "Float"] - acc.loc["indiscriminate", "Float"]
    quant_drop = acc.loc["clean", "4-bit"] - acc.loc["indiscriminate", "4-bit"]
    assert quant_drop > 20 and quant_drop > 2 * float_drop, (float_drop, quant_drop)
    assert set(t.Quantizer) == {"attack quantizer", "per_channel", "PTQ mse"}
    assert "backdoor ASR" in set(t.Metric)


def test_claims_have_a_verdict_and_evidence(robust_run):
    c = pd.read_csv(robust_run / "results/claims.csv")
    assert set(c.verdict) <= {"holds", "fails", "inconclusive", "masked", "not run"}
    ran = c[c.verdict != "not run"]
    assert len(ran) >= 20, c[["id", "verdict", "evidence"]].to_string()
    assert {"DQ", "Robustness benchmark", "HAWQ-V3 / OHQ", "OHQ", "Li et al. 2024", "Qu-ANTI-zation"} <= set(ran.paper)
    assert ran.evidence.str.len().min() > 10
    assert (robust_run / "results/claims.md").read_text().startswith("Claims")


def test_the_tiny_dag_makes_the_masking_table(robust_run):
    """One audited model per checkpoint and defense that Tables 1-5 and 7 evaluate; the claims read it."""
    t = pd.read_csv(robust_run / "results/masking.csv")
    records = [json.loads(f.read_text()) for f in (robust_run / "results/metrics/worst").rglob("*.json")]
    assert len(t) == len(records) > 20
    for check in ("eps_reaches_chance", "more_steps_stable", "blackbox_not_better", "zero_gradient", "ste_gap"):
        assert check in t.columns, check
    assert (t["Worst-case"] <= t["Clean"] + 1e-9).all()
    for rec in records:  # never a mean: at most the weakest member's accuracy, on the same images
        assert rec["worst_acc"] <= min(m["acc"] for m in rec["members"] if m["acc"] is not None)
    flagged = t.Flags.fillna("").astype(str)
    assert all(set(f.split(";")) <= set(t.columns) for f in flagged if f)
    long = pd.read_csv(robust_run / "results/masking_long.csv")
    assert set(long.kind) == {"summary", "member", "check", "sweep"}
    t4 = pd.read_csv(robust_run / "results/table4.csv")
    assert "Worst-case" in t4.columns and "Masking flags" in t4.columns
    t7 = pd.read_csv(robust_run / "results/table7.csv")
    col = t7["W4 worst-case"]
    assert col.notna().all() and ((col >= 0) & (col <= 100)).all()


def test_editing_an_attack_reruns_evaluations_not_training(robust_run, tmp_path):
    import shutil

    wd = shutil.copytree(robust_run, tmp_path / "wf", symlinks=True)
    f = wd / "src/qrobust/attacks/pgd.py"
    f.write_text(f.read_text() + "\n# edited\n")
    jobs = planned_jobs(snakemake(wd, "-n", *TARGETS, "--cores", "2", "--configfile", "config/tiny.yaml"))
    assert "robust_eval" in jobs and "table" in jobs
    # adversarial PGD training crafts its examples with pgd.py, so those runs retrain; nothing else does
    assert set(jobs) & {"train", "quantize", "make_noise", "qu_anti"} == set()
