"""The worst_case job (jobs/worst_case.py) through the CLI, on a tiny prepared split and checkpoint."""
import argparse
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from _toy_models import toy_data

from qrobust.checkpoint import save_checkpoint
from qrobust.models import create_model
from qrobust.quant import QuantConfig, quantize_
from qrobust.runtime import atomic

CFG = {
    "worst_case": {
        "eps": 0.1, "n_images": 24, "paths": ["ste", "bpda"], "temperature": 0.25,
        "ensemble": [{"attack": "fgsm"}, {"attack": "pgd", "steps": 3},
                     {"attack": "square", "n_queries": 20, "p_init": 0.8},
                     {"attack": "transfer", "sources": ["surrogate", "float", "substitute"], "inner": "fgsm"}],
        "audit": {"sweep_eps": [0.1, 0.3], "pgd": {"steps": 3}, "chance_margin": 5.0,
                  "blackbox_tolerance": 5.0, "gap_tolerance": 5.0},
    },
    "eval": {"batch_size": 16}, "device": "cpu", "threads": 1, "dq": {"squeeze": {"bits": 5, "median": 2}},
}
KEYS = {"n", "eps", "n_classes", "clean_acc", "worst_acc", "members", "best", "autoattack", "correct", "skipped",
        "audit", "run", "defense", "checkpoint", "seconds", "images", "worst_correct", "broken_by", "worst_acc_ensemble"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A prepared split (test.pt + meta.json, as prepare_data writes them) and a small_cnn checkpoint
    with 4-bit activations, trained a few steps on the toy task."""
    root = tmp_path_factory.mktemp("wc_job")
    x, y = toy_data(40, 7)
    data = root / "data"
    atomic.torch_save(data / "test.pt", {"x": x, "y": y})
    atomic.write_json(data / "meta.json", {"dataset": "toy", "shape": [1, 8, 8], "num_classes": 10, "n_test": 40,
                                        "sha256": {"test.pt": atomic.sha256_file(data / "test.pt")}})
    spec = {"model": {"name": "small_cnn", "num_classes": 10, "in_channels": 1, "act": "relu6", "width": 4,
                      "hidden": 16, "mean": [0.5], "std": [0.25]},
            "quant": {"act_bits": 4, "weight_bits": None}}
    torch.manual_seed(0)
    model = quantize_(create_model(**spec["model"]), QuantConfig(act_bits=4))
    xt, yt = toy_data(500, 1)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        i = torch.randint(0, len(yt), (32,), generator=g)
        loss = nn.functional.cross_entropy(model(xt[i].float() / 255), yt[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    ckpt = root / "model.pt"
    save_checkpoint(ckpt, model.eval(), spec, extra={"run": {"method": "vanilla", "seed": 3}})
    return data, ckpt


def _qrobust(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "qrobust.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_help_describes_the_job():
    r = _qrobust("worst_case", "--help")
    assert r.returncode == 0, r.stderr
    assert "Worst-case robust accuracy" in r.stdout and "--substitute" in r.stdout and "--defense" in r.stdout


@pytest.mark.parametrize("defense", ["none", "fs"])
def test_the_job_writes_the_worst_case_and_its_audit(prepared, tmp_path, defense):
    data, ckpt = prepared
    out = tmp_path / "worst.json"
    r = _qrobust("worst_case", "--cfg", json.dumps(CFG), "--data", data, "--checkpoint", ckpt,
                 "--substitute", ckpt, "--defense", defense, "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert set(res) == KEYS
    assert res["n"] == 24 and res["n_classes"] == 10 and res["eps"] == 0.1 and res["defense"] == defense
    assert res["run"] == {"method": "vanilla", "seed": 3} and res["checkpoint"] == str(ckpt)
    assert set(res["seconds"]) == {"ensemble", "audit"} and res["skipped"] == []
    names = [m["name"] for m in res["members"]]
    assert names == ["fgsm@ste", "fgsm@bpda", "pgd@ste", "pgd@bpda", "square", "transfer:surrogate",
                     "transfer:float", "transfer:substitute"]
    assert res["worst_acc"] <= min(m["acc"] for m in res["members"] if not m["pruned"]) <= res["clean_acc"]
    assert [m["name"] for m in res["members"] if m["pruned"]] == names[4:]  # square and the transfers
    assert res["best"] == min((m for m in res["members"] if not m["pruned"]), key=lambda m: m["acc"])["name"]
    assert all(len(s) == 24 for s in res["correct"].values())
    # the seed's own sample of the test split, and per image whether it survived every member
    from qrobust.evaluation.images import encode, sample, unbits

    assert res["images"] == encode(sample(40, 24, 3)) and len(res["worst_correct"]) == 24
    assert 100.0 * unbits(res["worst_correct"]).mean() == pytest.approx(res["worst_acc"])
    assert set(res["audit"]) == {"checks", "flags", "masked", "eps_sweep"}
    assert {c["check"] for c in res["audit"]["checks"]} == {
        "eps_reaches_chance", "iterative_beats_single_step", "more_steps_stable", "second_surrogate", "saturated",
        "blackbox_not_better", "zero_gradient", "ste_gap"}
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith(f"model [{defense}]: clean ") and "worst" in line and "masking flags:" in line


def test_bad_configs_fail_in_one_line_before_loading(tmp_path):
    from qrobust.jobs import worst_case as job

    def args(cfg, defense="none"):
        return argparse.Namespace(cfg=json.dumps(cfg), data=str(tmp_path / "none"),
                                  checkpoint=str(tmp_path / "none.pt"), substitute=None, defense=defense,
                                  out=str(tmp_path / "o.json"))

    bad_path = json.loads(json.dumps(CFG))
    bad_path["worst_case"]["ensemble"][1]["paths"] = ["ste", "steep"]
    with pytest.raises(ValueError, match=r"ensemble\[1\] \(pgd\) paths: unknown gradient path 'steep'"):
        job.run(args(bad_path))
    no_fs = {k: v for k, v in CFG.items() if k != "dq"}
    with pytest.raises(ValueError, match="--defense fs needs the squeezer's settings"):
        job.run(args(no_fs, "fs"))
    bad_audit = json.loads(json.dumps(CFG))
    bad_audit["worst_case"]["audit"]["tolerance"] = 1
    with pytest.raises(ValueError, match="worst_case.audit: unknown key"):
        job.run(args(bad_audit))
