"""Helpers for tests that run the workflow: a scratch copy of the repository and a snakemake call."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
IGNORE = shutil.ignore_patterns(".venv", ".git", "logs", "benchmarks", ".snakemake", "prepared", "raw",
                                "__pycache__", "*.egg-info", ".pytest_cache", "_work")


def copy_workflow(dest: Path) -> Path:
    """The files a run needs (Snakefile, workflow, config, src), without outputs of earlier runs."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "src", "environment.yml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORE, symlinks=True)
        else:
            shutil.copy2(src, dest / name)
    return dest


def only(workdir: Path, pattern: str) -> Path:
    """The one file matching `pattern` under `workdir` (keyed folders: results/checkpoints/train-*/...)."""
    found = sorted(Path(workdir).glob(pattern))
    assert len(found) == 1, f"{pattern}: {len(found)} matches ({[str(p) for p in found][:4]})"
    return found[0]


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([str(BIN / "snakemake"), *args], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=timeout)


GIT_ENV = {"GIT_AUTHOR_NAME": "qrobust-test", "GIT_AUTHOR_EMAIL": "test@qrobust.invalid",
           "GIT_COMMITTER_NAME": "qrobust-test", "GIT_COMMITTER_EMAIL": "test@qrobust.invalid"}


def dvc_env() -> dict:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **GIT_ENV)


def make_dvc_repo(dest: Path, remote: Path, run) -> Path:
    """A git + DVC repository of the workflow whose default config is the tiny one, with its
    results made by `dvc repro`, pushed to `remote`, and dvc.lock committed. `run(cwd, *cmd)`
    runs one command and fails loudly."""
    repo = copy_workflow(dest)
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy2(ROOT / name, repo / name)
    shutil.copytree(ROOT / ".dvc", repo / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache", "config.local"))
    # the stage runs the default config: make it the tiny config on top of the default, as the tiny DAG tests run it
    from qrobust.config import merge

    cfg = merge(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()),
                yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text()))
    (repo / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    run(repo, "git", "init", "-q")
    run(repo, str(BIN / "dvc"), "remote", "modify", "local", "url", str(remote))
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "workflow")
    run(repo, str(BIN / "dvc"), "repro")
    run(repo, str(BIN / "dvc"), "push")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "dvc.lock")
    return repo


# the tiny table1 DAG (conftest.two_runs runs it twice; the workflow tests reuse it)
TARGETS = ["results/table1.csv", "results/figures/fig1.png"]
OHQ_TARGETS = ["results/table6.csv", "results/figures/pareto.png", "results/quantizers.csv"]


def run(workdir, *extra, dry=False):
    args = [*TARGETS, "--cores", "2", "--configfile", "config/tiny.yaml", *extra]
    r = snakemake(workdir, *(["-n", *args] if dry else args))
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def planned_jobs(r) -> dict:
    """Job counts per rule from a dry run's 'Job stats' table ({} when nothing is to be done)."""
    out = r.stdout + r.stderr
    if "Nothing to be done" in out:
        return {}
    stats = out.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", stats, re.M) if m.group(1) != "total"}
