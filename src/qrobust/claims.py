"""Published findings, each tested against the regenerated long-format tables.

A claim reads the long CSVs (results/table*_long.csv) and returns its evidence: a per-seed
difference that the finding predicts to be positive, and the numbers behind it. The verdict:
holds when the mean difference exceeds the margin, fails when it is below minus the margin,
inconclusive otherwise; the margin is max(tolerance, 2 x the standard deviation over seeds), so
one seed is judged by the tolerance alone (1 accuracy point unless the claim says otherwise).
Ranking claims (which corruption hurts most) hold or fail outright and say so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from ._registry import Registry

CLAIMS: Registry = Registry("claim")


@dataclass(frozen=True)
class Claim:
    paper: str
    source: str
    text: str
    tables: tuple[str, ...]
    check: Callable[[dict], dict]


def claim(key: str, paper: str, source: str, text: str, tables: tuple[str, ...]):
    def deco(fn):
        CLAIMS.register(key)(Claim(paper, source, text, tables, fn))
        return fn
    return deco


def judge(diffs: list[float], tol: float = 1.0) -> dict:
    d = np.asarray(diffs, dtype=float)
    mean = float(d.mean())
    std = float(d.std(ddof=1)) if len(d) > 1 else 0.0
    margin = max(tol, 2 * std)
    verdict = "holds" if mean > margin else ("fails" if mean < -margin else "inconclusive")
    return {"value": mean, "spread": std, "n_seeds": len(d), "margin": margin, "verdict": verdict}


def _per_seed(df: pd.DataFrame, fn) -> list[float]:
    return [fn(g) for _, g in df.groupby("seed")]


# -- Defensive Quantization (Lin, Gan, Han, ICLR 2019) ------------------------------------------

def _t1(t: dict) -> pd.DataFrame:
    df = t["table1"].copy()
    df["act_bits"] = df["act_bits"].astype(str)
    return df


@claim("dq-vanilla-quantized-less-robust", "DQ", "Table 1, Figure 1",
       "Vanilla quantized models are less robust (FGSM accuracy) than the full-precision model.", ("table1",))
def _dq_less_robust(t):
    df = _t1(t)
    v = df[(df.method == "Vanilla") & (df.metric == "adv")]

    def diff(g):  # FP minus mean over bit-widths: positive when quantized is less robust
        fp = g.loc[g.act_bits == "Full Prec.", "value"].mean()
        return fp - g.loc[g.act_bits != "Full Prec.", "value"].mean()
    fp, q = v[v.act_bits == "Full Prec."].value.mean(), v[v.act_bits != "Full Prec."].value.mean()
    return {**judge(_per_seed(v, diff)), "evidence": f"FGSM acc. full precision {fp:.1f} vs quantized (mean over bit-widths) {q:.1f}"}


@claim("dq-improves-quantized-robustness", "DQ", "Table 1",
       "DQ raises the FGSM accuracy of quantized models over vanilla quantization.", ("table1",))
def _dq_improves(t):
    df = _t1(t)
    adv = df[(df.metric == "adv") & (df.act_bits != "Full Prec.")]
    best_dq = adv[adv.method != "Vanilla"].groupby(["seed", "method"]).value.mean().groupby("seed").max()
    van = adv[adv.method == "Vanilla"].groupby("seed").value.mean()
    diffs = (best_dq - van).dropna().tolist()
    return {**judge(diffs), "evidence": f"quantized FGSM acc. (mean over bit-widths): best DQ {best_dq.mean():.1f} vs vanilla {van.mean():.1f}"}


@claim("dq-keeps-clean-accuracy", "DQ", "Table 1",
       "DQ does not cost clean accuracy (within 1 point of vanilla at every bit-width, on average).", ("table1",))
def _dq_clean(t):
    df = _t1(t)
    c = df[df.metric == "clean"]
    dq = c[c.method != "Vanilla"].groupby("seed").value.mean()
    van = c[c.method == "Vanilla"].groupby("seed").value.mean()
    # holds unless DQ is more than the margin below vanilla
    diffs = (dq - van + 1.0).tolist()  # shift: "not lower by more than 1 point" becomes "> 0"
    res = judge(diffs, tol=0.0)
    return {**res, "value": res["value"] - 1.0, "evidence": f"clean acc. DQ {dq.mean():.1f} vs vanilla {van.mean():.1f}"}


def _t2(t):
    df = t["table2"].copy()
    df["technique"] = np.where(df.defense == "fs", "Feature Squeezing",
                               df.adv.map({"rfgsm": "Adversarial R+FGSM", "pgd": "Adversarial PGD"}).fillna("Normal"))
    return df


@claim("dq-helps-every-defense", "DQ", "Tables 2, 3",
       "Adding DQ improves robustness under every training technique (normal, feature squeezing, adversarial training).",
       ("table2",))
def _dq_every(t):
    df = _t2(t)
    att = df[df.attack != "clean"]
    m = att.groupby(["seed", "technique", "method"]).acc.mean().unstack("method")
    gain = (m["dq"] - m["vanilla"]).groupby("technique").mean()
    worst = (m["dq"] - m["vanilla"]).groupby("seed").min().tolist()
    return {**judge(worst), "evidence": "mean attacked acc. gain of DQ: " + ", ".join(f"{k} {v:+.1f}" for k, v in gain.items())}


@claim("pgd-strongest", "DQ", "Table 2",
       "White-box PGD is the strongest attack (lowest accuracy) at every eps.", ("table2",))
def _pgd_strongest(t):
    df = _t2(t)
    wb = df[(df.technique == "Normal") & (~df.blackbox) & (df.attack != "clean")]

    def diff(g):
        m = g.groupby(["eps", "attack"]).acc.mean().unstack("attack")
        return float((m.drop(columns="pgd").min(axis=1) - m["pgd"]).min())
    return {**judge(_per_seed(wb, diff), tol=0.0), "evidence": "smallest margin of the next-strongest attack over PGD, over eps"}


@claim("adv-rfgsm-best-defense", "DQ", "Table 2",
       "Adversarial R+FGSM training gives the best robustness among the defenses.", ("table2",))
def _rfgsm_best(t):
    df = _t2(t)
    att = df[(df.attack != "clean") & (df.method == "vanilla")]
    m = att.groupby(["seed", "technique"]).acc.mean().unstack("technique")
    others = m.drop(columns="Adversarial R+FGSM").max(axis=1)
    diffs = (m["Adversarial R+FGSM"] - others).tolist()
    return {**judge(diffs), "evidence": "mean attacked acc.: " + ", ".join(f"{k} {v:.1f}" for k, v in m.mean().items())}


@claim("relu1-worse-dq-closes-gap", "DQ", "Table 4",
       "With vanilla quantization ReLU1 trains worse than ReLU6, and DQ narrows the gap.", ("table3",))
def _relu1(t):
    df = t["table3"]
    c = df[df.attack == "clean"].groupby(["seed", "act", "method"]).acc.mean().unstack(["act", "method"])
    gap_v = c[("relu6", "vanilla")] - c[("relu1", "vanilla")]
    gap_dq = c[("relu6", "dq")] - c[("relu1", "dq")]
    return {**judge((gap_v - gap_dq).tolist(), tol=0.5),
            "evidence": f"ReLU6 - ReLU1 clean acc.: vanilla {gap_v.mean():+.1f}, DQ {gap_dq.mean():+.1f}"}


def _masking(t, adv: str, act: str | None, bits) -> tuple[list[float], float, float]:
    df = t["table4"]
    sub = df[(df.adv == adv)]
    sub = sub[sub.act_bits.isna()] if bits is None else sub[(sub.act_bits == bits) & (sub.act == act)]
    attack = "pgd" if adv == "pgd" else "fgsm"
    eps = sorted(sub.loc[sub.attack == attack, "eps"].unique())
    mid = eps[len(eps) // 2]
    s = sub[(sub.attack == attack) & (sub.eps == mid)]
    m = s.groupby(["seed", "blackbox"]).acc.mean().unstack("blackbox")
    return (m[True] - m[False]).tolist(), m[False].mean(), m[True].mean()


@claim("no-masking-relu6-quantized", "DQ", "Appendix A.1, Table 5",
       "ReLU6-quantized PGD-trained models show no gradient masking: black-box accuracy >= white-box accuracy.", ("table4",))
def _relu6_masking(t):
    d, w, b = _masking(t, "pgd", "relu6", 2)
    return {**judge(d, tol=0.0), "evidence": f"2-bit ReLU6: white-box {w:.1f}, black-box {b:.1f}"}


@claim("tanh-quantized-masks-gradients", "DQ", "Appendix A.1, Table 5",
       "Tanh-quantized PGD-trained models mask gradients: black-box accuracy below white-box accuracy.", ("table4",))
def _tanh_masking(t):
    d, w, b = _masking(t, "pgd", "tanh", 2)
    return {**judge([-x for x in d], tol=0.0), "evidence": f"2-bit Tanh: white-box {w:.1f}, black-box {b:.1f}"}


@claim("fgsm-training-masks-gradients", "DQ", "Appendix A.2, Table 6",
       "Adversarial FGSM training masks gradients (black-box below white-box); R+FGSM training does not.", ("table4",))
def _fgsm_masking(t):
    d_f, wf, bf = _masking(t, "fgsm", None, None)
    d_r, wr, br = _masking(t, "rfgsm", None, None)
    # positive when FGSM-trained masks more than R+FGSM-trained
    diffs = [r - f for f, r in zip(d_f, d_r)]
    return {**judge(diffs, tol=0.0), "evidence": f"FGSM-trained white {wf:.1f} / black {bf:.1f}; R+FGSM-trained white {wr:.1f} / black {br:.1f}"}


# -- Benchmarking the Robustness of Quantized Models (Xiao, Liu et al. 2023); SysNoise -------------

def _t5(t):
    df = t["table5"].copy()
    df["quantized"] = df.bits != "W32A32"
    return df


@claim("quantized-more-adversarially-robust", "Robustness benchmark", "finding (1)",
       "Quantized models have higher adversarial accuracy than their floating-point counterpart.", ("table5",))
def _q_adv(t):
    df = _t5(t)
    a = df[df.family == "adversarial"].groupby(["seed", "quantized"]).acc.mean().unstack("quantized")
    return {**judge((a[True] - a[False]).tolist()), "evidence": f"attacked acc. quantized (mean) {a[True].mean():.1f} vs float {a[False].mean():.1f}"}


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
    c["wbits"] = c.bits.str.extract(r"W(\d+)").astype(int)

    def slope(g):
        m = g.groupby("wbits").acc.mean()
        return float(np.polyfit(m.index, m.values, 1)[0]) if len(m) > 1 else 0.0
    return {**judge(_per_seed(c, slope), tol=0.1), "evidence": "slope of mCA over weight bits (points per bit): "
            + ", ".join(f"W{b}: {v:.1f}" for b, v in c.groupby("wbits").acc.mean().items())}


@claim("impulse-glass-worst-brightness-least", "Robustness benchmark", "finding (3)",
       "Impulse noise and glass blur hurt quantized models most, brightness least.", ("table5",))
def _corruption_rank(t):
    df = _t5(t)
    c = df[(df.family == "corruption") & df.quantized].groupby("noise").acc.mean().sort_values()
    worst2, least = list(c.index[:2]), c.index[-1]
    ok = {"impulse_noise", "glass_blur"} <= set(c.index[:3]) and least == "brightness"
    return {"value": float(ok), "spread": None, "n_seeds": int(df.seed.nunique()), "margin": None,
            "verdict": "holds" if ok else "fails",
            "evidence": f"most harmful: {', '.join(worst2)}; least: {least} (mean acc. of quantized models)"}


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
    s["variant"] = s.noise + ":" + s.level.astype(str)
    m = df[df.family == "model_side"].copy()
    m["drop"] = [clean.get((r.model, r.bits, r.seed)) - r.acc for r in m.itertuples()]
    m["variant"] = m.noise
    harm = pd.concat([s, m]).groupby("variant")["drop"].mean().sort_values(ascending=False)
    worst = harm.index[0]
    ok = "nearest" in worst
    nxt = f"; next: {harm.index[1]} ({harm.iloc[1]:+.1f})" if len(harm) > 1 else ""
    return {"value": float(ok), "spread": None, "n_seeds": int(df.seed.nunique()), "margin": None,
            "verdict": "holds" if ok else "fails",
            "evidence": f"largest mean accuracy drop: {worst} ({harm.iloc[0]:+.1f} points){nxt}"}


def evaluate_claims(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per registered claim whose tables are present (others say which table is missing)."""
    rows = []
    for key in CLAIMS.in_order():
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
        rows.append({**base, **res})
    return pd.DataFrame(rows)
