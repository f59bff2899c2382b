"""Is every output the DAG should have there, recorded, untouched and current?

`qrobust verify` puts four kinds of finding apart:
  tampered  an output (or a raw input) whose bytes differ from what its record says was written
            (or, with --recompute, from what rerunning its job writes)
  missing   an output the current DAG should have, or the provenance record that covers it
  stale     made by older code, another config slice, or from inputs that changed since: Snakemake
            would rerun it (`snakemake --summary` says so); the record's code hashes and config
            slice name what changed
  env       (a note, not an error) the record was made with other package versions than the
            running environment's
Snakemake's own `--summary` gives the outputs the DAG should have and whether each is current
(code, params, inputs); the records give the hashes.
"""
from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

from qrobust.runtime import atomic

KINDS = ("tampered", "missing", "stale")
EXIT = {"tampered": 1, "missing": 3, "stale": 4}  # 2 is a usage or user error, as for every command


def current_config(configfiles) -> dict | None:
    """The config the workflow would run with these files (later files override earlier keys);
    None when a file is missing or invalid (config changes are then not explained)."""
    import yaml

    from qrobust.config import ConfigError, validate_config

    merged: dict = {}

    def update(a: dict, b: dict) -> None:
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                update(a[k], v)
            else:
                a[k] = v
    try:
        for f in configfiles:
            update(merged, yaml.safe_load(Path(f).read_text()) or {})
        return validate_config(merged)
    except (OSError, yaml.YAMLError, ConfigError, AttributeError):
        return None


def source_dir() -> Path:
    """The code the workflow here runs: ./src when this folder holds qrobust's sources (a clone, a
    copy of the workflow), else the folder of the installed package."""
    here = Path("src")
    return here if (here / "qrobust" / "__init__.py").is_file() else Path(__file__).resolve().parents[2]


def code_changes(rec: dict, src_dir: Path | None = None) -> list[str]:
    """The record's code files whose sha256 differs now (or that are gone), as src paths."""
    src_dir = src_dir or source_dir()
    out = []
    for rel, sha in sorted((rec.get("code") or {}).get("files", {}).items()):
        path = src_dir / rel
        if not path.is_file():
            out.append(f"{rel} (gone)")
        elif atomic.sha256_file(path) != sha:
            out.append(rel)
    return out


def config_changes(rec: dict, current: dict | None) -> list[str]:
    """Scalar keys of the record's config slice whose value differs in `current` ("attack.eps: 0.1 -> 0.2")."""
    if current is None:
        return []
    out: list[str] = []

    def walk(a, b, path):
        if isinstance(a, dict) and isinstance(b, dict):
            for k in a:
                if k in b:
                    walk(a[k], b[k], path + [str(k)])
        elif not isinstance(a, (dict, list)) or (isinstance(a, list) and all(not isinstance(v, (dict, list)) for v in a)):
            if a != b and not isinstance(b, dict):
                out.append(f"{'.'.join(path)}: {a!r} -> {b!r}")
    walk(rec.get("config") or {}, current, [])
    return out


def env_changes(rec: dict) -> list[str]:
    """Package versions of the record that differ from the running environment's."""
    from qrobust.provenance.record import versions

    now = versions()
    return [f"{k} {v} -> {now.get(k)}" for k, v in sorted((rec.get("versions") or {}).items())
            if k in now and v != now[k]]


def dag_summary(targets, configfiles=(), cwd=".") -> list[dict]:
    """`snakemake <targets> --summary`: one dict per output file (output_file, rule, status, plan)."""
    cmd = [sys.executable, "-m", "snakemake", *targets, "--summary", "--cores", "1", "--quiet", "all",
           "--workflow-profile", "none"]  # Snakemake's own output, whatever the default profile sets
    if configfiles:
        cmd += ["--configfile", *configfiles]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if r.returncode != 0:
        tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"snakemake --summary failed: {tail}; run `snakemake {' '.join(targets)} -n` to see why")
    text = r.stdout[r.stdout.find("output_file\t"):]
    return [row for row in csv.DictReader(io.StringIO(text), delimiter="\t") if row.get("output_file")]


def split_made(summary: list[dict], index: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """(rows of outputs made: on disk or named by a record, rows of outputs neither) of a DAG summary."""
    named = set(index) | {str(Path(r["_path"])) for r in index.values()}
    is_made = [row["output_file"] in named or Path(row["output_file"]).exists() for row in summary]
    return [r for r, m in zip(summary, is_made) if m], [r for r, m in zip(summary, is_made) if not m]


def _explain(rec: dict | None, current: dict | None) -> str:
    if rec is None:
        return ""
    why = [f"code changed: {', '.join(c)}" for c in [code_changes(rec)] if c]
    why += [f"config changed: {', '.join(c)}" for c in [config_changes(rec, current)] if c]
    return f" ({'; '.join(why)})" if why else ""


def check(index: dict[str, dict], summary: list[dict] | None, current: dict | None) -> dict[str, list[str]]:
    """Findings by kind (plus "env" notes). `summary` None: records only (no DAG completeness)."""
    from qrobust.provenance.record import verify

    found: dict[str, list[str]] = {k: [] for k in (*KINDS, "env")}
    for p in verify(index):  # hashes: outputs changed since written, inputs changed since used
        kind = ("stale" if ": stale, made from an older" in p
                else "missing" if (": missing (made by" in p or " is missing (no record made it)" in p) else "tampered")
        found[kind].append(p)
    records = {r["_path"]: r for r in index.values()}
    for rpath, rec in sorted(records.items()):
        code = code_changes(rec)
        if code:
            found["stale"].append(f"{rpath}: made by older code ({', '.join(code)}); "
                                  f"{atomic.rerun(next(iter(rec['outputs']), rpath))} (rule {rec['rule']})")
        env = env_changes(rec)
        if env:
            found["env"].append(f"{rpath}: made with {', '.join(env)} (running now)")
    if summary is not None:
        made_by_records = set(index) | {str(Path(r)) for r in records}
        for row in summary:
            out, rule, status = row["output_file"], row.get("rule", "?"), row.get("status", "")
            if not Path(out).exists():
                found["missing"].append(f"{out}: missing; `snakemake {out}` makes it (rule {rule})")
            elif out not in made_by_records:
                found["missing"].append(f"{out}: no provenance record covers it; rerun its job "
                                        f"(`snakemake {out} --force`, rule {rule})")
            elif status != "ok" or row.get("plan") == "update pending":
                why = status if status != "ok" else "made from files an upstream job will remake"
                found["stale"].append(f"{out}: {why}{_explain(index.get(out), current)}; "
                                      f"`snakemake {out}` remakes it (rule {rule})")
    for k in found:
        found[k] = list(dict.fromkeys(found[k]))
    return found


def mark(node: dict, index: dict[str, dict]) -> bool:
    """Annotate a provenance chain (provenance.chain) in place: each job's changed code files
    ("stale") and differing package versions ("env"); a node is stale when its job's code changed
    or an input is stale or no longer matches. Returns the root's staleness."""
    rec = index.get(node["file"])
    stale = False
    if rec is not None and "job" in node:
        node["job"]["stale"] = code_changes(rec)
        node["job"]["env"] = env_changes(rec)
        stale = bool(node["job"]["stale"])
    for child in node.get("inputs", []):
        stale = mark(child, index) or not child["intact"] or stale
    node["stale"] = stale
    return stale


def exit_code(found: dict[str, list[str]]) -> int:
    return next((EXIT[k] for k in KINDS if found.get(k)), 0)
