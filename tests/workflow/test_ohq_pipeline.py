"""Table 6 (OHQ-LP) and the quantizer suite through Snakemake on the tiny config."""
import json
import subprocess

import pandas as pd
import pytest
import torch
import yaml

from _helpers import BIN, ROOT, only, planned_jobs, snakemake
from _helpers import OHQ_TARGETS as TARGETS

pytestmark = pytest.mark.slow

TINY = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())


def test_only_new_jobs_ran_and_training_was_reused(ohq_run):
    _, r = ohq_run
    ran = r.stdout + r.stderr
    assert "rule train:" not in ran and "rule prepare_data:" not in ran
    for rule in ("ohq_profile", "ohq_sensitivity", "ohq_allocate", "ohq_deploy", "table", "figure",
                 "quantize", "evaluate"):
        assert f"rule {rule}:" in ran, rule


def test_table6_rows_and_the_infeasible_budget(ohq_run):
    wd, _ = ohq_run
    t = pd.read_csv(wd / "results" / "table6.csv")
    assert t.Method.tolist()[:3] == ["Uniform FP32", "Uniform INT8", "Uniform INT4"]
    lp = t[(t.Method == "OHQ-LP") & (t.Budget == "lat50")].iloc[0]
    assert lp.Status == "Optimal" and lp["Solve (s)"] >= 0 and len(lp.Plan.split("/")) == 4
    assert ((t.Accuracy.dropna() >= 0) & (t.Accuracy.dropna() <= 100)).all()
    assert (t["Latency (ms)"].dropna() > 0).all()
    assert "Random" in set(t[t.Budget == "lat50"].Method)
    bad = t[t.Budget == "tiny-ms"]
    assert len(bad) == 1 and bad.Status.iloc[0].startswith("Infeasible: smallest feasible latency")
    # the deploy job kept the LP's solver output and the smallest feasible budget
    dep = json.loads(only(wd, "results/ohq/ohq-*/s0/deploy.json").read_text())
    assert dep["allocations"]["tiny-ms"]["smallest_feasible"]["latency"]["absolute"] > 1e-4
    assert "budget 'tiny-ms' is infeasible" in only(wd, "logs/ohq_allocate/ohq-*/s0_tiny-ms.log").read_text()
    assert (wd / "results/figures/pareto.pdf").stat().st_size > 0


def test_profile_says_what_was_measured_and_what_was_modelled(ohq_run):
    wd, _ = ohq_run
    prof = json.loads(only(wd, "results/ohq/ohq-*/profile.json").read_text())
    assert prof["hardware"] and prof["engine"] == "x86" and prof["repeats"] == TINY["ohq"]["latency"]["repeats"]
    for layer in prof["layers"]:
        assert layer["source"] == {"fp32": "measured", "int8": "measured", "int4": "cost_model"}
        assert all(v > 0 for v in layer["latency_ms"].values())
    assert prof["cost_model"]["fitted_on"] == ["fp32", "int8"]


def test_quantizer_suite_table_and_checkpoints(ohq_run):
    wd, _ = ohq_run
    t = pd.read_csv(wd / "results" / "quantizers.csv")
    assert t.Scheme.tolist() == ["float", "ptq-mse", "qat-pact", "qat-lsq", "ptq-adaround"]
    assert t.Mode.fillna("").tolist() == ["", "PTQ", "QAT", "QAT", "PTQ"]
    cols = ["W4A4 clean", "W4A4 adv."]
    assert t[cols].iloc[1:].notna().all().all() and ((t[cols].iloc[1:] >= 0) & (t[cols].iloc[1:] <= 100)).all().all()
    from qrobust.checkpoint import load_checkpoint

    ptq, blob = load_checkpoint(only(wd, "results/checkpoints/quantize-*/ptq-mse_w4a4_s0.pt"))
    assert blob["spec"]["folded"] and not any(isinstance(m, torch.nn.BatchNorm2d) for m in ptq.modules())
    qat, blob = load_checkpoint(only(wd, "results/checkpoints/quantize-*/qat-pact_w4a4_s0.pt"))
    alphas = [m.alpha.item() for m in qat.modules() if hasattr(m, "alpha")]
    assert alphas and len(set(alphas)) == len(alphas)  # learned per layer
    assert len(blob["extra"]["history"]) == TINY["quantize"]["qat"]["epochs"]
    lsq, _ = load_checkpoint(only(wd, "results/checkpoints/quantize-*/qat-lsq_w4a4_s0.pt"))
    assert all(bool(m.initialized) and (m.step > 0).all() for m in lsq.modules() if hasattr(m, "step"))
    # AdaRound: the job's metrics hold each layer's reconstruction loss, nearest rounding and learned
    ada = json.loads(only(wd, "results/metrics/quantize/*/ptq-adaround_w4a4_s0.json").read_text())
    rec = ada["reconstruct"]
    assert len(rec) == 4 and all(r["loss_adaround"] >= 0 and 0 <= r["changed"] <= 1 for r in rec)
    model, _ = load_checkpoint(only(wd, "results/checkpoints/quantize-*/ptq-adaround_w4a4_s0.pt"))
    assert all(m.up.numel() == m_w.numel() for m, m_w in ((layer.wq, layer.weight) for layer in model.modules()
                                                          if hasattr(layer, "wq") and layer.wq is not None))


def test_editing_the_allocator_reruns_allocation_and_deployment_only(ohq_run, tmp_path):
    import shutil

    wd = shutil.copytree(ohq_run[0], tmp_path / "wf", symlinks=True)
    assert planned_jobs(snakemake(wd, "-n", *TARGETS, "--cores", "2", "--configfile", "config/tiny.yaml")) == {}
    f = wd / "src/qrobust/papers/ohq/allocate.py"
    f.write_text(f.read_text() + "\n# edited\n")
    jobs = planned_jobs(snakemake(wd, "-n", *TARGETS, "--cores", "2", "--configfile", "config/tiny.yaml"))
    assert jobs == {"ohq_allocate": 2, "ohq_deploy": 1, "table": 1, "figure": 1}


def test_provenance_of_table6_reaches_the_profile_and_the_float_checkpoint(ohq_run):
    wd, _ = ohq_run
    out = subprocess.run([str(BIN / "qrobust"), "provenance", "results/table6.csv", "--json"], cwd=wd,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for f in ("results/ohq/ohq-*/s0/deploy.json", "results/ohq/ohq-*/profile.json", "results/ohq/ohq-*/s0/sensitivity.json",
              "results/checkpoints/train-*/vanilla_beta0_afp_s0.pt"):
        assert only(wd, f).relative_to(wd).as_posix() in text, f
