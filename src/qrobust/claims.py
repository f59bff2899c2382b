"""Published findings, each tested against the regenerated long-format tables.

A claim reads the raw long CSVs (results/table*_long.csv: config/metrics names, bits as integers
with an empty cell for full precision, numbers at full precision) and returns its evidence: a
per-seed difference that the finding predicts to be positive, and the numbers behind it. The
verdict: holds when the mean difference exceeds the margin, fails when it is below minus the
margin, inconclusive otherwise; the margin is max(tolerance, 2 x the standard deviation over
seeds), so one seed is judged by the tolerance alone (1 accuracy point unless the claim says
otherwise). Ranking claims (which corruption hurts most) hold or fail outright and say so.

Robustness claims are judged on worst-case accuracy (the per-example worst case over the attack
ensemble, evaluation/worst_case.py), never on one attack. Each worst-case number carries the
gradient-masking audit's flags (papers/masking); `with_masking` names them in the claim's `masking`
column and turns the verdict into `masked` when a flag questions the worst case itself
(ENSEMBLE_FLAGS). Flags of one attack or one gradient path (the STE attacks trail the best one, a
zero STE gradient, black-box beating white-box, single-step beating iterative) are reported but
leave the verdict: the per-example worst case already takes the stronger attack.

This module is the engine (the `Claim` record, the registry, `judge`, `evaluate_claims`); each
paper's claims live in qrobust/papers/<paper>/claims.py and register themselves with `claim`.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from qrobust.plan.registry import Registry

CLAIMS: Registry = Registry("claim")

# report order of the papers (claims.csv lists them paper by paper); a paper not listed comes last.
# Each paper's claims are found in qrobust/papers/<paper>/claims.py without importing them
# (qrobust.plan.registry reads their `@claim("id", ...)` decorators) and imported when judged.
PAPERS = ("dq", "robust_bench", "ohq", "li2024", "qu_anti")


@dataclass(frozen=True)
class Claim:
    paper: str
    source: str
    text: str
    tables: tuple[str, ...]
    check: Callable[[dict], dict]
    module: str = ""  # the papers/<module> folder that registered it (report order)


def claim(key: str, paper: str, source: str, text: str, tables: tuple[str, ...]):
    def deco(fn):
        parts = fn.__module__.split(".")
        module = parts[2] if parts[:2] == ["qrobust", "papers"] and len(parts) > 2 else ""
        CLAIMS.register(key)(Claim(paper, source, text, tables, fn, module))
        return fn
    return deco


def judge(diffs: list[float], tol: float = 1.0) -> dict:
    d = np.asarray(diffs, dtype=float)
    mean = float(d.mean())
    std = float(d.std(ddof=1)) if len(d) > 1 else 0.0
    margin = max(tol, 2 * std)
    verdict = "holds" if mean > margin else ("fails" if mean < -margin else "inconclusive")
    return {"value": mean, "spread": std, "n_seeds": len(d), "margin": margin, "verdict": verdict}


def outright(ok: bool, n_seeds: int, evidence: str) -> dict:
    """A ranking claim's result: it holds or fails, with no margin."""
    return {"value": float(ok), "spread": None, "n_seeds": n_seeds, "margin": None,
            "verdict": "holds" if ok else "fails", "evidence": evidence}


# audit checks whose flag means the worst case itself may be too high: even the best attack did not
# reach chance at a large eps, twice the steps and restarts moved it, or AutoAttack's own checks fired
ENSEMBLE_FLAGS = ("eps_reaches_chance", "more_steps_stable", "autoattack_checks")


def with_masking(res: dict, rows: pd.DataFrame, describe: Callable) -> dict:
    """`res` judged on the worst-case rows `rows` (with a `masking` column of ";"-joined flags):
    adds `masking` (flagged models, by `describe(row)`, and their flags) and makes the verdict
    `masked` when a model has an ENSEMBLE_FLAGS flag; the worst-case verdict stays in the evidence."""
    res = dict(res)
    flags = rows["masking"].astype(object).where(rows["masking"].notna(), "").astype(str)
    flagged = rows[flags != ""]
    seen: dict = {}
    for _, r in flagged.iterrows():
        seen.setdefault(describe(r), set()).update(str(r["masking"]).split(";"))
    res["masking"] = "; ".join(f"{m}: {', '.join(sorted(f))}" for m, f in seen.items())
    critical = sorted({f for fs in seen.values() for f in fs} & set(ENSEMBLE_FLAGS))
    if critical and res.get("verdict") in ("holds", "fails", "inconclusive"):
        res["evidence"] = f"{res.get('evidence', '')} [on the worst case it {res['verdict']}; flagged: {', '.join(critical)}]"
        res["verdict"] = "masked"
    return res


def per_seed(df: pd.DataFrame, fn) -> list[float]:
    return [fn(g) for _, g in df.groupby("seed")]


def in_report_order() -> list[str]:
    """Claim ids paper by paper (PAPERS), in registration order within a paper, whatever imported first."""
    rank = {m: i for i, m in enumerate(PAPERS)}
    return sorted(CLAIMS.in_order(), key=lambda k: rank.get(CLAIMS.get(k).module, len(PAPERS)))


def evaluate_claims(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per registered claim whose tables are present (others say which table is missing)."""
    rows = []
    for key in in_report_order():
        c = CLAIMS.get(key)
        base = {"id": key, "paper": c.paper, "source": c.source, "claim": c.text}
        missing = [name for name in c.tables if name not in tables]
        if missing:
            rows.append({**base, "verdict": "not run", "evidence": f"needs {', '.join(missing)}"})
            continue
        try:
            res = c.check(tables)
        except (KeyError, IndexError, ValueError) as e:  # a table without the rows this claim compares
            rows.append({**base, "verdict": "not run", "evidence": f"the table lacks what the claim compares ({e})"})
            continue
        rows.append({**base, "masking": "", **res})
    df = pd.DataFrame(rows)
    if "masking" not in df:  # every claims.csv has the column, even when no claim ran
        df["masking"] = ""
    return df


VERDICTS = ("holds", "fails", "inconclusive", "masked", "not run")


def summaries(tables: dict[str, pd.DataFrame], judged: pd.DataFrame) -> dict[str, dict]:
    """{paper module: {claims, holds, fails, ..., and the paper's headline numbers}}: `dvc metrics show`'s
    rows. The verdict counts come from `judged` (evaluate_claims' frame); the numbers from the optional
    `headline(tables) -> {name: value}` of qrobust/papers/<module>/claims.py (clean_q, worst_q, worst_fp:
    mean clean / worst-case accuracy of the quantized models, worst case of the float ones), left out
    when its table is missing or has no such rows."""
    verdict = dict(zip(judged["id"], judged["verdict"]))
    out: dict[str, dict] = {}
    for key in in_report_order():
        module = CLAIMS.get(key).module
        row = out.setdefault(module, {"claims": 0, **{v.replace(" ", "_"): 0 for v in VERDICTS}})
        row["claims"] += 1
        row[verdict[key].replace(" ", "_")] += 1
    for module, row in out.items():
        fn = getattr(importlib.import_module(f"qrobust.papers.{module}.claims"), "headline", None)
        try:
            numbers = fn(tables) if fn else {}
        except KeyError:  # a table this run did not make
            numbers = {}
        row.update({k: round(float(v), 2) for k, v in numbers.items() if v is not None and not math.isnan(v)})
    return out
