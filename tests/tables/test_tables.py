"""Table builders: wide tables carry labels and rounding; long CSVs carry raw values at full precision."""
import math

import pandas as pd
import pytest
from _records import _m, eval_record, noise_record, t7_record, t8_record

from qrobust.papers.dq.table1 import LONG_COLUMNS, build, method_label

METRICS = [
    _m("vanilla", 0.0, None, 0, 90.0, 40.0), _m("vanilla", 0.0, None, 1, 92.0, 44.0),
    _m("vanilla", 0.0, 1, 0, 80.0, 30.0), _m("vanilla", 0.0, 1, 1, 82.0, 50.0),
    _m("dq", 1e-3, None, 0, 91.0, 45.0), _m("dq", 1e-3, None, 1, 91.0, 45.0),
    _m("dq", 1e-3, 1, 0, 90.0, 47.0), _m("dq", 1e-3, 1, 1, 90.0, 49.0),
]
METHODS = [{"name": "vanilla", "beta": 0.0}, {"name": "dq", "beta": 1e-3}]
BETAS = [3e-4, 6e-4, 1e-3]


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


def test_table1_long_is_raw(tmp_path):
    """Raw names, integer bits with an empty cell for full precision, no labels, no rounding."""
    metrics = [_m("vanilla", 0.0, None, 0, 90.123456789, 40.0), _m("vanilla", 0.0, 4, 0, 80.0, 1 / 3)]
    build(metrics, tmp_path / "t1.csv", act_bits=[None, 4], methods=METHODS[:1])
    text = (tmp_path / "t1_long.csv").read_text().splitlines()
    assert text[0] == ",".join(LONG_COLUMNS)
    # empty act_bits: full precision; the last cell (masking) is empty off worst-case rows
    assert "vanilla,0.0,,0,clean,90.123456789,fgsm,0.1,100,,," in text
    assert "vanilla,0.0,4,0,adv,0.3333333333333333,fgsm,0.1,100,,," in text  # 4, not 4.0 or "4.00"
    long = pd.read_csv(tmp_path / "t1_long.csv")
    assert "Vanilla" not in set(long.method) and "Full Prec." not in text[1]
    assert long.loc[long.act_bits == 4, "value"].tolist() == [1 / 3, 80.0]  # exact round trip


def _sweep_metrics():
    out = [_m("vanilla", 0.0, b, 0, 90.0, 40.0) for b in (None, 2)]
    out += [_m("dq", beta, b, 0, 90.0, 40.0 + 1e4 * beta) for beta in BETAS for b in (None, 2)]
    return out


def test_beta_round_trips_exactly_through_the_long_csv(tmp_path):
    methods = [{"name": "vanilla", "beta": 0.0}] + [{"name": "dq", "beta": b} for b in BETAS]
    t, _ = build(_sweep_metrics(), tmp_path / "t1.csv", act_bits=[None, 2], methods=methods)
    assert t["Method"].tolist()[::2] == ["Vanilla", "DQ (3e-4)", "DQ (6e-4)", "DQ (1e-3)"]  # labels in the table only
    long = pd.read_csv(tmp_path / "t1_long.csv")
    assert sorted(set(long.beta)) == [0.0] + BETAS  # the old CSV wrote 0.00 for all three
    assert set(long.method) == {"vanilla", "dq"}


def test_beta_sweep_plots_each_beta_at_its_own_x(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from qrobust.papers.dq import figures

    methods = [{"name": "vanilla", "beta": 0.0}] + [{"name": "dq", "beta": b} for b in BETAS]
    build(_sweep_metrics(), tmp_path / "t1.csv", act_bits=[None, 2], methods=methods)
    drawn = []
    monkeypatch.setattr(figures, "save", lambda fig, path: drawn.append([ln.get_xydata() for ln in fig.axes[0].lines]))
    monkeypatch.setattr(plt, "close", lambda fig=None: None)
    figures.beta_sweep(tmp_path / "t1_long.csv", tmp_path / "sweep.png")
    points = {(round(float(x), 12), round(float(y), 6)) for xy in drawn[0] for x, y in xy}
    xs = {x for x, _ in points}
    assert {0.0, *BETAS} <= xs  # four distinct positions, vanilla at 0
    assert (1e-3, 50.0) in points and (3e-4, 43.0) in points  # each accuracy sits at its own beta


def test_missing_evaluation_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"DQ \(1e-3\) at 1 bits"):
        build(METRICS[:-2], tmp_path / "t.csv", act_bits=[None, 1], methods=METHODS)
    assert not (tmp_path / "t.csv").exists()


@pytest.mark.parametrize("beta,label", [(3e-4, "DQ (3e-4)"), (6e-4, "DQ (6e-4)"), (1e-3, "DQ (1e-3)"), (2.5e-4, "DQ (2.5e-4)")])
def test_labels_match_the_paper(beta, label):
    assert method_label("dq", beta) == label


# -- the other tables: synthetic records (also used by test_claims.py) -----------------------------

def test_table5_long_is_raw_and_the_table_keeps_its_labels(tmp_path):
    from qrobust.papers.robust_bench.table5 import LONG_COLUMNS, build

    t, _ = build([noise_record(), noise_record("ptq-mse")], [eval_record(), eval_record("ptq-mse", adv=45.0)], tmp_path / "t5.csv")
    assert t.Bits.tolist() == ["W32A32", "W4A4"] and t.Model.tolist() == ["float", "ptq-mse"]
    assert {"FGSM (eps 0.1)", "resize:pil-bilinear (ref)", "resize:cv2-nearest", "mCA", "int8"} <= set(t.columns)
    long = pd.read_csv(tmp_path / "t5_long.csv")
    assert list(long.columns) == LONG_COLUMNS
    fl, q = long[long.model == "float"], long[long.model == "ptq-mse"]
    assert fl.weight_bits.isna().all() and (q.weight_bits == 4).all() and (q.act_bits == 4).all()
    cor = long[long.family == "corruption"]
    assert sorted(set(cor.severity)) == [1, 2] and cor.variant.isna().all() and cor.eps.isna().all()
    adv = long[long.family == "adversarial"]
    assert adv.noise.tolist() == ["fgsm", "fgsm"] and adv.eps.tolist() == [0.1, 0.1] and adv.acc.tolist() == [40.0, 45.0]
    ref = long[long.reference]
    assert ref.variant.tolist() == ["pil-bilinear", "pil-bilinear"] and set(ref.family) == {"system"}
    assert "W4A4" not in (tmp_path / "t5_long.csv").read_text()


def test_table5_worst_case_column_and_rows(tmp_path):
    from _records import worst_record

    from qrobust.papers.robust_bench.table5 import LONG_COLUMNS, build

    evals = [eval_record(), eval_record("ptq-mse", adv=45.0)]
    worst = [worst_record(evals[0]["run"], 21.0), worst_record(evals[1]["run"], 12.5, flags=("ste_gap", "zero_gradient"))]
    t, _ = build([noise_record(), noise_record("ptq-mse")], evals, tmp_path / "t5.csv", worst=worst)
    assert t["Worst case (eps 0.1)"].tolist() == [21.0, 12.5] and t["FGSM (eps 0.1)"].tolist() == [40.0, 45.0]
    long = pd.read_csv(tmp_path / "t5_long.csv", keep_default_na=False)
    assert list(long.columns) == LONG_COLUMNS
    w = long[long.family == "worst"]
    assert w.model.tolist() == ["float", "ptq-mse"] and w.acc.tolist() == [21.0, 12.5]
    assert w.masking.tolist() == ["", "ste_gap;zero_gradient"] and (long[long.family != "worst"].masking == "").all()
    assert "worst case: per-example worst case" in (tmp_path / "t5.md").read_text()
    # a worst-case record of a model the table does not have is refused, naming it
    with pytest.raises(ValueError, match="matches no metrics file"):
        build([noise_record()], evals[:1], tmp_path / "t5.csv", worst=worst)

def test_quantizers_long_is_raw(tmp_path):
    from qrobust.papers.robust_bench.quantizers_table import build

    q = {"quantizer": "uniform", "calibrator": "mse", "per_channel": True, "symmetric": True}
    m = {"run": {"scheme": "ptq-mse", "mode": "ptq", "weight_bits": 4, "act_bits": 8, "seed": 0,
                 "quant": {"weight_quant": q, "act_quant": {**q, "per_channel": False, "symmetric": False}}},
         "clean_acc": 75.25, "adv_acc": 47.125, "attack": {"name": "fgsm", "eps": 0.1}}
    t, _ = build([eval_record() | {"clean_acc": 76.0, "adv_acc": 48.0}, m], tmp_path / "q.csv")
    assert t.loc[1, ["Scheme", "Mode", "Weights", "Activations"]].tolist() == ["ptq-mse", "PTQ", "uniform mse per-channel symmetric",
                                                                             "uniform mse asymmetric"]
    assert t.loc[1, "W4A8 adv."] == 47.125 and t.loc[0, "Weights"] == "float"
    long = pd.read_csv(tmp_path / "q_long.csv")
    row = long[(long.scheme == "ptq-mse") & (long.metric == "adv")].iloc[0]
    assert (row.weight_bits, row.act_bits, row["mode"], row.weight_calibrator, row.act_per_channel) == (4, 8, "ptq", "mse", False)
    assert row.value == 47.125  # not rounded to 47.12 or 47.13
    fl = long[long.scheme == "float"]
    assert fl[["mode", "weight_bits", "act_bits", "weight_quantizer", "act_quantizer"]].isna().all().all()


def test_table7_long_keeps_raw_target_and_robust(tmp_path):
    from qrobust.papers.li2024.table7 import build

    t, _ = build([t7_record("adv-ptq", "adv", "none", "w", 50.0), t7_record("adv-ptq", "adv", "none", "a", 60.0)], tmp_path / "t7.csv")
    assert t["Robust opt."].tolist() == ["before"] and {"W4 PGD", "A4 PGD"} <= set(t.columns)
    long = pd.read_csv(tmp_path / "t7_long.csv")
    assert set(long.target) == {"w", "a"} and set(long.robust) == {"none"}
    assert long.loc[long.target == "w", "act_quantizer"].isna().all() and set(long.loc[long.target == "a", "act_quantizer"]) == {"pact"}


def test_table7_caption_says_when_the_attacks_saw_a_subset(tmp_path):
    from qrobust.papers.li2024.table7 import build

    recs = [t7_record("adv-ptq", "adv", "none", t, 50.0) for t in ("w", "a")]
    build(recs, tmp_path / "all.csv")
    assert "attacks on" not in (tmp_path / "all.md").read_text()
    build([{**r, "n": 1000, "n_attacked": 250} for r in recs], tmp_path / "part.csv")
    assert "attacks on 250 of the 1,000 test images, each seed its own sample (clean: all)" in (tmp_path / "part.md").read_text()


def test_table8_long_has_integer_bits_and_empty_float(tmp_path):
    from qrobust.papers.qu_anti.table8 import build

    t, _ = build([t8_record("clean", {"float": 90.0, "8": 89.5, "4": 88.0}),
                  t8_record("indiscriminate", {"float": 89.0, "8": 30.0, "4": 10.12345})], tmp_path / "t8.csv")
    assert list(t.columns) == ["Model", "Quantizer", "Metric", "Float", "8-bit", "4-bit"]
    lines = (tmp_path / "t8_long.csv").read_text().splitlines()
    assert "indiscriminate,attack quantizer,4,0,accuracy,10.12345,True,," in lines
    assert "clean,attack quantizer,,0,accuracy,90.0,False,," in lines  # float: empty bits


def test_table6_long_keeps_bytes_and_bitops(tmp_path):
    from qrobust.papers.ohq.table6 import build

    plan = {"kind": "uniform", "budget": None, "plan": {"l1": "int8"}, "accuracy": 75.5, "latency_ms": 0.123456789,
            "latency_model_ms": 0.1, "latency_model_source": "measured", "size_bytes": 2048.0, "bitops": 3e9}
    d = {"seed": 0, "layers": ["l1"], "hardware": "cpu", "precisions": ["int8"], "allocations": {},
         "plans": {"uniform-int8": plan}}
    t, _ = build([d], tmp_path / "t6.csv")
    assert (t.loc[0, "Method"], t.loc[0, "Size (KB)"], t.loc[0, "GBitOPs"]) == ("Uniform INT8", 2.0, 3.0)
    long = pd.read_csv(tmp_path / "t6_long.csv")
    assert (long.size_bytes[0], long.bitops[0], long.latency_ms[0]) == (2048.0, 3e9, 0.123456789)


def test_std_table_is_blank_with_one_seed(tmp_path):
    one_seed = [m for m in METRICS if m["run"]["seed"] == 0]
    build(one_seed, tmp_path / "table1.csv", act_bits=[None, 1], methods=METHODS)
    s = pd.read_csv(tmp_path / "table1_std.csv").set_index(["Method", "Acc."])
    assert s.isna().all().all(), s  # no spread is measured from one seed: blank, not 0.00
    assert ",0.00" not in (tmp_path / "table1_std.csv").read_text()


def test_latex_is_escaped_with_caption_and_label(tmp_path):
    from qrobust.tables._base import write_latex

    df = pd.DataFrame({"Noise": ["gaussian_noise", "ceil_mode", "p99.99%", "a&b", "x^2 $5 #1 {c} ~d \\e"],
                       "Acc_%": [1.0, 2.0, 3.0, 4.0, None]})
    write_latex(df, tmp_path / "table5.tex", "Table 5: per_channel weights, 99.99% percentile")
    tex = (tmp_path / "table5.tex").read_text()
    for raw, esc in [("gaussian_noise", r"gaussian\_noise"), ("ceil_mode", r"ceil\_mode"), ("p99.99%", r"p99.99\%"),
                     ("a&b", r"a\&b"), ("Acc_%", r"Acc\_\%")]:
        assert esc in tex and f" {raw} " not in tex
    assert r"\$5 \#1 \{c\} \textasciitilde{}d \textbackslash{}e" in tex and r"x\textasciicircum{}2" in tex
    assert r"\caption{Table 5: per\_channel weights, 99.99\% percentile}" in tex
    assert r"\label{tab:table5}" in tex and r"\toprule" in tex


def test_every_table_latex_compiles_with_pdflatex_and_booktabs(tmp_path):
    import shutil
    import subprocess

    from qrobust.tables._base import write_latex

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (Debian: apt-get install texlive-latex-recommended; .ci/run installs it)")
    build(METRICS, tmp_path / "table1.csv", act_bits=[None, 1], methods=METHODS)
    hard = pd.DataFrame({"Noise": ["gaussian_noise", "ceil_mode", "per_channel", "99.99%"], "Acc.": [1.0, 2.0, None, 4.0]})
    write_latex(hard, tmp_path / "table5.tex", "Table 5: per_channel & co, 99.99% $")
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                   "\\input{table1.tex}\n\\input{table5.tex}\n\\end{document}\n")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and (tmp_path / "doc.pdf").exists(), r.stdout[-2000:]


def test_read_long_keeps_outcomes_as_text_and_takes_one_type_for_every_column(tmp_path):
    from qrobust.tables._base import read_long

    (tmp_path / "l.csv").write_text("seed,images,correct,acc\n0,5,0110,50.0\n")
    df = read_long(tmp_path / "l.csv")
    assert df.correct.iloc[0] == "0110" and df.images.iloc[0] == "5" and df.acc.iloc[0] == 50.0
    as_text = read_long(tmp_path / "l.csv", dtype=str, keep_default_na=False)  # what the scorecard reads
    assert as_text.acc.iloc[0] == "50.0" and as_text.correct.iloc[0] == "0110"
