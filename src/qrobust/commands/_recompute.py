"""Re-execution: rerun recorded jobs in a scratch folder from their recorded inputs and compare what
they write with the files on disk, byte for byte.

A job is rerun from the command its record holds, in a scratch folder (see `_scratch`): links to
the workflow folder's entries and to the job's recorded inputs; its outputs land in the scratch
folder, never beside the originals. Outputs are compared byte for byte; a JSON
output that differs is compared again without its wall-time fields (keys "seconds" and
"*_seconds"), and only a difference beyond those counts. Jobs whose outputs are wall-clock
measurements (MEASURED) cannot be recomputed and are skipped, saying so. A forged metrics file
whose record was edited to match is caught here: rerunning its job writes the real number.
"""
from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from qrobust.runtime import atomic

MEASURED = ("ohq_profile", "ohq_deploy")  # outputs are latencies measured on the machine


def select(index: dict[str, dict], what: str | None, seed: int = 0) -> list[dict]:
    """Records to rerun: those of a FILE (the job that made it), of a RULE (every job), or a seeded
    sample of N jobs (MEASURED rules left out)."""
    records = sorted({r["_path"]: r for r in index.values()}.values(), key=lambda r: r["_path"])
    if what is None:
        return []
    if what.isdigit():
        pool = [r for r in records if r["rule"] not in MEASURED and not r.get("disabled")]
        return random.Random(seed).sample(pool, min(int(what), len(pool)))
    from qrobust.provenance.refs import relpath

    if relpath(what) in index:
        return [index[relpath(what)]]
    chosen = [r for r in records if r["rule"] == what]
    if not chosen:
        rules = sorted({r["rule"] for r in records})
        raise ValueError(f"--recompute {what!r} is neither an output with a record, a rule nor a number; "
                         f"rules: {', '.join(rules)}")
    return chosen


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if not (k == "seconds" or k.endswith("_seconds"))}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _first_difference(a, b, path="") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path or 'value'}: {str(b)[:60]} on disk, {str(a)[:60]} recomputed"


def _same(new: Path, old: Path) -> tuple[bool, str]:
    if new.read_bytes() == old.read_bytes():
        return True, ""
    if old.suffix == ".json":
        try:
            a, b = json.loads(new.read_text()), json.loads(old.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return False, "not JSON any more"
        if _strip(a) == _strip(b):
            return True, ""
        return False, _first_difference(_strip(a), _strip(b))
    return False, f"sha256 {atomic.sha256_file(old)[:12]} on disk, {atomic.sha256_file(new)[:12]} recomputed"


def _cpu_note(rec: dict) -> str:
    """Said beside a difference when the record was made on another CPU: float kernels give other last bits
    on another instruction set (bench/RESULTS.md: "Table 1 across CPUs"), so the
    difference may be rounding, not a forgery. It stays a failure: only a rerun on the record's kind of
    CPU can tell the two apart, and a record can be edited to name any CPU."""
    import torch  # noqa: F401  (so that cpu_record names the instruction set the rerun's kernels used)

    from qrobust.runtime.hardware import cpu_record

    made, now = rec.get("cpu"), cpu_record()
    if not made:
        return ""
    # a job that never imported torch (a table, with QROBUST_SERVER=0) records no capability: nothing to compare
    same_isa = "torch_capability" not in made or made["torch_capability"] == now.get("torch_capability")
    if made.get("model") == now.get("model") and same_isa and made.get("env") == now.get("env"):
        return ""

    def name(c: dict) -> str:
        extra = [x for x in (c.get("torch_capability"), c.get("env") and str(c["env"])) if x]
        return f"{c.get('model')}" + (f" ({', '.join(extra)})" if extra else "")

    return (f"; the record was made on {name(made)} and this machine is {name(now)}: other CPUs give other "
            "float rounding, so rerun on the record's kind of CPU to tell rounding from tampering")


def _scratch(rec: dict, root: Path) -> Path:
    """A folder to rerun the job in: top-level entries linked, except those it writes into
    (results/, data/ for data jobs), which are real folders holding links to the job's recorded
    inputs and the files beside them (a --data folder's meta.json); never to its outputs, and no
    output's folder is a link, so nothing is written outside the scratch folder."""
    work = Path(tempfile.mkdtemp(prefix="qrobust-recompute-"))
    outs = {Path(o) for o in rec["outputs"]}
    real = {"results"} | {o.parts[0] for o in outs if not o.is_absolute() and len(o.parts) > 1}
    for entry in root.iterdir():
        if entry.name in (".snakemake", ".git"):
            continue
        if entry.name in real:
            (work / entry.name).mkdir()
        else:
            (work / entry.name).symlink_to(entry.resolve())
    for inp in rec["inputs"]:
        p = Path(inp)
        if p.is_absolute() or not p.parts or p.parts[0] not in real or not (root / p).is_file():
            continue
        for f in (root / p).parent.iterdir():
            rel = f.relative_to(root)
            if f.is_file() and rel not in outs and not (work / rel).exists():
                (work / rel).parent.mkdir(parents=True, exist_ok=True)
                (work / rel).symlink_to(f.resolve())
    return work


def recompute(rec: dict, root: Path = Path(".")) -> tuple[str, list[str]]:
    """Rerun one recorded job; ("ok" | "tampered" | "skipped" | "failed", lines)."""
    rule, outs = rec["rule"], list(rec["outputs"])
    if rule in MEASURED:
        return "skipped", [f"{outs[0]}: not recomputed; {rule} measures wall-clock latency"]
    from qrobust.provenance.refs import resolve

    changed = [i for i, sha in rec["inputs"].items() if not resolve(i).is_file() or atomic.sha256_file(resolve(i)) != sha]
    if changed:
        return "skipped", [f"{outs[0]}: not recomputed; its input {changed[0]} changed since the job ran "
                           f"(qrobust verify names it)"]
    argv = shlex.split(rec["command"])
    work = _scratch(rec, root)
    try:
        env = dict(os.environ)
        r = subprocess.run([sys.executable, "-m", "qrobust.cli", *argv[1:]], cwd=work, env=env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
            return "failed", [f"{outs[0]}: rerunning {rule} failed: {tail}"]
        lines = []
        for out in outs:
            new, old = work / out, root / out
            if not new.is_file():
                lines.append(f"{out}: rerunning {rule} did not write it")
                continue
            if not old.is_file():
                lines.append(f"{out}: missing on disk (rerunning {rule} writes it)")
                continue
            same, why = _same(new, old)
            if not same:
                lines.append(f"{out}: rerunning {rule} from its recorded inputs gives other output ({why}){_cpu_note(rec)}")
        return ("tampered" if lines else "ok"), lines or [f"{outs[0]}: {rule} recomputed, {len(outs)} output(s) identical"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
