"""qrobust.runtime.atomic: atomic outputs that respect the umask, leave nothing behind on failure, say a full
disk in one line, and give byte-identical tensor files whatever their name."""
import errno
import os
from pathlib import Path

import pytest
import torch

from qrobust.runtime import atomic


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_outputs_get_the_mode_open_would_give_them(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        atomic.write_text(tmp_path / "t.csv", "a\n")
        atomic.torch_save(tmp_path / "m.pt", {"w": torch.ones(2)})
        with open(tmp_path / "ref", "w"):
            pass
    finally:
        os.umask(old)
    for name in ("t.csv", "m.pt", "ref"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_a_failed_write_leaves_no_temporary_file_and_keeps_the_old_output(tmp_path, umask):
    out = tmp_path / "table.csv"
    atomic.write_text(out, "old\n")
    with pytest.raises(ZeroDivisionError):
        with atomic.atomic_path(out) as tmp:
            tmp.write_text("half")
            1 / 0
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch, umask):
    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    out = tmp_path / "results" / "checkpoints" / "m.pt"
    with pytest.raises(RuntimeError) as e:
        atomic.torch_save(out, {"w": torch.ones(3)})
    msg = str(e.value)
    assert "\n" not in msg and str(out) in msg and "no space left" in msg and "rerun" in msg
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_tensor_files_are_byte_identical_whatever_their_name(tmp_path, umask):
    obj = {"x": torch.arange(12, dtype=torch.uint8).reshape(3, 4), "y": torch.tensor([1, 2, 3]), "meta": {"a": 1}}
    atomic.torch_save(tmp_path / "a" / "train.pt", obj)
    atomic.torch_save(tmp_path / "b" / "other_name.pt", {k: (v.clone() if torch.is_tensor(v) else v) for k, v in obj.items()})
    a, b = (tmp_path / "a" / "train.pt").read_bytes(), (tmp_path / "b" / "other_name.pt").read_bytes()
    assert a == b and b"train" not in a and b".tmp" not in a
    back = torch.load(tmp_path / "a" / "train.pt", weights_only=True)
    assert torch.equal(back["x"], obj["x"]) and back["meta"] == {"a": 1}


def test_temporary_files_are_ignored_by_git_and_dvc():
    root = Path(__file__).resolve().parents[2]
    for f in (".gitignore", ".dvcignore"):
        assert ".*.tmp" in (root / f).read_text().split("\n"), f
