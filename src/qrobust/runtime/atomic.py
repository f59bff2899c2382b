"""Atomic writes and hashing: a crash or a bad input never leaves a half-written output.

Outputs get the mode a plain `open()` would give them (0666 less the umask: colleagues sharing a
results folder can read them). Temporary files are `.<name>.<random>.tmp` beside the output,
removed on any failure (a SIGKILL can leave one: .gitignore and .dvcignore ignore `.*.tmp`). A full
disk is one line naming the file. Checkpoints and tensors are serialized in memory first, so the
bytes do not depend on the file's name (torch.save names the zip's members after it).
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only on success (mode 0666 less
    the umask, as open() would create it); on any failure the temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except OSError as e:
        if e.errno in _FULL:
            raise RuntimeError(f"{path}: no space left on the device while writing it; free some space "
                               f"(or move the folder), then rerun: {rerun(path)}") from None
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def rerun(path) -> str:
    """The command that remakes `path` through its Snakemake job (from the workflow folder)."""
    return f"`snakemake {path} --force --cores 1` remakes it"


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); {rerun(path)}") from None


def torch_save(path: str | os.PathLike, obj: Any) -> None:
    """torch.save, byte-identical for equal objects whatever the file's name (serialized in memory:
    the archive's members are then named "archive/...", not after a random temporary name)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
