"""Defensive Quantization (Lin, Gan, Han, ICLR 2019): its findings, tested on the raw long CSVs of
Tables 1-4 (table1_long.csv: method vanilla/dq with its beta, act_bits empty for full precision;
table2/3/4_long.csv: method, adv, defense, act, act_bits, attack, eps, blackbox, acc)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qrobust.claims import claim, judge, per_seed


def _t1(t: dict) -> pd.DataFrame:
    df = t["table1"].copy()
    df["fp"] = df["act_bits"].isna()  # an empty act_bits is the full-precision model
    return df


@claim("dq-vanilla-quantized-less-robust", "DQ", "Table 1, Figure 1",
       "Vanilla quantized models are less robust (FGSM accuracy) than the full-precision model.", ("table1",))
def _dq_less_robust(t):
    df = _t1(t)
    v = df[(df.method == "vanilla") & (df.metric == "adv")]

    def diff(g):  # FP minus mean over bit-widths: positive when quantized is less robust
        return g.loc[g.fp, "value"].mean() - g.loc[~g.fp, "value"].mean()
    fp, q = v[v.fp].value.mean(), v[~v.fp].value.mean()
    return {**judge(per_seed(v, diff)), "evidence": f"FGSM acc. full precision {fp:.1f} vs quantized (mean over bit-widths) {q:.1f}"}


@claim("dq-improves-quantized-robustness", "DQ", "Table 1",
       "DQ raises the FGSM accuracy of quantized models over vanilla quantization.", ("table1",))
def _dq_improves(t):
    df = _t1(t)
    adv = df[(df.metric == "adv") & ~df.fp]
    # each DQ beta is its own method; the best one counts
    best_dq = adv[adv.method != "vanilla"].groupby(["seed", "method", "beta"]).value.mean().groupby("seed").max()
    van = adv[adv.method == "vanilla"].groupby("seed").value.mean()
    diffs = (best_dq - van).dropna().tolist()
    return {**judge(diffs), "evidence": f"quantized FGSM acc. (mean over bit-widths): best DQ {best_dq.mean():.1f} vs vanilla {van.mean():.1f}"}


@claim("dq-keeps-clean-accuracy", "DQ", "Table 1",
       "DQ does not cost clean accuracy (within 1 point of vanilla at every bit-width, on average).", ("table1",))
def _dq_clean(t):
    df = _t1(t)
    c = df[df.metric == "clean"]
    dq = c[c.method != "vanilla"].groupby("seed").value.mean()
    van = c[c.method == "vanilla"].groupby("seed").value.mean()
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
    return {**judge(per_seed(wb, diff), tol=0.0), "evidence": "smallest margin of the next-strongest attack over PGD, over eps"}


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
