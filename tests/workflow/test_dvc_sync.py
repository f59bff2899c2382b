"""dvc.yaml stays in step with the Snakemake DAG: every file `snakemake all` makes lies under the `all`
stage's outs, and its metrics and plots are files the DAG makes (the claims job's summaries, every
figure's PNG)."""
import re

import yaml

from _helpers import ROOT
from qrobust.commands._freshness import dag_summary

DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())


def _outputs():
    return {row["output_file"] for row in dag_summary(["all"], cwd=ROOT)}


OUTPUTS = None


def outputs():
    global OUTPUTS
    if OUTPUTS is None:
        OUTPUTS = _outputs()
    return OUTPUTS


def _outs():
    return [next(iter(o)) if isinstance(o, dict) else o for o in DVC["stages"]["all"]["outs"]]


def test_every_file_the_dag_makes_is_under_a_dvc_out():
    outs = _outs()
    loose = sorted(f for f in outputs() if not any(f == o or f.startswith(o.rstrip("/") + "/") for o in outs))
    assert len(outputs()) > 300 and not loose, f"not versioned by dvc.yaml: {loose[:10]}"


def test_the_stage_runs_the_whole_dag_and_every_out_persists():
    stage = DVC["stages"]["all"]
    assert stage["cmd"].split()[:2] == ["snakemake", "all"]
    assert all(o[next(iter(o))]["persist"] for o in stage["outs"])
    assert stage["params"] == [{"config/config.yaml": None}]  # every key of the config


def test_metrics_are_the_claims_summaries_and_plots_every_figure():
    made = outputs()
    summaries = {f for f in made if re.fullmatch(r"results/summary/\w+\.json", f)}
    figures = {f for f in made if re.fullmatch(r"results/figures/\w+\.png", f)}
    assert summaries and set(DVC["metrics"]) == summaries
    assert len(figures) >= 5 and set(DVC["plots"]) == figures
