"""OHQ (Huang et al. 2023) and HAWQ-V3 (Yao et al. 2021): their findings, judged on the raw table6_long.csv
(plan_id, kind, budget, seed, accuracy with its per-image outcomes, latency_ms with every timed round).

Accuracy claims pair plans image by image on the test split; the latency claim pairs the timed rounds of
the deploy job (every plan ran once in each round, interleaved), so the rounds are its resampling unit."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qrobust.claims import NONINFERIORITY, claim
from qrobust.evidence import Part, difference, result


def _t6(t) -> pd.DataFrame:
    return t["table6"].rename(columns={"accuracy": "value"})


@claim("int8-keeps-fp32-accuracy", "HAWQ-V3 / OHQ", "HAWQ-V3 Table 2 (W8A8 71.56 vs 71.47)",
       "Uniform INT8 keeps full-precision accuracy (within 1 point).", ("table6",), kind=NONINFERIORITY, delta=1.0,
       training=False)
def _int8(t):
    df = _t6(t)
    i8, fp = df[df.plan_id == "uniform-int8"], df[df.plan_id == "uniform-fp32"]
    return result(difference(i8, fp, label="INT8 - FP32"), f"INT8 {i8.value.mean():.1f} vs FP32 {fp.value.mean():.1f}")


@claim("lp-beats-random-allocations", "OHQ", "OHQ section 4 (LP vs other bit allocations)",
       "At every budget, the LP's sensitivity-aware allocation is more accurate than random allocations that meet "
       "the same budget (their mean).", ("table6",), delta=1.0, training=False)
def _lp_random(t):
    df = _t6(t)
    parts, shown = [], []
    for budget, g in df[df.kind.isin(["ohq-lp", "random"])].groupby("budget", sort=False):
        lp, rnd = g[g.kind == "ohq-lp"], g[g.kind == "random"]
        if lp.empty or rnd.empty:
            continue
        parts.append(difference(lp, rnd, label=f"LP - random at {budget}"))
        shown.append(f"{budget} {lp.value.mean():.1f}/{rnd.value.mean():.1f}")
    if not parts:
        raise KeyError("no budget with both an LP plan and random plans")
    return result(parts, "per budget LP vs random mean accuracy: " + ", ".join(shown), "all")


def _rounds(row) -> np.ndarray:
    text = row.latency_times_ms if isinstance(row.latency_times_ms, str) else ""
    return np.array([float(v) for v in text.split()])


@claim("lp-faster-than-int8", "OHQ", "OHQ abstract (15-30 % lower latency than INT8 on deployment)",
       "The LP's mixed-precision plans run faster end to end than uniform INT8 on the target (the paper: by 15 to "
       "30 %).", ("table6",), delta=15.0, training=False)
def _lp_fast(t):
    """Per timed round: (INT8 time - LP plan time) / INT8 time in %, mean over the LP plans; the rounds of one
    seed's deploy job are paired (each round ran every plan once), the seeds' jobs are independent."""
    df = _t6(t)
    out, shown = {}, []
    for seed, g in df.groupby("seed"):
        i8 = g[g.plan_id == "uniform-int8"]
        lp = g[g.kind == "ohq-lp"].drop_duplicates("plan")
        if i8.empty or lp.empty:
            continue
        base = _rounds(next(i8.itertuples(index=False)))
        gains = [100.0 * (base - r) / base for r in (_rounds(x) for x in lp.itertuples(index=False)) if len(r) == len(base)]
        if len(base) == 0 or not gains:
            raise KeyError("no timed rounds in the table (rerun the deploy job with this code)")
        out[int(seed)] = (int(seed) * 1_000_000 + np.arange(len(base)), np.mean(gains, axis=0))
        shown.append(f"seed {int(seed)}: INT8 {np.median(base):.3f} ms, LP plans "
                     + ", ".join(f"{np.median(_rounds(x)):.3f}" for x in lp.itertuples(index=False)))
    if not out:
        raise KeyError("no seed with a uniform INT8 plan and an LP plan")
    return result(Part(out, "LP latency gain over INT8, %"), "median latency per batch: " + "; ".join(shown))


def headline(t) -> dict:
    """`dvc metrics show`'s number: Table 6's mean accuracy of the LP's mixed-precision plans."""
    df = t["table6"]
    return {"clean_q": df[df.kind == "ohq-lp"].accuracy.mean()}
