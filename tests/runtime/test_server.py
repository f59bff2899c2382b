"""The warm job server (qrobust/runtime/server.py) changes how fast a job starts, never what it does."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QROBUST = Path(sys.executable).parent / "qrobust"


@pytest.fixture
def server_env():
    """A private server: its own socket folder (TMPDIR, short enough for a socket path), gone after."""
    tmp = tempfile.mkdtemp(prefix="qs", dir="/tmp")
    env = dict(os.environ, TMPDIR=tmp, QROBUST_SERVER="1", QROBUST_SERVER_IDLE="30")
    yield env
    for pid in _server_processes(tmp):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(tmp, ignore_errors=True)


def _server_processes(tmp: str) -> list[int]:
    """The server and its job children (they carry the socket path in their command line)."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "qrobust.runtime.server" in cmd and tmp in cmd:
                pids.append(int(p.name))
    return pids


def _job(env, *args, cwd):
    return subprocess.run([str(QROBUST), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


PREP = json.dumps({"dataset": "mnist5k", "split_seed": 0, "n_train": 100, "n_test": 50})


def test_a_job_through_the_server_writes_the_same_bytes_as_in_process(server_env, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    r = _job(server_env, "prepare_data", "--cfg", PREP, "--out", "prep", cwd=tmp_path / "a")
    assert r.returncode == 0, r.stderr
    assert len(_server_processes(server_env["TMPDIR"])) == 1  # it ran in a fork of a live server
    r = _job(dict(server_env, QROBUST_SERVER="0"), "prepare_data", "--cfg", PREP, "--out", "prep", cwd=tmp_path / "b")
    assert r.returncode == 0, r.stderr
    for name in ("train.pt", "test.pt", "meta.json"):
        assert (tmp_path / "a/prep" / name).read_bytes() == (tmp_path / "b/prep" / name).read_bytes(), name


def test_exit_status_and_stderr_are_the_jobs(server_env, tmp_path):
    bad = json.dumps({"dataset": "no_such_set", "split_seed": 0, "n_train": 10, "n_test": 10})
    warm = _job(server_env, "prepare_data", "--cfg", bad, "--out", "prep", cwd=tmp_path)
    cold = _job(dict(server_env, QROBUST_SERVER="0"), "prepare_data", "--cfg", bad, "--out", "prep", cwd=tmp_path)
    assert warm.returncode == cold.returncode == 2
    assert warm.stderr == cold.stderr and warm.stderr.startswith("qrobust: error:") and warm.stderr.count("\n") == 1
    usage = _job(server_env, "prepare_data", "--no-such-flag", cwd=tmp_path)
    assert usage.returncode == 2 and "the following arguments are required: --cfg, --out" in usage.stderr
    assert len(_server_processes(server_env["TMPDIR"])) == 1


def test_an_edited_source_file_is_what_the_next_job_runs(server_env, tmp_path):
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(server_env, PYTHONPATH=str(tmp_path / "src"))
    job = tmp_path / "src/qrobust/jobs/prepare_data.py"
    first = _job(env, "prepare_data", "--help", cwd=tmp_path)
    assert first.returncode == 0 and str(tmp_path) not in first.stdout
    job.write_text(job.read_text().replace('"""', f'"""Edited in {tmp_path}. ', 1))
    second = _job(env, "prepare_data", "--help", cwd=tmp_path)
    assert f"Edited in {tmp_path}." in second.stdout
    assert len(_server_processes(server_env["TMPDIR"])) == 1  # the same server ran both


def test_killing_the_client_stops_the_job(server_env, tmp_path):
    fifo = tmp_path / "ckpt.pt"
    os.mkfifo(fifo)  # opening it blocks: the job waits in torch.load until killed
    cfg = json.dumps({"attack": {"name": "fgsm", "eps": 0.1}, "eval": {}, "device": "cpu", "threads": 1})
    p = subprocess.Popen([str(QROBUST), "evaluate", "--cfg", cfg, "--data", "d", "--checkpoint", str(fifo),
                          "--out", "m.json"], env=server_env, cwd=tmp_path, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while len(_server_processes(server_env["TMPDIR"])) < 2:  # server + the job's fork
        assert time.time() < deadline and p.poll() is None, p.stderr.read() if p.poll() is not None else "no job"
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=10)
    deadline = time.time() + 10
    while len(_server_processes(server_env["TMPDIR"])) > 1:
        assert time.time() < deadline, "the job outlived its client"
        time.sleep(0.2)
    assert not (tmp_path / "m.json").exists()


def test_no_server_when_disabled(server_env, tmp_path):
    r = _job(dict(server_env, QROBUST_SERVER="0"), "prepare_data", "--help", cwd=tmp_path)
    assert r.returncode == 0 and not _server_processes(server_env["TMPDIR"])


def test_a_process_that_forces_other_cpu_kernels_gets_its_own_server(monkeypatch):
    """ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA are read once per process: a warm server started with native
    kernels must not run a job that asked for others."""
    from qrobust.runtime import server

    for var in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(var, raising=False)
    native = server._identity()
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    forced = server._identity()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert len({native, forced, server._identity()}) == 3
