"""`qrobust restore` (after `dvc pull`): each job's outputs after its inputs, and none in the future once
it returns, so a job rerun right away writes outputs newer than its inputs."""
import json
import os
import time

from qrobust.provenance.record import FORMAT, load_records, restore_mtimes
from qrobust.runtime import atomic


def _job(root, name, inputs, rule):
    out = root / f"{name}.txt"
    out.write_text(name)
    rec = {"format": FORMAT, "rule": rule, "inputs": {i: atomic.sha256_file(root / i) for i in inputs},
           "outputs": {f"{name}.txt": atomic.sha256_file(out)}}
    (root / "records").mkdir(exist_ok=True)
    (root / "records" / f"{name}.json").write_text(json.dumps(rec))


def test_restored_outputs_follow_their_inputs_and_none_lies_in_the_future(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw.txt").write_text("raw")
    _job(tmp_path, "a", ["raw.txt"], "prepare_data")
    _job(tmp_path, "b", ["a.txt"], "train")
    _job(tmp_path, "c", ["b.txt", "raw.txt"], "table")
    n = restore_mtimes(load_records(tmp_path / "records"))
    now = time.time()
    m = {k: os.stat(f"{k}.txt").st_mtime for k in ("raw", "a", "b", "c")}
    assert n == 6  # three outputs and their three records
    assert m["raw"] < m["a"] < m["b"] < m["c"] <= now, (m, now)
