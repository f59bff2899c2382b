"""Provenance: what made every output, and the chain from a reported number back to raw data.

Each job writes one record (JSON) beside the outputs it made: rule, command, config slice and
its hash, seed, device, sha256 of every input, output and source file, git commit (and whether
the tree was dirty), package versions, host, start and end. `chain()` follows records from a
file back through the files that made it; `verify()` recomputes every hash.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from qrobust.provenance.refs import PACKAGE, ref_of, relpath, resolve
from qrobust.runtime import atomic
from qrobust.runtime.hardware import cpu_record

FORMAT = "qrobust-provenance-v1"
RECORD_DIR = Path("results/provenance")
PACKAGES = ("torch", "torchvision", "snakemake", "dvc", "numpy", "pandas")


class ProvenanceError(ValueError):
    pass


def hash_files(paths) -> dict[str, str]:
    """{record name: sha256} of files given as paths or as package: names."""
    out = {}
    for p in sorted({str(p) for p in paths}):
        out[p if p.startswith(PACKAGE) else ref_of(p)] = atomic.sha256_file(resolve(p))
    return dict(sorted(out.items()))


def _git(*args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def code_version() -> dict:
    commit = _git("rev-parse", "HEAD")
    dirty = None if commit is None else bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {"git_commit": commit, "git_dirty": dirty}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def config_hash(cfg) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(kb / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def write_record(path, *, rule: str, stage: str, config, inputs, outputs, seed=None, device=None,
                 start: float, end: float, t_begin: float | None = None, cpu_seconds: float | None = None) -> dict:
    t_record = time.perf_counter() if t_begin is None else t_begin  # perf_counter() when the caller began
    from qrobust.plan.scan import PKG_DIR
    from qrobust.plan.sources import stage_sources

    if os.environ.get("QROBUST_PROVENANCE") == "0":  # benchmarks only: the rule still needs its output
        stub = {"format": FORMAT, "rule": rule, "disabled": True, "inputs": {}, "outputs": {}}
        atomic.write_json(path, stub)
        return stub
    src_dir = PKG_DIR.parent  # the folder holding the qrobust package
    code_files = {Path(p).relative_to(src_dir).as_posix(): atomic.sha256_file(p) for p in stage_sources(stage, root=src_dir)}
    record = {
        "format": FORMAT,
        "rule": rule,
        "stage": stage,
        "command": shlex.join(["qrobust", *sys.argv[1:]]),
        "config": config,
        "config_sha256": config_hash(config),
        # the run and whole config the workflow was called with (set by workflow/rules/common.smk)
        "run": json.loads(os.environ.get("QROBUST_RUN", "null")),
        "seed": seed,
        "device": device,
        "inputs": hash_files(inputs),
        "outputs": hash_files(outputs),
        "code": {**code_version(), "files": code_files},
        "versions": versions(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu_record(),  # its instruction set decides a float result's last bits
        "start": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(start)),
        "end": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(end)),
        "seconds": round(end - start, 3),
        # the job's CPU time (all its threads): what qrobust plan prices, unmoved by other work on the host
        "cpu_seconds": None if cpu_seconds is None else round(cpu_seconds, 3),
        # the job process's peak resident memory (Snakemake's benchmark files measure the shell that
        # started it, which under the job server (qrobust/runtime/server.py) is not where the work runs)
        "peak_rss_mb": _peak_rss_mb(),
    }
    record["provenance_seconds"] = round(time.perf_counter() - t_record, 4)  # this record's own cost
    atomic.write_json(path, record)
    return record


def load_records(record_dir=RECORD_DIR) -> dict[str, dict]:
    """Index: output path -> the record of the job that made it."""
    record_dir = Path(record_dir)
    if not record_dir.is_dir():
        raise ProvenanceError(f"{record_dir}: no provenance records; run the pipeline first (snakemake ...)")
    index = {}
    for path in sorted(record_dir.rglob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ProvenanceError(f"{path}: corrupted provenance record ({e.msg}, line {e.lineno}); {atomic.rerun(path)}") from None
        if not isinstance(rec, dict) or rec.get("format") != FORMAT or not isinstance(rec.get("outputs"), dict):
            raise ProvenanceError(f"{path}: not a {FORMAT} record; {atomic.rerun(path)}")
        rec["_path"] = str(path)
        for out in rec["outputs"]:
            index[out] = rec
    return index


def _now(path: str) -> str | None:
    p = resolve(path)
    return atomic.sha256_file(p) if p.is_file() else None


def chain(path: str, index: dict[str, dict], recorded: str | None = None, hashes: dict | None = None) -> dict:
    """The tree of files and jobs behind `path`; leaves are raw inputs no job made.
    `hashes` caches each file's sha256 for one query: shared upstream files are read once."""
    hashes = {} if hashes is None else hashes
    path = path if path.startswith(PACKAGE) else relpath(path)
    if path not in hashes:
        hashes[path] = _now(path)
    rec = index.get(path)
    node = {"file": path, "sha256_recorded": recorded if rec is None else rec["outputs"][path], "sha256_now": hashes[path]}
    node["intact"] = node["sha256_now"] is not None and node["sha256_now"] == node["sha256_recorded"]
    if rec is None:
        return node
    node["job"] = {k: rec[k] for k in ("rule", "command", "seed", "device", "config_sha256", "host", "start", "end")}
    node["job"]["cpu"] = rec.get("cpu")  # records before 2026-12-01 do not say
    node["job"]["record"] = rec["_path"]
    node["job"]["code"] = {k: rec["code"][k] for k in ("git_commit", "git_dirty")}
    node["inputs"] = [chain(inp, index, sha, hashes) for inp, sha in rec["inputs"].items()]
    return node


def verify(index: dict[str, dict]) -> list[str]:
    """Every problem found: outputs changed since made, inputs changed since used, records that disagree."""
    problems = []
    records = {r["_path"]: r for r in index.values()}
    for rpath, rec in sorted(records.items()):
        for out, sha in rec["outputs"].items():
            now = _now(out)
            if now is None:
                problems.append(f"{out}: missing (made by {rec['rule']}, record {rpath})")
            elif now != sha:
                problems.append(f"{out}: modified after {rec['rule']} wrote it (sha256 {now[:12]} != recorded {sha[:12]})")
        for inp, sha in rec["inputs"].items():
            upstream = index.get(inp)
            if upstream is not None and upstream["outputs"][inp] != sha:
                problems.append(f"{list(rec['outputs'])[0]}: stale, made from an older {inp}; {atomic.rerun(list(rec['outputs'])[0])}")
            elif upstream is None:
                now = _now(inp)  # read once
                if now is None:
                    problems.append(f"{list(rec['outputs'])[0]}: its input {inp} is missing (no record made it)")
                elif now != sha:
                    problems.append(f"{list(rec['outputs'])[0]}: raw input {inp} changed since it was used")
    return problems


def format_chain(node: dict, depth: int = 0, seen: set | None = None) -> list[str]:
    """Indented text of a chain; a job already shown is named, not repeated."""
    seen = set() if seen is None else seen
    pad = "  " * depth
    mark = "ok" if node["intact"] else ("MISSING" if node["sha256_now"] is None else "CHANGED")
    if node["intact"] and node.get("stale"):
        mark = "STALE"  # intact, but made by older code or from an input that changed since
    lines = [f"{pad}{node['file']}  sha256:{(node['sha256_recorded'] or '?')[:16]}  [{mark}]"]
    if "job" in node:
        j = node["job"]
        if j["record"] in seen:
            return lines + [f"{pad}  <- {j['rule']} (shown above)"]
        seen.add(j["record"])
        dirty = " (dirty tree)" if j["code"]["git_dirty"] else ""
        lines.append(f"{pad}  <- {j['rule']} seed={j['seed']} config:{j['config_sha256'][:12]} "
                     f"code:{(j['code']['git_commit'] or 'no git')[:12]}{dirty} on {j['host']} at {j['end']}")
        if j.get("stale"):
            lines.append(f"{pad}     [STALE: code changed since: {', '.join(j['stale'])}]")
        if j.get("env"):
            lines.append(f"{pad}     [environment differs: {', '.join(j['env'])}]")
        for child in node["inputs"]:
            lines += format_chain(child, depth + 2, seen)
    return lines


def restore_mtimes(index: dict[str, dict]) -> int:
    """After `dvc pull` files carry checkout-time mtimes in no particular order, which makes
    Snakemake rerun jobs. Once every hash checks out, give each job's outputs (and its record)
    an mtime later than all of its inputs', so only real changes trigger reruns.

    The stamps lie up to the DAG's depth in seconds ahead of the clock (checked-out sources and data
    must stay older than every output), so this returns only once the latest has passed: a job rerun
    right after (`dvc exp run` on a fast machine) writes outputs newer than its inputs, where Snakemake
    would refuse an output older than its input as clock skew."""
    problems = verify(index)
    if problems:
        raise ProvenanceError(f"{len(problems)} file(s) do not match their records, first: {problems[0]}; "
                              f"nothing was changed (run qrobust verify, then rerun those jobs)")
    records = {r["_path"]: r for r in index.values()}
    depth: dict[str, int] = {}

    def level(rec: dict) -> int:
        key = rec["_path"]
        if key not in depth:
            ups = [index[i] for i in rec["inputs"] if i in index]
            depth[key] = 1 + max((level(u) for u in ups), default=0)
        return depth[key]

    t0 = time.time()
    n = 0
    for rec in sorted(records.values(), key=level):
        stamp = t0 + level(rec)  # one second per DAG level keeps the order on any filesystem
        for path in [*rec["outputs"], rec["_path"]]:
            os.utime(path, (stamp, stamp))
            n += 1
    time.sleep(max(0.0, t0 + max(depth.values(), default=0) - time.time()) + 0.01)  # the last stamp passed
    return n
