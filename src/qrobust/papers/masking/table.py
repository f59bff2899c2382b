"""Table "masking": the gradient-masking audit of every evaluated model (papers/masking), from the
worst_case job's JSON files only (results/metrics/worst/...), any number of models; a model passed
twice (same checkpoint and defense: Tables 2 and 4 share models) counts once.

`masking.csv`, one row per model (sorted by model, then defense): Model (`<ckey>/<run>` of the
checkpoint path), Defense, Clean, Worst-case (per-example worst case over the ensemble), Best attack
(the member with the lowest accuracy), STE attack (the lowest accuracy of a white-box member on the
ste path; empty without one), one column per audit check with its value (checks in the audit's
order; empty where the check did not run), Flags (the flagged checks, ";"-joined; empty for none).

`masking_long.csv`, raw values, one row per (model, record kind, name):
    ckey       the checkpoint's folder (the training/quantization key)
    run        the checkpoint's run name (file stem)
    defense    inference-time defense (none, fs)
    seed       the model's training seed
    kind       summary, member, check or sweep
    name       summary: clean | worst; member: the member's name (pgd@bpda, square, transfer:float);
               check: the check's name (eps_reaches_chance, ...); sweep: the gradient path swept (ste, ...)
    eps        summary clean: 0.0; sweep: the sweep point's eps; otherwise the worst case's eps
    value      accuracy (%) for summary, member and sweep rows (empty for a pruned member: it attacked
               only the images still robust); the check's value for check rows
    threshold  check rows: the check's threshold; summary rows: chance accuracy 100 / n_classes (%);
               empty on member and sweep rows
    flagged    check rows: the check's flag; summary worst: whether any check is flagged; empty otherwise
    detail     check rows: the audit's sentence; member rows: "kind=white;attack=pgd;path=bpda;first=<images it
               broke before any later member>" (pruned ones add ";pruned=True;attacked=<images>;fooled=<images>")
               (source=... for transfers); summary clean: "n=<images>;n_classes=<classes>";
               summary worst: "best=<member>;flags=<a;b or none>" (and "skipped=<member> (<reason>)"
               per member left out); sweep rows: empty
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from qrobust.runtime import atomic
from qrobust.tables import worst as wc
from qrobust.tables._base import register_table, sibling, write_csv, write_latex, write_long_csv, write_markdown

LONG_COLUMNS = ["ckey", "run", "defense", "seed", "kind", "name", "eps", "value", "threshold", "flagged", "detail"]


def model_of(rec: dict, path=None) -> tuple[str, str]:
    """(ckey, run): from the checkpoint path results/checkpoints/<ckey>/<run>.pt, else from the
    worst-case file's path .../<ckey>/<run>_<defense>.json, else the run dict's name."""
    ck = rec.get("checkpoint")
    if ck:
        p = Path(ck)
        return p.parent.name, p.stem
    if path is not None:
        p = Path(path)
        suffix = f"_{rec.get('defense') or 'none'}"
        return p.parent.name, p.stem[: -len(suffix)] if p.stem.endswith(suffix) else p.stem
    run = rec.get("run") or {}
    return "", str(run.get("name") or run.get("scheme") or run.get("method") or "model")


def dedupe(records: list[dict], paths=None) -> list[tuple[str, str, dict]]:
    """[(ckey, run, record)], one per (model, defense) (the first one), sorted by model then defense."""
    paths = list(paths) if paths is not None else [None] * len(records)
    seen: dict = {}
    for rec, path in zip(records, paths):
        ckey, run = model_of(rec, path)
        seen.setdefault((ckey, run, rec.get("defense") or "none"), rec)
    return [(ckey, run, rec) for (ckey, run, _), rec in sorted(seen.items(), key=lambda kv: kv[0])]


def check_names(records) -> list[str]:
    names = [c["check"] for r in records for c in (r.get("audit") or {}).get("checks", [])]
    return list(wc.CHECKS) + [n for n in dict.fromkeys(names) if n not in wc.CHECKS]


def _chance(rec: dict):
    k = rec.get("n_classes")
    return 100.0 / k if k else None


def _ste_acc(rec: dict):
    ste = [m["acc"] for m in rec["members"] if m.get("path") == "ste" and m.get("kind", "white") == "white"
           and m.get("acc") is not None]
    return min(ste) if ste else None


def _member_detail(m: dict) -> str:
    """kind, attack, path, source, the images it broke first (before every later member); a pruned member
    (no accuracy of its own): what it attacked and fooled."""
    parts = {"kind": m.get("kind"), "attack": m.get("attack"), "path": m.get("path"), "source": m.get("source"),
             "first": m.get("first_broken")}
    if m.get("pruned"):
        parts.update(pruned=True, attacked=m.get("n_attacked"), fooled=m.get("fooled"))
    return ";".join(f"{k}={v}" for k, v in parts.items() if v is not None)


def long_frame(models: list[tuple[str, str, dict]]) -> pd.DataFrame:
    rows = []
    for ckey, run, r in models:
        base = {"ckey": ckey, "run": run, "defense": r.get("defense") or "none", "seed": r["run"].get("seed")}
        audit = r.get("audit") or {}
        eps, chance = float(r["eps"]), _chance(r)
        worst_detail = [f"best={r.get('best')}", f"flags={wc.flags(r) or 'none'}"]
        worst_detail += [f"skipped={s.get('name')} ({s.get('reason')})" for s in r.get("skipped") or []]
        rows.append({**base, "kind": "summary", "name": "clean", "eps": 0.0, "value": r["clean_acc"], "threshold": chance,
                     "flagged": None, "detail": f"n={r.get('n')};n_classes={r.get('n_classes')}"})
        rows.append({**base, "kind": "summary", "name": "worst", "eps": eps, "value": r["worst_acc"], "threshold": chance,
                     "flagged": bool(audit.get("flags")), "detail": ";".join(worst_detail)})
        rows += [{**base, "kind": "member", "name": m["name"], "eps": eps, "value": m["acc"], "threshold": None,
                  "flagged": None, "detail": _member_detail(m)} for m in r["members"]]
        rows += [{**base, "kind": "check", "name": c["check"], "eps": eps, "value": c.get("value"),
                  "threshold": c.get("threshold"), "flagged": bool(c["flagged"]), "detail": c.get("detail", "")}
                 for c in audit.get("checks", [])]
        rows += [{**base, "kind": "sweep", "name": s["path"], "eps": float(s["eps"]), "value": s["acc"], "threshold": None,
                  "flagged": None, "detail": ""} for s in audit.get("eps_sweep", [])]
    return pd.DataFrame(rows, columns=LONG_COLUMNS).astype({"flagged": object})


def wide(models: list[tuple[str, str, dict]]) -> pd.DataFrame:
    checks = check_names([r for _, _, r in models])
    rows = []
    for ckey, run, r in models:
        values = {c["check"]: c.get("value") for c in (r.get("audit") or {}).get("checks", [])}
        rows.append({"Model": f"{ckey}/{run}" if ckey else run, "Defense": r.get("defense") or "none",
                     "Clean": r["clean_acc"], "Worst-case": r["worst_acc"], "Best attack": r.get("best"),
                     "STE attack": _ste_acc(r), **{c: values.get(c) for c in checks}, "Flags": wc.flags(r)})
    cols = ["Model", "Defense", "Clean", "Worst-case", "Best attack", "STE attack", *checks, "Flags"]
    table = pd.DataFrame(rows, columns=cols)
    # a check no model ran is no column
    ran = {c["check"] for _, _, r in models for c in (r.get("audit") or {}).get("checks", [])}
    return table.drop(columns=[c for c in checks if c not in ran])


def caption(models) -> str:
    eps = ", ".join(f"{e:.4g}" for e in sorted({float(r["eps"]) for _, _, r in models}))
    return (f"Gradient-masking audit (Carlini et al. 2019; AutoAttack's checks): clean and worst-case accuracy (%) "
            f"(per-example worst case over the attack ensemble at eps {eps}), the strongest single attack, the best "
            "STE attack's accuracy and each check's value. A check is flagged when its value crosses its threshold "
            "(masking_long.csv); a flag questions the worst-case number as an upper bound on robustness (Flags).")


def build(records: list[dict], out_csv, paths=None) -> tuple[pd.DataFrame, list]:
    """masking.csv, masking_long.csv, .md, .tex and .json from worst-case records; returns (table, files)."""
    if not records:
        raise ValueError("masking: no worst-case records; pass the worst_case job's files (results/metrics/worst/...)")
    models = dedupe(records, paths)
    table = wide(models)
    files = [out_csv] + [sibling(out_csv, s) for s in ("_long.csv", ".md", ".tex", ".json")]
    write_csv(table, files[0])
    write_long_csv(long_frame(models), files[1], int_cols=("seed",))
    write_markdown(table, files[2], caption(models))
    write_latex(table, files[3], caption(models))
    atomic.write_json(files[4], {"table": "masking", "rows": json.loads(table.to_json(orient="records"))})
    return table, files


@register_table("masking")
def from_files(paths, out_csv, cfg):
    records = [atomic.read_json(p) for p in paths]
    for p, r in zip(paths, records):
        if "worst_acc" not in r or "audit" not in r:
            raise ValueError(f"masking: {p} is no worst-case record (the worst_case job's results/metrics/worst/... files)")
    return build(records, out_csv, paths)
