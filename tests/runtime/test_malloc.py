"""qrobust/runtime/malloc.py: every job sets glibc's heap thresholds; the thresholds take effect, QROBUST_MALLOC=0
keeps glibc's defaults, and a job's outputs are the same bytes either way."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from qrobust.runtime import malloc

pytestmark = pytest.mark.skipif(not malloc._glibc(), reason="the thresholds are glibc's (Linux)")

# how many bytes of a fresh 20 MB block glibc serves from mmap (mallinfo2's hblkhd), after tune() or not
_PROBE = r"""
import ctypes, sys
from qrobust.runtime import malloc
tuned = malloc.tune()
libc = ctypes.CDLL("libc.so.6")
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
before = libc.mallinfo2().hblkhd
p = libc.malloc(20 * 2**20)
print(int(tuned), libc.mallinfo2().hblkhd - before)
libc.free(ctypes.c_void_p(p))
"""


def _probe(setting: str) -> tuple[int, int]:
    r = subprocess.run([sys.executable, "-c", _PROBE], env=dict(os.environ, QROBUST_MALLOC=setting),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    tuned, mmapped = r.stdout.split()
    return int(tuned), int(mmapped)


def test_tuned_blocks_come_from_the_heap_and_the_default_maps_them():
    assert _probe("1") == (1, 0)  # 20 MB < the 32 MB threshold: a heap block
    tuned, mmapped = _probe("0")
    assert tuned == 0 and mmapped >= 20 * 2**20  # glibc's default: a fresh mapping


def test_the_switch_and_the_non_glibc_case(monkeypatch):
    monkeypatch.setenv("QROBUST_MALLOC", "0")
    assert malloc.tune() is False
    monkeypatch.delenv("QROBUST_MALLOC")
    monkeypatch.setattr(malloc, "_glibc", lambda: False)
    assert malloc.tune() is False


def test_every_job_sets_them_and_no_user_command_does(monkeypatch, tmp_path):
    from qrobust.runtime import dispatch

    calls = []
    monkeypatch.setattr(malloc, "tune", lambda: calls.append(1) or True)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seeds: [0]\n")
    dispatch.run_here(["check-config", str(cfg)])
    assert calls == []
    # a job: it fails on its bad table name, after the thresholds were set
    rc = dispatch.run_here(["table", "no_such_table", "--out", str(tmp_path / "t.csv"), str(tmp_path / "m.json")])
    assert rc == 2 and calls == [1]


def test_a_training_job_writes_the_same_bytes_either_way(tmp_path):
    """A real job (training a 2-bit model, batch 250) in a fresh process with and without the thresholds."""
    import torch

    from qrobust.runtime import atomic

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(500, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    y = torch.randint(0, 10, (500,), generator=g)
    data = tmp_path / "data"
    atomic.torch_save(data / "train.pt", {"x": x, "y": y})
    atomic.write_json(data / "meta.json", {"dataset": "toy", "shape": [1, 28, 28], "num_classes": 10, "n_train": 500,
                                        "mean": [0.5], "std": [0.25],
                                        "sha256": {"train.pt": atomic.sha256_file(data / "train.pt")}})
    cfg = ('{"model": {"name": "small_cnn", "act": "relu6", "kwargs": {"width": 16, "hidden": 32}}, '
           '"train": {"epochs": 1, "batch_size": 250, "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005, '
           '"schedule": "cosine", "milestones": [], "gamma": 0.2, "augment": false, "allow_chance": true}, '
           '"quant": {"act_bits": [null], "weight_bits": null}, "device": "cpu", "threads": 1}')
    digests = []
    for setting in ("0", "1"):
        out = tmp_path / setting / "m.pt"
        env = dict(os.environ, QROBUST_MALLOC=setting, QROBUST_SERVER="0")
        r = subprocess.run([sys.executable, "-m", "qrobust.cli", "train", "--cfg", cfg, "--data", str(data),
                            "--method", "vanilla", "--act-bits", "2", "--seed", "0", "--out", str(out),
                            "--metrics", str(tmp_path / setting / "m.json")],
                           env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
