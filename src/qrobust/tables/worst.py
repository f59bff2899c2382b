"""Worst-case records (the `worst_case` job: results/metrics/worst/...) beside a table's usual metrics.

The workflow passes a table builder its usual metrics files plus the worst-case files of the same
models; `split` tells them apart by path, `load_worst` indexes the worst-case records by model
identity (the run dict the model's other metrics JSONs carry, and the inference-time defense), and
`attach` pairs each metrics record with its model's worst-case record.
"""
from __future__ import annotations

import json
from pathlib import Path

from qrobust.runtime import atomic

MARK = "/metrics/worst/"

# the audit's checks (evaluation/masking.py) in report order; a check not listed follows in first-seen order
CHECKS = ("autoattack_checks", "eps_reaches_chance", "iterative_beats_single_step", "more_steps_stable",
          "second_surrogate", "saturated", "blackbox_not_better", "zero_gradient", "ste_gap")


def is_worst(path) -> bool:
    return MARK in Path(path).as_posix()


def split(paths) -> tuple[list, list]:
    """(other paths, worst-case paths), each in the given order."""
    paths = list(paths)
    return [p for p in paths if not is_worst(p)], [p for p in paths if is_worst(p)]


def identity(rec: dict) -> tuple[str, str]:
    """A model's identity: its run dict (canonical JSON) and its inference-time defense."""
    return json.dumps(rec["run"], sort_keys=True), rec.get("defense") or "none"


def index(records) -> dict:
    """{identity: record}; the same model twice (two checkpoints with one run dict) is an error."""
    out: dict = {}
    for rec in records:
        key = identity(rec)
        old = out.get(key)
        if old is not None and old.get("checkpoint") != rec.get("checkpoint"):
            raise ValueError(f"two worst-case records for one model ({old.get('checkpoint')} and "
                             f"{rec.get('checkpoint')}, defense {key[1]}): pass one worst-case file per model")
        out[key] = rec
    return out


def load_worst(paths) -> dict:
    """{(json.dumps(run, sort_keys=True), defense): worst-case record} from worst-case JSON files."""
    return index(atomic.read_json(p) for p in paths)


def flags(rec: dict) -> str:
    """The audit's flagged checks, ";"-joined ("" for none)."""
    return ";".join((rec.get("audit") or {}).get("flags") or [])


def ordered_flags(names) -> list[str]:
    """Check names without repeats, in CHECKS order (others after, alphabetically)."""
    names = set(names) - {""}
    return [c for c in CHECKS if c in names] + sorted(names - set(CHECKS))


def as_index(worst) -> dict:
    """`worst` as {identity: record}: a `load_worst` dict as it is, a list of records indexed, None empty."""
    if worst is None:
        return {}
    return worst if isinstance(worst, dict) else index(worst)


def attach(records: list[dict], worst, table: str) -> list[tuple[dict, dict | None]]:
    """Each metrics record with its model's worst-case record (None without); `worst`: a `load_worst`
    dict or a list of worst-case records. The worst case of a model counts once (its first record).
    A worst-case record whose model has no metrics record is an error: the table would show a model
    it has no row for."""
    worst = as_index(worst)
    keys = [identity(r) for r in records]
    orphans = [w for k, w in worst.items() if k not in set(keys)]
    if orphans:
        w = orphans[0]
        raise ValueError(f"{table}: the worst-case record of {w.get('checkpoint') or w['run']} "
                         f"(defense {w.get('defense', 'none')}) matches no metrics file of the table; "
                         f"pass the worst-case files of the table's own models")
    seen: set = set()
    out = []
    for r, k in zip(records, keys):
        out.append((r, worst.get(k) if k not in seen else None))
        seen.add(k)
    return out
