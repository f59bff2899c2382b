"""Benchmarking the Robustness of Quantized Models (Xiao, Liu et al. 2023) and SysNoise (Wang et
al. 2023): their findings, tested on the raw table5_long.csv (model, weight_bits/act_bits empty for
the float model, family, noise, severity, variant, eps, reference, acc)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qrobust.claims import claim, judge, outright, per_seed, with_masking
from qrobust.tables._base import wa_bits_label


def _t5(t):
    df = t["table5"].copy()
    df["quantized"] = df.weight_bits.notna()  # the float model has no bits
    df["bits"] = [wa_bits_label(w, a) for w, a in zip(df.weight_bits, df.act_bits)]
    return df


@claim("quantized-more-adversarially-robust", "Robustness benchmark", "finding (1)",
       "Quantized models have higher adversarial accuracy (worst case over the attack ensemble) than their "
       "floating-point counterpart.", ("table5",))
def _q_adv(t):
    """On the worst-case rows when the table has them (the robustness claims' rule: never an attack
    that may be masked alone), else on the config's attack, said in the evidence."""
    df = _t5(t)
    worst = df[df.family == "worst"]
    rows = worst if len(worst) else df[df.family == "adversarial"]
    what = "worst-case acc." if len(worst) else f"{'/'.join(sorted(set(rows.noise)))} acc. (no worst-case rows)"
    a = rows.groupby(["seed", "quantized"]).acc.mean().unstack("quantized")
    res = {**judge((a[True] - a[False]).tolist()),
           "evidence": f"{what} quantized (mean) {a[True].mean():.1f} vs float {a[False].mean():.1f}"}
    if len(worst):
        fgsm = df[df.family == "adversarial"].groupby("quantized").acc.mean()
        res["evidence"] += f"; {'/'.join(sorted(set(df[df.family == 'adversarial'].noise))).upper()} {fgsm[True]:.1f} vs {fgsm[False]:.1f}"
        return with_masking(res, worst, lambda r: f"{r['model']} {r['bits']}")
    return res


@claim("quantized-less-corruption-robust", "Robustness benchmark", "finding (1)",
       "Quantized models are more vulnerable to natural corruptions (lower mCA) than the floating-point model.", ("table5",))
def _q_mca(t):
    df = _t5(t)
    c = df[df.family == "corruption"].groupby(["seed", "quantized"]).acc.mean().unstack("quantized")
    return {**judge((c[False] - c[True]).tolist()), "evidence": f"mCA float {c[False].mean():.1f} vs quantized (mean) {c[True].mean():.1f}"}


@claim("more-bits-more-natural-robustness", "Robustness benchmark", "finding (2)",
       "More bits give higher natural robustness (mCA rises with the bit-width).", ("table5",))
def _bits_mca(t):
    df = _t5(t)
    c = df[(df.family == "corruption") & df.quantized].copy()
    c["wbits"] = c.weight_bits.astype(int)

    def slope(g):
        m = g.groupby("wbits").acc.mean()
        return float(np.polyfit(m.index, m.values, 1)[0]) if len(m) > 1 else 0.0
    return {**judge(per_seed(c, slope), tol=0.1), "evidence": "slope of mCA over weight bits (points per bit): "
            + ", ".join(f"W{b}: {v:.1f}" for b, v in c.groupby("wbits").acc.mean().items())}


@claim("impulse-glass-worst-brightness-least", "Robustness benchmark", "finding (3)",
       "Impulse noise and glass blur hurt quantized models most, brightness least.", ("table5",))
def _corruption_rank(t):
    df = _t5(t)
    c = df[(df.family == "corruption") & df.quantized].groupby("noise").acc.mean().sort_values()
    worst2, least = list(c.index[:2]), c.index[-1]
    ok = {"impulse_noise", "glass_blur"} <= set(c.index[:3]) and least == "brightness"
    return outright(ok, int(df.seed.nunique()),
                    f"most harmful: {', '.join(worst2)}; least: {least} (mean acc. of quantized models)")


@claim("nearest-interpolation-most-harmful", "SysNoise / robustness benchmark", "finding (4)",
       "Nearest-neighbour interpolation is the most harmful system noise.", ("table5",))
def _nearest(t):
    """Harm = accuracy drop against the pipeline the model was trained with: a data-side variant
    against its noise's reference variant, a model-side noise against the clean accuracy."""
    df = _t5(t)
    keys = ["model", "bits", "seed"]
    clean = df[df.family == "clean"].set_index(keys).acc
    s = df[df.family == "system"].copy()
    ref = s[s.reference].set_index(keys + ["noise"]).acc
    s = s[~s.reference]
    s["drop"] = [ref.get((r.model, r.bits, r.seed, r.noise), float("nan")) - r.acc for r in s.itertuples()]
    s["harm_of"] = s.noise + ":" + s.variant.astype(str)
    m = df[df.family == "model_side"].copy()
    m["drop"] = [clean.get((r.model, r.bits, r.seed)) - r.acc for r in m.itertuples()]
    m["harm_of"] = m.noise
    harm = pd.concat([s, m]).groupby("harm_of")["drop"].mean().sort_values(ascending=False)
    worst = harm.index[0]
    ok = "nearest" in worst
    nxt = f"; next: {harm.index[1]} ({harm.iloc[1]:+.1f})" if len(harm) > 1 else ""
    return outright(ok, int(df.seed.nunique()), f"largest mean accuracy drop: {worst} ({harm.iloc[0]:+.1f} points){nxt}")


def headline(t) -> dict:
    """`dvc metrics show`'s numbers: Table 5's mean clean and worst-case accuracy of the quantized models, and the
    float model's worst case."""
    df = _t5(t)
    q, fp = df[df.quantized], df[~df.quantized]
    return {"clean_q": q[q.family == "clean"].acc.mean(), "worst_q": q[q.family == "worst"].acc.mean(),
            "worst_fp": fp[fp.family == "worst"].acc.mean()}
