"""DQ Tables 2-4, Table 5, the DQ figures and the claims through Snakemake on the tiny config."""
import json

import pandas as pd
import pytest
import yaml

from _helpers import ROOT, only, planned_jobs, snakemake

pytestmark = pytest.mark.slow
TARGETS = ["results/table2.csv", "results/table3.csv", "results/table4.csv", "results/table5.csv",
           "results/figures/corruptions.png", "results/figures/sysnoise.png", "results/figures/fig3.png",
           "results/figures/beta_sweep.png", "results/table7.csv", "results/table8.csv", "results/claims.csv",
           "results/scorecard.csv"]
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
    assert t5.Model.tolist() == ["float", "ptq-mse", "qat-pact", "qat-lsq", "ptq-adaround"]
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
    assert (robust_run / "results/claims.md").read_text().startswith("# Claims")
    assert (robust_run / "results/findings.md").read_text().split(" ")[1:3] == ["published", "findings"]
    power = (robust_run / "results/power.md").read_text()  # one seed: no seed variance, so no row
    assert power.startswith("Power of this run") and "| claim |" in power


def test_the_scorecard_puts_each_reported_number_beside_ours(robust_run):
    from qrobust.scorecard import reported

    sc = pd.read_csv(robust_run / "results/scorecard.csv")
    assert len(sc) == len(reported()) and {"dq", "ohq", "qu_anti"} <= set(sc.paper)
    t1 = pd.read_csv(robust_run / "results/table1_long.csv")
    fp_adv = t1[(t1.method == "vanilla") & t1.act_bits.isna() & (t1.metric == "adv")].value.mean()
    hit = sc[(sc.source == "DQ Table 1") & (sc.row == "Vanilla, adv.") & (sc.col == "Full Prec.")].iloc[0]
    assert hit.paper_value == 39.3 and hit.qrobust_value == pytest.approx(fp_adv, abs=0.005)
    assert hit.qrobust_protocol == "mnist5k, small_cnn hidden=32 width=8, full precision, eps 0.1"
    # nothing on the tiny config runs the papers' protocol, so no gap is given
    assert set(sc.same_protocol.dropna()) == {"no"} and sc.gap.isna().all()
    assert sc.qrobust_value.notna().sum() >= 20  # Tables 1-4, 6 and 8 cells the tiny config builds
    md = (robust_run / "results/scorecard.md").read_text()
    assert md.startswith("Scorecard") and "Not on the scorecard: robust_bench" in md


def test_cell_provenance_for_every_table(robust_run):
    """Each table's cell resolves to the inputs it came from; a wrong name lists the valid ones."""
    import subprocess
    import sys

    from qrobust.commands._cells import _keys

    records = {p.stem: json.loads(p.read_text()) for p in (robust_run / "results/provenance").glob("*.json")}
    tables = sorted(f"{name}.csv" for name, rec in records.items() if rec["rule"] == "table")
    assert {f"table{i}.csv" for i in range(1, 9)} | {"masking.csv", "quantizers.csv"} <= set(tables)

    def query(table, *args):
        return subprocess.run([sys.executable, "-m", "qrobust.cli", "provenance", f"results/{table}", *args],
                              cwd=robust_run, capture_output=True, text=True)

    for table in tables:
        df = pd.read_csv(robust_run / "results" / table)
        k, names = _keys(df)
        col = next(c for c in df.columns[k:] if pd.api.types.is_float_dtype(df[c]) and df[c].notna().any())
        i = int(df[col].notna().to_numpy().argmax())
        r = query(table, "--row", names[i], "--col", col, "--json")
        assert r.returncode == 0, (table, r.stderr)
        out = json.loads(r.stdout)
        record = records[table[:-4]]
        files = [n["file"] for n in out["chain"]["inputs"]]
        assert files and set(files) <= set(record["inputs"]), table
        assert float(out["value"]) == pytest.approx(df[col].iloc[i], abs=0.006), table
        bad = query(table, "--row", "no such row", "--col", col)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and names[0] in bad.stderr, table
    claims = query("claims.csv", "--row", "x", "--col", "y")
    assert claims.returncode == 2 and "made by rule 'claims', not a table" in claims.stderr
    # a cell of one model reads that model's file alone
    out = json.loads(query("table2.csv", "--row", "Normal", "--col", "FGSM", "--json").stdout)
    (f,) = [n["file"] for n in out["chain"]["inputs"]]
    assert "/metrics/robust/" in f and f.endswith("_none.json") and "/vanilla_" in f and "adv" not in f.split("/")[-2]
    # Best Acc. reads every bit-width of its row, and only its row
    out = json.loads(query("table1.csv", "--row", "Vanilla", "--metric", "adv", "--col", "Best Acc.", "--json").stdout)
    files = [n["file"] for n in out["chain"]["inputs"]]
    assert len(files) == len(TINY["quant"]["act_bits"]) and all("/vanilla_" in f for f in files)


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
