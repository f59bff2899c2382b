"""Provenance of the tiny table1 run: cells resolve to real files, verify catches tampering."""
import json
import subprocess
import sys

import pytest

from _helpers import only
from qrobust._io import sha256_file

pytestmark = pytest.mark.slow


def qrobust(cwd, *args):
    return subprocess.run([sys.executable, "-m", "qrobust.cli", *args], cwd=cwd, capture_output=True, text=True)


def _walk(node):
    yield node
    for child in node.get("inputs", []):
        yield from _walk(child)


def rel(wd, pattern):
    return only(wd, pattern).relative_to(wd).as_posix()


def test_cell_chain_resolves_to_the_actual_files(finished):
    r = qrobust(finished, "provenance", "results/table1.csv", "--row", "DQ (1e-3)", "--col", "2", "--metric", "adv", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    rules = []
    for node in _walk(out["chain"]):
        path = node["file"] if node["file"].startswith("/") else finished / node["file"]
        assert node["intact"] and sha256_file(path) == node["sha256_recorded"], node["file"]
        if "job" in node:
            rules.append(node["job"]["rule"])
    # table -> metrics file -> checkpoint -> training job -> prepared data -> raw data
    assert rules[:3] == ["table", "evaluate", "prepare_data"] and "train" in rules
    files = [n["file"] for n in _walk(out["chain"])]
    metrics = rel(finished, "results/metrics/eval/eval-*/train-*/dq_beta0.001_a2_s0.json")
    assert metrics in files
    assert rel(finished, "results/checkpoints/train-*/dq_beta0.001_a2_s0.pt") in files
    assert any(f.endswith("mnist_5k.csv.gz") for f in files)
    assert float(out["value"]) == json.loads((finished / metrics).read_text())["adv_acc"]


def test_records_hold_what_made_each_output(finished):
    rec = json.loads(only(finished, "results/provenance/train/train-*/vanilla_beta0_a2_s0.json").read_text())
    assert rec["rule"] == "train" and rec["seed"] == 0 and rec["device"] == "cpu"
    ckpt = rel(finished, "results/checkpoints/train-*/vanilla_beta0_a2_s0.pt")
    assert rec["outputs"][ckpt] == sha256_file(finished / ckpt)
    data = rel(finished, "data/prepared/mnist5k-*/train.pt").rsplit("/", 1)[0]
    assert set(rec["inputs"]) == {f"{data}/train.pt", f"{data}/meta.json"}
    assert {"python", "torch", "torchvision", "snakemake", "dvc"} <= set(rec["versions"])
    assert {"git_commit", "git_dirty", "files"} <= set(rec["code"]) and "qrobust/papers/dq/regularizer.py" in rec["code"]["files"]
    assert rec["config"]["model"]["name"] == "small_cnn" and len(rec["config_sha256"]) == 64
    assert rec["command"].startswith("qrobust train") and rec["start"] <= rec["end"]


def test_verify_passes_then_names_a_one_byte_edit_to_a_checkpoint(finished):
    assert qrobust(finished, "verify").returncode == 0
    ckpt = only(finished, "results/checkpoints/train-*/dq_beta0.001_a2_s0.pt")
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0x01
    ckpt.write_bytes(bytes(data))
    r = qrobust(finished, "verify")
    assert r.returncode == 1 and f"{ckpt.relative_to(finished).as_posix()}: modified" in r.stderr


def test_verify_names_an_edited_metrics_file(finished):
    path = only(finished, "results/metrics/eval/*/*/vanilla_beta0_afp_s0.json")
    path.write_text(path.read_text().replace('"n": ', '"n":  '))  # one extra byte
    r = qrobust(finished, "verify")
    assert r.returncode == 1 and "vanilla_beta0_afp_s0.json: modified" in r.stderr


def test_verify_names_a_stale_table(finished):
    # an evaluation rerun (new output, new record) that the table was not rebuilt from
    metrics = only(finished, "results/metrics/eval/*/*/vanilla_beta0_afp_s0.json")
    metrics.write_text(metrics.read_text().replace('"n": ', '"n":  '))
    rec_path = only(finished, "results/provenance/evaluate/*/*/vanilla_beta0_afp_s0.json")
    rec = json.loads(rec_path.read_text())
    rec["outputs"][metrics.relative_to(finished).as_posix()] = sha256_file(metrics)
    rec_path.write_text(json.dumps(rec))
    r = qrobust(finished, "verify")
    assert r.returncode == 1 and "results/table1.csv: stale" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["--row", "Nope", "--col", "2"], "--row 'Nope' is not in"),
    (["--row", "Vanilla", "--col", "7"], "--col '7' is not in"),
    (["--row", "Vanilla", "--col", "2", "--metric", "loss"], "use clean or adv"),
    (["--row", "Vanilla"], "--row and --col go together"),
])
def test_bad_queries_give_one_line(finished, args, needle):
    r = qrobust(finished, "provenance", "results/table1.csv", *args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and needle in r.stderr


def test_unknown_file_and_corrupted_record_give_one_line_and_change_nothing(finished):
    r = qrobust(finished, "provenance", "results/nothing.csv")
    assert r.returncode == 2 and "no provenance record" in r.stderr
    rec = finished / "results/provenance/figures/fig1.json"
    rec.write_text("{not json")
    before = rec.read_bytes()
    r = qrobust(finished, "verify")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "fig1.json: corrupted provenance record" in r.stderr
    assert rec.read_bytes() == before
