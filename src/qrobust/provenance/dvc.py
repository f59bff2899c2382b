"""`qrobust pull`: dvc pull, then restore mtimes, with one-line errors for the usual failures.

DVC's own output for a missing remote is a list of cache hashes; a colleague needs to know
which remote is missing and how to fix it, before anything on disk changes.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml


class PullError(RuntimeError):
    pass


def _dvc(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("dvc")
    try:
        return subprocess.run([str(exe if exe.exists() else "dvc"), *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise PullError("dvc is not installed; pip install -e . installs it") from None


def check_lock(path: Path = Path("dvc.lock")) -> None:
    if not path.exists():
        raise PullError(f"{path} not found: nothing was pushed from this commit (run dvc repro and dvc push where the results are)")
    try:
        lock = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise PullError(f"{path} is corrupted{where}; restore it with: git checkout -- {path}") from None
    if not isinstance(lock, dict) or "stages" not in lock:
        raise PullError(f"{path} has no stages; restore it with: git checkout -- {path}")


def default_remote() -> tuple[str, str]:
    name = _dvc("remote", "default").stdout.strip()
    if not name:
        raise PullError("no default DVC remote; add one: dvc remote add -d NAME URL (see docs/provenance.md, Versioning with DVC)")
    urls = {}
    for line in _dvc("remote", "list").stdout.splitlines():
        line = line.strip()
        if line.endswith("(default)"):  # `dvc remote list` marks the default after its URL
            line = line[: -len("(default)")].rstrip()
        if line:
            key, _, url = line.partition(" ") if "\t" not in line else line.partition("\t")
            urls[key] = url.strip()
    return name, urls.get(name, "")


def check_remote(name: str, url: str) -> None:
    if "://" in url:  # s3, ssh, ...: only DVC can tell whether it is reachable
        return
    path = Path(url).expanduser()
    if not path.is_absolute():
        path = Path(".dvc") / path  # DVC resolves relative URLs from the config's folder
    if not path.is_dir():
        raise PullError(f"DVC remote '{name}' ({path}) does not exist; push there first, or point it at the shared storage: "
                        f"dvc remote modify --local {name} url PATH")


def pull() -> None:
    check_lock()
    name, url = default_remote()
    check_remote(name, url)
    r = _dvc("pull")
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise PullError(f"dvc pull from remote '{name}' ({url}) failed (its output is above); nothing was restored")
