"""qrobust plan's cost model (qrobust/plan/cost.py) and command (qrobust/commands/plan.py)."""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from qrobust.config import load_configs
from qrobust.plan import cost

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny():
    return load_configs([ROOT / "config" / "config.yaml", ROOT / "config" / "tiny.yaml"])


def test_work_follows_the_config(tiny):
    base = cost.work(tiny)
    more = copy.deepcopy(tiny)
    more["train"]["epochs"] *= 2
    more["worst_case"]["n_images"] *= 2
    more["worst_case"]["ensemble"].append({"attack": "pgd", "steps": 50})
    w = cost.work(more)
    assert w["train"]["train"] == 2 * base["train"]["train"]
    assert w["worst_case"]["fwd"] == 2 * base["worst_case"]["fwd"]
    # 50 more steps on each of the two paths, for every image
    per_image = base["worst_case"]["grad"] / base["worst_case"]["fwd"]
    assert w["worst_case"]["grad"] == pytest.approx(2 * base["worst_case"]["fwd"] * (per_image + 100))
    # PGD at a larger eps with no steps set takes Kurakin's count, so robust_eval grows
    kurakin = copy.deepcopy(tiny)
    kurakin["dq"]["attack_kwargs"] = {}
    assert cost.work(kurakin)["robust_eval"]["grad"] > base["robust_eval"]["grad"]


def test_the_reference_config_on_the_reference_host_costs_the_reference_seconds(tiny):
    rates = {"model": {"train": 1000.0, "fwd": 4000.0, "grad": 1500.0}, "substitute": {"train": 500.0, "fwd": 2000.0, "grad": 700.0}}
    rules = {r: {"seconds": 3.0 + i, "jobs": 2} for i, r in enumerate(cost.work(tiny))}
    rules["table"] = {"seconds": 0.4, "jobs": 10}
    ref = {"config": tiny, "rates": rates, "overhead_s": 0.5, "rules": rules}
    # the same host (its rates), the same config: each rule's reference seconds
    factor = 0.8  # the host factor: fixed work and overheads take 0.8 of their reference seconds here
    same = cost.job_seconds(tiny, ref, host_rates=rates, factor=factor)
    for rule, r in rules.items():
        if rule in cost.FIXED_RULES:
            assert same[rule] == pytest.approx(r["seconds"] * factor)
        else:
            assert same[rule] == pytest.approx(0.5 * factor + r["seconds"] - 0.5)
    # twice the training epochs: the train job's cost beyond its overhead grows with its passes
    longer = copy.deepcopy(tiny)
    longer["train"]["epochs"] *= 2
    s = cost.job_seconds(longer, ref, host_rates=rates, factor=factor)
    p0, p1 = cost.predicted(tiny, rates)["train"], cost.predicted(longer, rates)["train"]
    assert p1 > 1.9 * p0
    assert s["train"] - 0.5 * factor == pytest.approx((rules["train"]["seconds"] - 0.5) * p1 / p0)
    # a host twice as fast for the config's model halves the scaled part
    fast = {m: {k: 2 * v for k, v in r.items()} for m, r in rates.items()}
    halved = (rules["worst_case"]["seconds"] - 0.5) / 2
    assert cost.job_seconds(tiny, ref, host_rates=fast, factor=factor)["worst_case"] - 0.5 * factor == pytest.approx(halved)


def test_the_dry_run_counts_the_jobs_of_each_rule(tmp_path, tiny):
    from _helpers import copy_workflow

    wd = copy_workflow(tmp_path / "wf")
    jobs = cost.dry_run(["results/table1.csv"], ["config/tiny.yaml"], cwd=wd)
    cells = len(tiny["methods"]) * len(tiny["quant"]["act_bits"]) * len(tiny["seeds"])
    assert jobs["train"] == cells + 1 and jobs["evaluate"] == cells  # + the transfer's substitute
    assert jobs["prepare_data"] == 1
    assert jobs["table"] == 1 and "all" not in jobs
    with pytest.raises(RuntimeError, match="dry run"):
        cost.dry_run(["results/no_such_table.csv"], ["config/tiny.yaml"], cwd=wd)


def test_gpu_hours_price_the_work_at_the_given_rates(tiny):
    rates = {"train_img_s": 100.0, "infer_fp32_img_s": 1000.0, "pgd10_img_s": 50.0}
    total, rows = cost.gpu_hours(tiny, {"train": 3, "table": 1}, rates)
    w = cost.work(tiny)["train"]
    assert total == pytest.approx(3 * (w["train"] / 100 + w["fwd"] / 1000) / 3600)
    assert dict((r, h) for r, _, h in rows)["table"] == 0


def test_qrobust_plan_prints_the_jobs_and_their_cost(tmp_path):
    from _helpers import copy_workflow

    wd = copy_workflow(tmp_path / "wf")
    cmd = [sys.executable, "-m", "qrobust.cli", "plan", "results/table1.csv", "--configfile", "config/tiny.yaml"]
    r = subprocess.run([*cmd, "--json"], cwd=wd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    plan = json.loads(r.stdout)
    assert plan["jobs"]["train"] >= 1 and plan["cpu_seconds"] > 0
    assert all(s > 0 for s in plan["seconds_per_job"].values())
    bad = subprocess.run([*cmd[:-1], "config/nope.yaml"], cwd=wd, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "config/nope.yaml: no such config file" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
