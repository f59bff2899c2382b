"""The table1 DAG through Snakemake on the tiny config: shape, ranges, determinism, incrementality."""
import json

import pandas as pd
import pytest
import yaml

from _helpers import ROOT, TARGETS, only, planned_jobs, run, snakemake

pytestmark = pytest.mark.slow
TINY = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())


def test_table1_shape_and_ranges(two_runs):
    a, _ = two_runs
    t = pd.read_csv(a / "results" / "table1.csv")
    bits = ["Full Prec."] + [str(b) for b in TINY["quant"]["act_bits"] if b is not None]
    assert list(t.columns) == ["Method", "Acc."] + bits + ["Quantize Gain", "Best Acc."]
    assert t["Method"].tolist() == ["Vanilla"] * 3 + ["DQ (1e-3)"] * 3
    assert t["Acc."].tolist() == ["clean", "adv.", "worst-case"] * 2
    acc = t[bits].to_numpy()
    assert ((acc >= 0) & (acc <= 100)).all()
    clean, adv, worst = (t[t["Acc."] == r] for r in ("clean", "adv.", "worst-case"))
    assert (clean["Full Prec."] > 50).all()  # the tiny models really learn
    assert (adv[bits].to_numpy() <= clean[bits].to_numpy() + 1e-9).all()  # FGSM never helps here
    # gain and best follow their definitions, on adv. and worst-case rows only
    assert clean[["Quantize Gain", "Best Acc."]].isna().all().all()
    q = [b for b in bits if b != "Full Prec."]
    for rows in (adv, worst):
        assert rows["Quantize Gain"].round(2).tolist() == (rows[q].max(axis=1) - rows["Full Prec."]).round(2).tolist()
        assert rows["Best Acc."].tolist() == rows[bits].max(axis=1).tolist()
    std = pd.read_csv(a / "results" / "table1_std.csv")
    assert std[bits].isna().all().all()  # one seed: no spread measured, blank cells
    long = pd.read_csv(a / "results" / "table1_long.csv")
    assert len(long) == len(TINY["methods"]) * len(TINY["quant"]["act_bits"]) * 3
    # the worst case is the per-example worst over the ensemble: never above any member (same images)
    for f in (a / "results" / "metrics" / "worst").rglob("*.json"):
        rec = json.loads(f.read_text())
        members = [m["acc"] for m in rec["members"] if m["acc"] is not None]
        assert rec["n"] == TINY["worst_case"]["n_images"] and rec["worst_acc"] <= min(members)
        row = long[(long.metric == "worst") & (long.method == rec["run"]["method"])
                   & (long.act_bits.fillna(-1) == (rec["run"]["act_bits"] if rec["run"]["act_bits"] is not None else -1))]
        assert row.value.tolist() == [rec["worst_acc"]] and (row.masking.fillna("") == ";".join(rec["audit"]["flags"])).all()
    for name in ("table1.md", "table1.tex", "figures/fig1.png", "figures/fig1.pdf"):
        assert (a / "results" / name).stat().st_size > 100
    assert only(a, "logs/train/train-*/dq_beta0.001_a2_s0.log").read_text().count("epoch 2/2 loss") == 1


def test_same_seed_gives_byte_identical_tables_checkpoints_and_data(two_runs):
    a, b = two_runs
    for name in ("table1.csv", "table1_std.csv", "table1_long.csv", "table1.md"):
        assert (a / "results" / name).read_bytes() == (b / "results" / name).read_bytes(), name
    # two copies in two folders: tensor files do not carry their (temporary) file name
    files = sorted(p.relative_to(a) for d in ("results/checkpoints", "data/prepared") for p in (a / d).rglob("*.pt"))
    assert len(files) > 5
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_checkpoints_load_with_weights_only(two_runs):
    import torch

    a, _ = two_runs
    blob = torch.load(only(a, "results/checkpoints/train-*/vanilla_beta0_a2_s0.pt"), weights_only=True)
    assert blob["spec"]["quant"]["act_bits"] == 2 and blob["extra"]["run"]["seed"] == 0


def test_noop_after_a_full_run(finished):
    assert planned_jobs(run(finished, dry=True)) == {}


def edit(path):
    with open(path, "a") as f:
        f.write("# edited\n")


def test_bare_touch_without_a_change_reruns_nothing(finished):
    # Snakemake >= 8 compares checksums of small inputs whose mtime is newer
    (finished / "src" / "qrobust" / "attacks" / "fgsm.py").touch()
    assert planned_jobs(run(finished, dry=True)) == {}


def test_editing_attack_code_reruns_evaluation_only(finished):
    a = finished
    edit(a / "src" / "qrobust" / "attacks" / "fgsm.py")
    jobs = planned_jobs(run(a, dry=True))
    n_runs = len(TINY["methods"]) * len(TINY["quant"]["act_bits"])
    # fgsm is also a member of the worst-case ensemble
    assert jobs == {"evaluate": n_runs, "worst_case": n_runs, "table": 1, "figure": 1}


def test_editing_training_code_reruns_training(finished):
    b = finished
    edit(b / "src" / "qrobust" / "papers" / "dq" / "regularizer.py")
    jobs = planned_jobs(run(b, dry=True))
    # every Table 1 run, and the substitute the worst case's transfer member crafts on
    assert jobs.get("train") == len(TINY["methods"]) * len(TINY["quant"]["act_bits"]) + 1
    assert "prepare_data" not in jobs


def test_changing_eps_reruns_evaluation_not_training(finished):
    jobs = planned_jobs(run(finished, "--config", "attack={name: fgsm, eps: 0.2}", dry=True))
    n_runs = len(TINY["methods"]) * len(TINY["quant"]["act_bits"])
    # worst_case.eps is null in the tiny config: it follows attack.eps
    assert jobs == {"evaluate": n_runs, "worst_case": n_runs, "table": 1, "figure": 1}


def test_adding_a_bit_width_runs_only_the_new_models(finished):
    """Table 1's bit-widths are a grid of file names, in no folder key and no job's params: the finished
    run's models are kept, with Snakemake's own rerun rules (params, inputs) deciding."""
    bits = TINY["quant"]["act_bits"] + [3]
    jobs = planned_jobs(run(finished, "--config", f"quant={{act_bits: {json.dumps(bits)}}}", dry=True))
    n_methods = len(TINY["methods"])
    assert jobs == {"train": n_methods, "evaluate": n_methods, "worst_case": n_methods, "table": 1, "figure": 1}


def test_report_holds_tables_figures_and_their_provenance(finished):
    r = snakemake(finished, *TARGETS, "--configfile", "config/tiny.yaml", "--report", "results/report.html")
    assert r.returncode == 0, r.stderr[-2000:]
    html = (finished / "results" / "report.html").read_text(errors="replace")
    for item in ("table1.csv", "fig1.png", "table1 provenance", "fig1 provenance"):
        assert item in html, item


def run_b(wd, *extra_yaml):
    """Config B: the tiny config with one training epoch (so other checkpoints), plus `extra_yaml` lines."""
    (wd / "config" / "b.yaml").write_text("\n".join(["train: {epochs: 1, batch_size: 32, lr: 0.05}", *extra_yaml]) + "\n")
    target = "results/runs/b/table1.csv" if extra_yaml else "results/table1.csv"
    r = snakemake(wd, target, "--cores", "2", "--configfile", "config/tiny.yaml", "config/b.yaml")
    assert r.returncode == 0, r.stderr[-3000:]


def test_config_a_then_b_then_a_retrains_nothing_and_overwrites_no_checkpoint(finished):
    a_files = {p: p.read_bytes() for d in ("checkpoints", "metrics") for p in (finished / "results" / d).rglob("*.*")}
    run_b(finished)
    for p, data in a_files.items():  # A's checkpoints and metrics are untouched; B's sit in their own folders
        assert p.read_bytes() == data, p
    assert len(list((finished / "results" / "checkpoints").glob("train-*"))) == 2
    assert planned_jobs(run(finished, dry=True)) == {"table": 1, "figure": 1}  # A's table again, from A's metrics


def test_a_named_run_keeps_its_tables_beside_the_default_and_says_which_config_made_them(finished):
    before = (finished / "results" / "table1.csv").read_bytes()
    run_b(finished, "run: b")
    assert (finished / "results" / "table1.csv").read_bytes() == before
    assert (finished / "results" / "runs" / "b" / "table1.csv").read_bytes() != before
    assert planned_jobs(run(finished, dry=True)) == {}
    rec = json.loads((finished / "results" / "provenance" / "runs" / "b" / "table1.json").read_text())
    assert rec["run"]["run"] == "b" and {"config/tiny.yaml", "config/b.yaml"} <= set(rec["run"]["configfiles"])
    assert len(rec["run"]["config_sha256"]) == 64


def test_a_path_keyed_by_another_config_is_refused(finished):
    wrong = "results/checkpoints/train-00000000/vanilla_beta0_afp_s0.pt"
    r = snakemake(finished, wrong, "--cores", "1", "--configfile", "config/tiny.yaml", "-n")
    assert r.returncode != 0 and "belongs to another config" in r.stdout + r.stderr
    assert not (finished / wrong).exists()


def test_qrobust_plan_prices_the_tiny_run_within_a_factor_of_two(two_runs, tmp_path):
    """`qrobust plan` before a run against the CPU seconds that run's jobs took (their provenance records): CPU
    time, which other work on the host (a parallel test run) does not inflate as it does wall time."""
    import subprocess
    import sys

    from _helpers import copy_workflow

    a, _ = two_runs
    fresh = copy_workflow(tmp_path / "fresh")
    r = subprocess.run([sys.executable, "-m", "qrobust.cli", "plan", *TARGETS, "--configfile", "config/tiny.yaml", "--json"],
                       cwd=fresh, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    plan = json.loads(r.stdout)
    took = {}
    for f in (a / "results" / "provenance").rglob("*.json"):
        rec = json.loads(f.read_text())
        if "seconds" in rec:
            took.setdefault(rec["rule"], []).append(rec["cpu_seconds"])
    assert {rule: len(v) for rule, v in took.items()} == plan["jobs"]
    real = sum(map(sum, took.values()))
    assert real / 2 <= plan["cpu_seconds"] <= 2 * real, (plan, {k: sum(v) for k, v in took.items()})
