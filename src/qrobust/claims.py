"""Published findings, each judged on the regenerated per-image outcomes with a 95 % interval.

A claim reads the raw long CSVs (results/table*_long.csv: config/metrics names, bits as integers with an
empty cell for full precision, numbers at full precision, and per row the test images it measured with
one "0"/"1" outcome each). It declares
  - its statistic, oriented so that a positive value supports the finding: a difference of mean
    accuracies in points (DQ minus vanilla), paired image by image within each seed;
  - its kind: superiority (the effect is above 0), non-inferiority (above minus a margin), or ranking
    (an order that holds in at least 95 % of two-way bootstrap resamples);
  - delta: the smallest effect of interest in points (the non-inferiority margin for that kind), whose
    justification docs/statistics.md gives claim by claim;
  - whether it compares separately trained models (`training`): such a claim needs 3 seeds or more,
    since with fewer its interval covers image noise only.
The check returns the parts of its evidence (`Part`: per seed, per image values) and how they combine:
one part; all of them (every defense: the smallest lower bound decides holding, intersection-union;
the "fails" side takes Bonferroni-adjusted upper bounds); or any of them (the best of k variants:
Bonferroni-adjusted lower bounds and p-values, so picking the best one is paid for).

Verdicts (`judge`): holds when the 95 % interval lies on the claimed side and Holm's adjusted p-value
over the claims of the run is below 0.025 (one-sided, the 95 % interval's side), noted "small" when
the upper bound is below delta; fails when not holds and the upper bound is below delta ("reversed"
when below 0; non-inferiority: below minus the margin); inconclusive otherwise, with the sample that
would decide it (`needed`, from the measured variances at 80 % power); masked when the gradient-masking
audit flags the worst case of a model behind it (ENSEMBLE_FLAGS) and that model's worst case at its lower
bound, zero, would change the verdict (directional: a flag on a model whose lower worst case would only
strengthen the verdict leaves it); not run when its data is missing.

This module is the engine; each paper's claims live in qrobust/papers/<paper>/claims.py and register
themselves with `claim`.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from qrobust import stats
from qrobust.evidence import at_lower_bound
from qrobust.plan.registry import Registry

CLAIMS: Registry = Registry("claim")

# report order of the papers (claims.csv lists them paper by paper); a paper not listed comes last.
# Each paper's claims are found in qrobust/papers/<paper>/claims.py without importing them
# (qrobust.plan.registry reads their `@claim("id", ...)` decorators) and imported when judged.
PAPERS = ("dq", "robust_bench", "ohq", "li2024", "qu_anti")

SUPERIORITY, NONINFERIORITY, RANKING = "superiority", "non-inferiority", "ranking"
KINDS = (SUPERIORITY, NONINFERIORITY, RANKING)
ALPHA = 0.025          # one-sided: the side of a two-sided 95 % interval
RANK_LEVEL = 0.95      # a ranking holds in at least 95 % of resamples, fails in at most 5 %
MIN_SEEDS = 3          # a claim about training needs this many seeds to be decided
VERDICTS = ("holds", "fails", "inconclusive", "masked", "not run")
COLUMNS = ["id", "paper", "source", "claim", "published", "kind", "verdict", "note", "effect", "ci_low", "ci_high", "delta",
           "p", "p_adj", "n_seeds", "n_images", "n_per_seed", "detectable", "sd_seed", "sd_within", "needed", "evidence", "masking"]
NUMERIC = ("effect", "ci_low", "ci_high", "p", "p_adj", "n_seeds", "n_images", "n_per_seed", "detectable", "sd_seed",
           "sd_within")


@dataclass(frozen=True)
class Claim:
    paper: str
    source: str
    text: str
    tables: tuple[str, ...]
    check: Callable[[dict], dict]
    module: str = ""         # the papers/<module> folder that registered it (report order)
    kind: str = SUPERIORITY
    delta: float = 5.0       # points; the margin for non-inferiority
    training: bool = True    # compares separately trained models: needs MIN_SEEDS seeds
    published: bool = True   # False: qrobust's own question, reported apart from the papers' findings


def claim(key: str, paper: str, source: str, text: str, tables: tuple[str, ...], *, delta: float,
          kind: str = SUPERIORITY, training: bool = True, published: bool = True):
    if kind not in KINDS:
        raise ValueError(f"claim {key}: kind must be one of {', '.join(KINDS)}, got {kind!r}")

    def deco(fn):
        parts = fn.__module__.split(".")
        module = parts[2] if parts[:2] == ["qrobust", "papers"] and len(parts) > 2 else ""
        CLAIMS.register(key)(Claim(paper, source, text, tables, fn, module, kind, float(delta), training, published))
        return fn
    return deco


# ---------------------------------------------------------------------------------------------
# from evidence to an interval and a verdict


@dataclass(frozen=True)
class Interval:
    """A claim's statistic: estimate, interval, one-sided p-value against its threshold, and the part that
    decides it (for the sample size that would decide an inconclusive claim)."""

    effect: float
    low: float
    high: float
    p: float
    n_seeds: int
    n_images: int
    image_only: bool
    decider: stats.Estimate | None


def interval(res: dict, threshold: float) -> Interval:
    """The combined interval of a check's parts against `threshold` (0, or minus the margin)."""
    parts, how = res["parts"], res["combine"]
    k = len(parts)
    base = [p.estimate() for p in parts]
    pvals = [e.p_above(threshold) for e in base]
    seeds, images = min(e.n_seeds for e in base), max(e.n_images for e in base)
    image_only = any(e.image_only for e in base)
    if how == "one":
        e = base[0]
        return Interval(e.effect, e.low, e.high, pvals[0], e.n_seeds, e.n_images, e.image_only, e)
    wide = [p.estimate(1 - (1 - stats.LEVEL) / k) for p in parts]  # Bonferroni over the k parts
    worst = int(np.argmax(pvals))
    if how == "all":  # every part must hold: intersection-union for holding, Bonferroni for failing
        return Interval(min(e.effect for e in base), min(e.low for e in base), min(e.high for e in wide),
                        max(pvals), seeds, images, image_only, base[worst])
    best = int(np.argmin(pvals))  # any part: the best of k, paid for with Bonferroni
    return Interval(max(e.effect for e in base), max(e.low for e in wide), max(e.high for e in base),
                    min(1.0, k * min(pvals)), seeds, images, image_only, base[best])


def judge(c: Claim, iv: Interval, p_adj: float, rank_probability: float | None = None) -> tuple[str, str]:
    """(verdict, note) of claim `c` from its interval (a ranking's: its probability in % as the effect, and its
    seeds) and its Holm-adjusted p-value (see the module docstring)."""
    notes = []
    n_seeds = iv.n_seeds
    if c.kind == RANKING:
        verdict = ("holds" if rank_probability >= RANK_LEVEL and p_adj < 1 - RANK_LEVEL
                   else "fails" if rank_probability <= 1 - RANK_LEVEL else "inconclusive")
    else:
        threshold = -c.delta if c.kind == NONINFERIORITY else 0.0
        holds = iv.low > threshold and p_adj < ALPHA
        upper = -c.delta if c.kind == NONINFERIORITY else c.delta
        verdict = "holds" if holds else ("fails" if iv.high < upper else "inconclusive")
        if verdict == "holds" and c.kind == SUPERIORITY and iv.high < c.delta:
            notes.append(f"small: below the {c.delta:g}-point effect of interest")
        if verdict == "fails" and c.kind == SUPERIORITY and iv.high < 0:
            notes.append("reversed")
        if verdict == "inconclusive" and iv.low > threshold:
            notes.append("not after Holm's correction over the run's claims")
    if c.training and n_seeds < MIN_SEEDS and verdict in ("holds", "fails"):
        notes.append(f"would be {verdict}, but with {n_seeds} seed(s) the interval covers image noise only: "
                     f"a claim about training needs {MIN_SEEDS}")
        verdict = "inconclusive"
    return verdict, "; ".join(notes)


def needed(c: Claim, iv: Interval | None) -> str:
    """The sample that would decide an inconclusive claim: seeds x images per seed at 80 % power."""
    if iv.decider is None:
        return ""
    e = iv.decider
    if e.image_only:
        return f"{MIN_SEEDS}+ seeds (one seed: the seeds' variance is not measured yet)"
    n = max(1, int(round(e.images_per_seed)))
    return stats.needed(e, c.delta, [n, 4 * n])


def power(iv: Interval) -> dict:
    """What the run could see: the effect its seeds x images detect at 80 % power (`detectable`), and the
    deciding part's images per seed and its seed and within-seed (image) standard deviations, in the
    statistic's units."""
    e = iv.decider
    if e is None or e.image_only:
        return {}
    return {"n_per_seed": round(e.images_per_seed), "detectable": _fmt(stats.detectable(e)), "sd_seed": _fmt(math.sqrt(e.var_seed)),
            "sd_within": _fmt(math.sqrt(e.var_within))}


def in_report_order() -> list[str]:
    """Claim ids paper by paper (PAPERS), in registration order within a paper, whatever imported first."""
    rank = {m: i for i, m in enumerate(PAPERS)}
    return sorted(CLAIMS.in_order(), key=lambda k: rank.get(CLAIMS.get(k).module, len(PAPERS)))


def _fmt(v: float) -> float:
    return round(float(v), 4) if v is not None and math.isfinite(v) else math.nan


def evaluate_claims(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per registered claim (COLUMNS); a claim whose tables or rows are missing is `not run`,
    saying what it lacks. Holm's adjustment runs over every claim that ran."""
    rows, judged = [], []
    for key in in_report_order():
        c = CLAIMS.get(key)
        base = {"id": key, "paper": c.paper, "source": c.source, "claim": c.text, "published": c.published,
                "kind": c.kind, "delta": c.delta, "masking": ""}
        missing = [name for name in c.tables if name not in tables]
        if missing:
            rows.append({**base, "verdict": "not run", "evidence": f"needs {', '.join(missing)}"})
            continue
        try:
            res = c.check(tables)
            if c.kind == RANKING:
                prob = res["rank_probability"]
                iv = Interval(100.0 * prob, math.nan, math.nan, 1.0 - prob, res["n_seeds"], res["n_images"],
                              res["n_seeds"] == 1, None)
                p = iv.p
            else:
                iv = interval(res, -c.delta if c.kind == NONINFERIORITY else 0.0)
                p = iv.p
        except (KeyError, IndexError) as e:  # a table without the rows this claim compares
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            rows.append({**base, "verdict": "not run", "evidence": f"the tables lack what the claim compares ({msg})"})
            continue
        if not math.isfinite(p):
            rows.append({**base, "verdict": "not run", "evidence": f"the statistic is not a number ({res['evidence']})"})
            continue
        rows.append({**base, "evidence": res["evidence"], "masking": res.get("masking", ""), "p": _fmt(p),
                     "effect": _fmt(iv.effect), "ci_low": _fmt(iv.low), "ci_high": _fmt(iv.high), "n_seeds": iv.n_seeds,
                     "n_images": iv.n_images})
        judged.append((len(rows) - 1, c, iv, res))
    adjusted = stats.holm([rows[i]["p"] for i, *_ in judged])
    for (i, c, iv, res), p_adj in zip(judged, adjusted):
        verdict, note = judge(c, iv, p_adj, res.get("rank_probability"))
        critical = res.get("critical") or []
        if critical and verdict != "not run":
            # directional: masked only if the flagged models' worst case at its lower bound changes the verdict
            low = c.check(at_lower_bound(tables, res["critical_rows"]))
            iv_low = interval(low, -c.delta if c.kind == NONINFERIORITY else 0.0)
            factor = p_adj / iv.p if iv.p > 0 else 1.0  # this claim's Holm factor
            bound_verdict, _ = judge(c, iv_low, min(1.0, iv_low.p * factor))
            if bound_verdict != verdict:
                rows[i]["evidence"] += (f" [masked: with the flagged models' worst case at 0 it would be {bound_verdict}, "
                                        f"not {verdict}; flagged: {', '.join(critical)}]")
                verdict = "masked"
            else:
                note = "; ".join(filter(None, [note, f"flagged ({', '.join(critical)}), but even at 0 the verdict stands"]))
        rows[i].update(verdict=verdict, note=note, p_adj=_fmt(p_adj), **power(iv),
                       needed=needed(c, iv) if verdict == "inconclusive" else "")
    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df:
            df[col] = math.nan if col in NUMERIC else ""
    df["n_seeds"] = df["n_seeds"].astype("Int64")
    df["n_images"] = df["n_images"].astype("Int64")
    df["n_per_seed"] = df["n_per_seed"].astype("Int64")
    return df[COLUMNS]


def summaries(tables: dict[str, pd.DataFrame], judged: pd.DataFrame) -> dict[str, dict]:
    """{paper module: {claims, holds, fails, ..., and the paper's headline numbers}}: `dvc metrics show`'s
    rows, one short row per paper (each claim's effect and interval are in claims.csv). The verdict counts
    come from `judged` (evaluate_claims' frame); the numbers from the optional `headline(tables) -> {name:
    value}` of qrobust/papers/<module>/claims.py (clean_q, worst_q, worst_fp: mean clean / worst-case accuracy
    of the quantized models, worst case of the float ones), left out when its table is missing or has no
    such rows."""
    by_id = judged.set_index("id")
    out: dict[str, dict] = {}
    for key in in_report_order():
        module = CLAIMS.get(key).module
        row = out.setdefault(module, {"claims": 0, **{v.replace(" ", "_"): 0 for v in VERDICTS}})
        row["claims"] += 1
        r = by_id.loc[key]
        row[r.verdict.replace(" ", "_")] += 1
    for module, row in out.items():
        fn = getattr(importlib.import_module(f"qrobust.papers.{module}.claims"), "headline", None)
        try:
            numbers = fn(tables) if fn else {}
        except KeyError:  # a table this run did not make
            numbers = {}
        row.update({k: round(float(v), 2) for k, v in numbers.items() if v is not None and not math.isnan(v)})
    return out
