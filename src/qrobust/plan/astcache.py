"""A disk cache of what the workflow's planning reads from qrobust's own files with `ast`.

Snakemake parses the Snakefile at every call (a dry run included); the Snakefile asks which package
files each job runs (qrobust.plan.sources) and which entries each registry has (qrobust.plan.registry), both
read with ast from about 130 files. Parsing them is most of the Snakefile's own time. With a cache
file (`enable`, called by `scan.freeze(cache=...)` from the Snakefile), what a file yields is
stored under its path and the SHA-256 of its bytes, so an edited file is parsed again and an unchanged one
is not; the cache is written back once, at exit, atomically, only when something new was parsed. A
cache that cannot be read (missing, truncated) or that was written by other code (the readers' files,
this one's, registry.py's, scan.py's and sources.py's hash otherwise) is ignored and rebuilt.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Callable

_path: Path | None = None
_code_hash = ""  # _code() of this process, taken once by enable()
_entries: dict = {}
_dirty = False


def _code() -> str:
    """The hash of the code that computes and reads the stored values: another version stores other shapes."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in ("astcache.py", "registry.py", "scan.py", "sources.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()


def enable(path: str | Path) -> None:
    """Use (and at exit update) the cache file `path`."""
    global _path, _entries, _code_hash
    _path, _code_hash = Path(path), _code()
    try:
        blob = pickle.loads(_path.read_bytes())
        _entries = blob["entries"] if blob.get("code") == _code_hash else {}
    except Exception:  # noqa: BLE001 - any unreadable cache is just rebuilt
        _entries = {}
    atexit.register(_save)


@lru_cache(maxsize=None)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read once per process while its mtime and size stay (planning
    hashes each package file for this cache and for the jobs' code manifests, qrobust.plan.sources)."""
    st = os.stat(path)
    return _sha256(os.path.realpath(path), st.st_mtime_ns, st.st_size)


def get(kind: str, path: Path, compute: Callable[[str], object]):
    """compute(text of `path`), remembered under (kind, path, the file's SHA-256) when the cache is enabled."""
    global _dirty
    if _path is None:
        return compute(path.read_bytes().decode())
    key = (kind, str(path), sha256_of(path))
    if key not in _entries:
        _entries[key] = compute(path.read_bytes().decode())
        _dirty = True
    return _entries[key]


def _save() -> None:
    if _path is None or not _dirty:
        return
    try:
        _path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _path.with_name(f"{_path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps({"code": _code_hash, "entries": _entries}))
        os.replace(tmp, _path)
    except OSError:
        pass  # a read-only working directory: planning just parses again next time
