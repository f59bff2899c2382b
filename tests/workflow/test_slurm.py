"""The tiny table1 DAG through the slurm profile on a real one-node SLURM cluster."""
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from _helpers import ROOT, copy_workflow, snakemake

TARGETS = ["results/table1.csv", "results/figures/fig1.png"]


def _node_state() -> str:
    try:
        r = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return r.stdout.strip().splitlines()[0] if r.returncode == 0 and r.stdout.strip() else ""


@pytest.fixture(scope="session")
def slurm_cluster():
    if _node_state() not in ("idle", "mix", "alloc"):
        if os.geteuid() != 0:
            pytest.skip("no SLURM cluster running and not root to start one (run: sudo bash .ci/slurm-up.sh)")
        r = subprocess.run(["bash", str(ROOT / ".ci" / "slurm-up.sh")], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            pytest.skip(f"could not install or start SLURM here: {(r.stderr or r.stdout).strip()[-300:]}")
    return _node_state()


def test_profile_requests_gpus_for_network_rules_and_keeps_cluster_settings_out_of_rules():
    prof = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert prof["executor"] == "slurm"
    assert {"slurm_partition", "runtime", "mem_mb"} <= set(prof["default-resources"])
    for rule in ("train", "evaluate", "worst_case"):
        assert prof["set-resources"][rule]["gpu"] >= 1 and prof["set-resources"][rule]["cpus_per_gpu"] >= 1
    rules = "".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk"))
    assert "slurm_partition" not in rules and "slurm_account" not in rules
    # the jobs of seconds share one submission; no job that runs a network is grouped
    assert set(prof["groups"]) == {"table", "figure", "claims", "scorecard"}
    assert set(prof["groups"].values()) == {"report"} and prof["group-components"]["report"] >= 100
    assert all(prof["set-resources"][r]["runtime"] <= 10 for r in prof["groups"])


@pytest.mark.slow
def test_tiny_dag_through_slurm_matches_the_local_run(slurm_cluster, two_runs, tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    r = snakemake(wd, *TARGETS, "--profile", str(ROOT / "profiles/slurm"), "--configfile", "config/tiny.yaml",
                  # this node has no GPU; poll fast for a test
                  "--set-resources", "train:gpu=0", "evaluate:gpu=0", "worst_case:gpu=0",
                  "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    out = r.stdout + r.stderr
    n_jobs = int(re.search(r"(\d+) of \1 steps \(100%\) done", out).group(1))
    submitted = set(re.findall(r"SLURM jobid (\d+)", out))
    # every job goes through sbatch; the table and the figure (the profile's `report` group) as one
    assert len(submitted) == n_jobs - 1, (len(submitted), n_jobs)
    log_dir = wd / ".snakemake" / "slurm_logs"
    logs = list(log_dir.rglob("*.log"))  # rule_<name>/<wildcards>/<slurm job id>.log, group_<names>/<id>.log
    assert len(logs) == n_jobs - 1
    assert {p.relative_to(log_dir).parts[0] for p in logs} == (
        {f"rule_{r}" for r in ("prepare_data", "train", "evaluate", "worst_case")} | {"group_report_figure_table"})
    (group_log,) = (log_dir / "group_report_figure_table").glob("*.log")
    text = group_log.read_text()
    assert "rule table:" in text and "rule figure:" in text  # both ran inside the one SLURM job
    for record, job in (("table1.json", "table"), ("figures/fig1.json", "figure")):  # each its own provenance
        prov = json.loads((wd / "results" / "provenance" / record).read_text())
        assert prov["command"].startswith(f"qrobust {job} "), prov["command"][:80]
    local = two_runs[0]
    for name in ("table1.csv", "table1_std.csv", "table1_long.csv"):
        assert (wd / "results" / name).read_bytes() == (local / "results" / name).read_bytes(), name
    assert shutil.which("sbatch")
