"""qrobust.tables.worst: worst-case files told apart by path, indexed by model identity, paired with metrics."""
import json

import pytest

from qrobust.tables import worst as wc


def _rec(seed=0, defense="none", flags=(), ckpt="results/checkpoints/k/m.pt"):
    return {"run": {"method": "dq", "beta": 1e-3, "act_bits": 2, "seed": seed}, "defense": defense, "eps": 0.1,
            "worst_acc": 30.0, "checkpoint": ckpt, "audit": {"checks": [], "flags": list(flags), "masked": bool(flags)}}


def test_split_by_path(tmp_path):
    paths = ["results/metrics/robust/r/k/m_none.json", "results/metrics/worst/w/k/m_none.json",
             tmp_path / "results" / "metrics" / "worst" / "w" / "x.json", "results/worst/m.json"]
    other, worst = wc.split(paths)
    assert other == [paths[0], paths[3]] and worst == [paths[1], paths[2]]


def test_load_worst_keys_by_run_and_defense(tmp_path):
    files = []
    for i, r in enumerate([_rec(), _rec(defense="fs"), _rec(seed=1, flags=("ste_gap", "zero_gradient"))]):
        files.append(tmp_path / f"{i}.json")
        files[-1].write_text(json.dumps(r))
    idx = wc.load_worst(files)
    assert len(idx) == 3
    run = {"act_bits": 2, "beta": 1e-3, "method": "dq", "seed": 1}
    rec = idx[(json.dumps(run, sort_keys=True), "none")]
    assert wc.flags(rec) == "ste_gap;zero_gradient" and wc.flags(_rec()) == ""
    assert (json.dumps(_rec()["run"], sort_keys=True), "fs") in idx


def test_one_model_twice_is_refused_unless_the_same_checkpoint():
    assert len(wc.index([_rec(), _rec()])) == 1
    with pytest.raises(ValueError, match="two worst-case records for one model"):
        wc.index([_rec(), _rec(ckpt="results/checkpoints/other/m.pt")])


def test_attach_pairs_each_model_once():
    metrics = [{"run": _rec()["run"], "defense": "none"}, {"run": _rec(seed=1)["run"], "defense": "none"},
               {"run": _rec()["run"], "defense": "none"}]
    pairs = wc.attach(metrics, [_rec()], "t")
    assert [w is not None for _, w in pairs] == [True, False, False]  # the repeated model counts once
    with pytest.raises(ValueError, match="t: the worst-case record of results/checkpoints/k/m.pt .*defense fs"):
        wc.attach(metrics, [_rec(defense="fs")], "t")


def test_flags_in_the_audit_order():
    assert wc.ordered_flags(["ste_gap", "", "custom", "eps_reaches_chance", "ste_gap"]) == \
        ["eps_reaches_chance", "ste_gap", "custom"]
