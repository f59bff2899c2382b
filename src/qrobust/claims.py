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

from qrobust._registry import Registry

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
    # holds when the FGSM-trained model's black-box accuracy is below its white-box accuracy
    # (masking) while the R+FGSM-trained model's is not
    res = judge([-x for x in d_f], tol=0.0)
    if res["verdict"] == "holds" and float(np.mean(d_r)) < 0:
        res["verdict"] = "fails"
    return {**res, "evidence": f"FGSM-trained white {wf:.1f} / black {bf:.1f}; R+FGSM-trained white {wr:.1f} / black {br:.1f}"}


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


# -- OHQ (Huang et al. 2023) and HAWQ-V3 (Yao et al. 2021) -----------------------------------------

@claim("int8-keeps-fp32-accuracy", "HAWQ-V3 / OHQ", "HAWQ-V3 Table 2 (W8A8 71.56 vs 71.47)",
       "Uniform INT8 keeps full-precision accuracy (within 1 point).", ("table6",))
def _int8(t):
    df = t["table6"]
    u = df[df.kind == "uniform"].groupby(["seed", "plan_id"]).accuracy.mean().unstack("plan_id")
    diffs = (u["uniform-int8"] - u["uniform-fp32"] + 1.0).tolist()  # "not more than 1 point below" as "> 0"
    res = judge(diffs, tol=0.0)
    return {**res, "value": res["value"] - 1.0,
            "evidence": f"INT8 {u['uniform-int8'].mean():.1f} vs FP32 {u['uniform-fp32'].mean():.1f}"}


@claim("lp-beats-random-allocations", "OHQ", "OHQ section 4 (LP vs other bit allocations)",
       "At the same budget, the LP's sensitivity-aware allocation is more accurate than random allocations.", ("table6",))
def _lp_random(t):
    df = t["table6"]
    lp = df[df.kind == "ohq-lp"].groupby(["seed", "budget"]).accuracy.mean()
    rnd = df[df.kind == "random"].groupby(["seed", "budget"]).accuracy.mean()
    both = pd.concat({"lp": lp, "random": rnd}, axis=1).dropna()
    diffs = (both.lp - both.random).groupby("seed").min().tolist()  # the worst budget must still favour the LP
    return {**judge(diffs), "evidence": "per budget LP vs random mean: " + ", ".join(
        f"{b} {r.lp:.1f}/{r.random:.1f}" for (_, b), r in both.iterrows())}


@claim("mixed-precision-faster-than-fp32", "OHQ", "OHQ section 4 (on-chip latency)",
       "Hardware-aware mixed precision runs faster than FP32 on the target (measured end to end) within 1 point of its accuracy.",
       ("table6",))
def _lp_fast(t):
    df = t["table6"]
    fp = df[df.plan_id == "uniform-fp32"].set_index("seed")
    lp = df[df.kind == "ohq-lp"].groupby("seed")[["latency_ms", "accuracy"]].mean()
    speed = (fp.latency_ms / lp.latency_ms - 1.0) * 100  # percent faster
    acc_ok = (lp.accuracy >= fp.accuracy - 1.0).all()
    res = judge(speed.tolist(), tol=5.0)  # latency noise here is up to ~10 %: need > 5 % faster
    if res["verdict"] == "holds" and not acc_ok:
        res["verdict"] = "fails"
    return {**res, "evidence": f"LP plans {lp.latency_ms.mean():.2f} ms vs FP32 {fp.latency_ms.mean():.2f} ms "
            f"({speed.mean():+.0f} %), accuracy {lp.accuracy.mean():.1f} vs {fp.accuracy.mean():.1f}"}


# -- Li, Meng, Tang et al. 2024 -----------------------------------------------------------------

def _t7_pgd(t) -> pd.DataFrame:
    df = t["table7"]
    return df[df.attack == "pgd"]


@claim("activation-quantization-more-robust", "Li et al. 2024", "key results",
       "Quantizing activations gives more adversarial robustness than quantizing weights.", ("table7",))
def _act_vs_w(t):
    p = _t7_pgd(t)
    m = p[p.target.isin(["A", "W"])].groupby(["seed", "target"]).acc.mean().unstack("target")
    return {**judge((m["A"] - m["W"]).tolist()), "evidence": f"PGD acc. activations-only {m['A'].mean():.1f} vs weights-only {m['W'].mean():.1f}"}


@claim("robust-init-helps", "Li et al. 2024", "key results",
       "An adversarially trained float model (robust initialization) gives a more robust quantized model.", ("table7",))
def _robust_init(t):
    p = _t7_pgd(t)
    m = p[p.init.isin(["adv", "float"]) & (p.robust.isin(["none", "before"]))]
    g = m.groupby(["seed", "init"]).acc.mean().unstack("init")
    return {**judge((g["adv"] - g["float"]).tolist()), "evidence": f"PGD acc. adv init {g['adv'].mean():.1f} vs float init {g['float'].mean():.1f}"}


@claim("adversarial-qat-helps", "Li et al. 2024", "key results",
       "Adversarial training inside QAT raises robustness over plain QAT.", ("table7",))
def _adv_qat(t):
    p = _t7_pgd(t)
    q = p[(p["mode"] == "qat")].groupby(["seed", "robust"]).acc.mean().unstack("robust")
    return {**judge((q["during"] - q["none"]).tolist()), "evidence": f"PGD acc. QAT with adversarial training {q['during'].mean():.1f} vs without {q['none'].mean():.1f}"}


@claim("partial-data-finetune-helps", "Li et al. 2024", "key results",
       "Adversarial fine-tuning on part of the training data makes the quantized model robust.", ("table7",))
def _finetune(t):
    p = _t7_pgd(t)
    q = p[(p["mode"] == "ptq") & (p.init == "float")].groupby(["seed", "robust"]).acc.mean().unstack("robust")
    return {**judge((q["finetune"] - q["none"]).tolist()), "evidence": f"PGD acc. PTQ + fine-tuning {q['finetune'].mean():.1f} vs PTQ {q['none'].mean():.1f}"}


# -- Qu-ANTI-zation (Hong et al., NeurIPS 2021) ---------------------------------------------------

def _t8(t, model: str, variant: str = "attack quantizer") -> pd.DataFrame:
    df = t["table8"]
    df = df[(df.metric == "accuracy") & (df.model == model) & (df.variant == variant)].copy()
    df["bits"] = df["bits"].astype(str)
    return df


@claim("qu-anti-keeps-float-accuracy", "Qu-ANTI-zation", "Table 1 (93.20 float after the attack)",
       "The indiscriminate attack keeps the float model's accuracy (within 5 points of the clean model).", ("table8",))
def _qa_float(t):
    clean = _t8(t, "clean").query("bits == 'float'").set_index("seed").value
    att = _t8(t, "indiscriminate").query("bits == 'float'").set_index("seed").value
    diffs = (att - clean + 5.0).tolist()
    res = judge(diffs, tol=0.0)
    return {**res, "value": res["value"] - 5.0, "evidence": f"float acc. attacked {att.mean():.1f} vs clean {clean.mean():.1f}"}


ATTACKED_BITS = ("8", "7", "6", "5")


@claim("qu-anti-collapses-quantized", "Qu-ANTI-zation", "Table 1 (about 10 % at 8, 7, 6, 5 bits)",
       "Once quantized (8 to 5 bits), the attacked model loses most of its accuracy (20+ points below the clean model).",
       ("table8",))
def _qa_collapse(t):
    clean, att = _t8(t, "clean"), _t8(t, "indiscriminate")
    attacked = set(att.loc[att.attacked_bits, "bits"])
    if not set(ATTACKED_BITS) <= attacked:
        raise ValueError(f"the model was attacked at {sorted(attacked) or 'no'} bits, not at 8, 7, 6, 5 (config/paper.yaml does)")
    bits = list(ATTACKED_BITS)
    c = clean[clean.bits.isin(bits)].groupby("seed").value.mean()
    a = att[att.bits.isin(bits)].groupby("seed").value.mean()
    res = judge((c - a - 20.0).tolist(), tol=0.0)
    per = att[att.bits.isin(bits)].groupby("bits").value.mean()
    return {**res, "value": res["value"] + 20.0, "evidence": "attacked acc. at " + ", ".join(f"{b} bits {v:.1f}" for b, v in per.items())
            + f" vs clean {c.mean():.1f}"}


@claim("qu-anti-collapses-at-attacked-bits", "Qu-ANTI-zation", "section 4 (the attack's objective)",
       "At the bit-widths it was attacked at, the attacked model loses most of its accuracy (20+ points below the clean model).",
       ("table8",))
def _qa_collapse_attacked(t):
    clean, att = _t8(t, "clean"), _t8(t, "indiscriminate")
    bits = sorted(set(att.loc[att.attacked_bits, "bits"]))
    c = clean[clean.bits.isin(bits)].groupby("seed").value.mean()
    a = att[att.bits.isin(bits)].groupby("seed").value.mean()
    res = judge((c - a - 20.0).tolist(), tol=0.0)
    return {**res, "value": res["value"] + 20.0, "evidence": f"at {', '.join(bits)} bits: attacked {a.mean():.1f} vs clean {c.mean():.1f}"}


@claim("qu-anti-survives-other-quantizers", "qrobust (not checked in the papers)", "Table 8, last rows",
       "The attack survives quantizers it was not trained for (per-channel weights, other rounding, PTQ calibration): "
       "at the attacked bit-widths their accuracy stays 20+ points below the clean model's.", ("table8",))
def _qa_repairs(t):
    df = t["table8"]
    variants = [v for v in dict.fromkeys(df.variant) if v != "attack quantizer"]
    clean = _t8(t, "clean")
    bits = sorted(set(_t8(t, "indiscriminate").query("attacked_bits").bits))
    c = clean[clean.bits.isin(bits)].groupby("seed").value.mean()
    gaps, parts = [], []
    for v in variants:
        a = _t8(t, "indiscriminate", v)
        a = a[a.bits.isin(bits)].groupby("seed").value.mean()
        gaps.append(c - a - 20.0)
        parts.append(f"{v} {a.mean():.1f}")
    worst = pd.concat(gaps, axis=1).min(axis=1).tolist()  # the most repairing quantizer decides
    res = judge(worst, tol=0.0)
    return {**res, "value": res["value"] + 20.0,
            "evidence": f"attacked acc. at {', '.join(bits)} bits with {', '.join(parts)}; clean {c.mean():.1f}"}


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
