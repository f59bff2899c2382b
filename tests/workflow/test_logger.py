"""The default terminal (profiles/default: the qrobust logger): one line per job, progress with time left."""
import io
import logging
import re
import shutil
from types import SimpleNamespace

import pytest
from snakemake_interface_logger_plugins.common import LogEvent

from _helpers import ROOT, copy_workflow, snakemake
from snakemake_logger_plugin_qrobust import LogHandler, clock


def handler(**settings):
    h = LogHandler(SimpleNamespace(stdout=False, dryrun=False, show_failed_logs=True, **settings), None)
    h.stream = io.StringIO()
    return h


def record(msg="", level=logging.INFO, **extra):
    r = logging.LogRecord("snakemake", level, __file__, 1, msg, None, None)
    r.__dict__.update(extra)
    return r


def test_one_line_per_job_and_progress_with_the_time_left(monkeypatch):
    h = handler()
    now = [100.0]
    monkeypatch.setattr("snakemake_logger_plugin_qrobust.time.monotonic", lambda: now[0])
    h.start = 100.0
    h.emit(record(event=LogEvent.RUN_INFO, stats={"train": 3, "table": 1, "total": 4}))
    h.emit(record(event=LogEvent.RUN_INFO, stats={"train": 3, "table": 1, "total": 4}))  # sent twice: shown once
    h.emit(record(event=LogEvent.JOB_INFO, jobid=1, rule_name="train", wildcards={"key": "train-1a2b3c4d", "seed": "0"},
                  input=["a" * 1500], log=["logs/train/x.log"]))
    now[0] = 130.0
    h.emit(record(event=LogEvent.PROGRESS, done=1, total=4))
    h.emit(record("Building DAG of jobs..."))  # chatter: dropped
    h.emit(record("a warning", level=logging.WARNING))
    now[0] = 220.0
    h.emit(record(event=LogEvent.PROGRESS, done=4, total=4))
    lines = h.stream.getvalue().splitlines()
    assert lines == ["4 jobs: train 3, table 1", "[0s] train  key=train-1a2b3c4d seed=0",
                     "[30s] 1/4 jobs (25%), about 1m30s left", "a warning", "[2m00s] 4/4 jobs (100%)"]


def test_a_failed_job_names_its_log_and_shows_its_end(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("".join(f"line {i}\n" for i in range(20)) + "qrobust: error: --cfg: model.name 'nope' is not allowed\n")
    h = handler()
    h.emit(record(event=LogEvent.JOB_INFO, jobid=7, rule_name="evaluate", wildcards={"run": "x"}, log=[str(log)]))
    h.emit(record("Error in rule evaluate, jobid: 7", level=logging.ERROR, event=LogEvent.JOB_ERROR, jobid=7,
                  rule_name="evaluate", log=[str(log)]))
    out = h.stream.getvalue().splitlines()
    assert out[1].endswith(f"FAILED evaluate  run=x (jobid 7); log: {log}")
    assert out[-1] == "    qrobust: error: --cfg: model.name 'nope' is not allowed" and len(out) == 2 + 8


def test_clock():
    assert [clock(s) for s in (0.4, 59, 61, 3725)] == ["0s", "59s", "1m01s", "1h02m05s"]


@pytest.mark.slow
def test_the_default_profile_prints_one_line_per_job(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    shutil.copytree(ROOT / "profiles", wd / "profiles")
    args = ["results/table1.csv", "--configfile", "config/tiny.yaml", "--cores", "2"]
    dry = snakemake(wd, "-n", *args)
    assert dry.returncode == 0, dry.stderr[-2000:]
    out = dry.stdout + dry.stderr
    jobs = [ln for ln in out.splitlines() if "] would run " in ln]
    full = snakemake(wd, "-n", *args, "--workflow-profile", "none")
    n = sum(1 for ln in (full.stdout + full.stderr).splitlines() if ln.startswith("rule "))
    assert len(jobs) == n > 5 and "input:" not in out
    assert len(out) < len(full.stdout + full.stderr) / 5
    real = snakemake(wd, *args, "--until", "prepare_data")
    assert real.returncode == 0, real.stderr[-2000:]
    lines = (real.stdout + real.stderr).splitlines()
    assert any(re.fullmatch(r"\[\d+s\] prepare_data", ln) for ln in lines), lines
    assert any(re.search(r"\] 1/\d+ jobs \(\d+%\)", ln) for ln in lines), lines
    assert len(lines) <= 6, lines
