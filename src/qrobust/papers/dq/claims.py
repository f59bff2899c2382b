"""Defensive Quantization (Lin, Gan, Han, ICLR 2019): its findings, tested on the raw long CSVs of
Tables 1-4 (table1_long.csv: method vanilla/dq with its beta, act_bits empty for full precision,
metric clean/adv/worst; table2/3/4_long.csv: method, adv, defense, act, act_bits, attack, eps,
blackbox, acc, with attack `worst` for the worst case; `masking`: the audit's flags).

Robustness is judged on worst-case accuracy (the paper used FGSM on Table 1; its FGSM numbers stay
in the evidence). The gradient-masking claims of the appendix (black-box vs white-box) are judged by
the audit's per-example check `blackbox_not_better`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qrobust.claims import claim, judge, outright, per_seed, with_masking


def _t1(t: dict) -> pd.DataFrame:
    df = t["table1"].copy()
    df["fp"] = df["act_bits"].isna()  # an empty act_bits is the full-precision model
    return df


def _bits(r) -> str:
    return "FP" if pd.isna(r["act_bits"]) else f"{int(r['act_bits'])}-bit"


def _t1_model(r) -> str:
    name = "vanilla" if r["method"] == "vanilla" else f"DQ {r['beta']:g}"
    return f"{name} {_bits(r)} s{int(r['seed'])}"


@claim("dq-vanilla-quantized-less-robust", "DQ", "Table 1, Figure 1",
       "Vanilla quantized models are less robust than the full-precision model (worst-case accuracy over "
       "the attack ensemble; the paper used FGSM).", ("table1",))
def _dq_less_robust(t):
    df = _t1(t)
    v = df[(df.method == "vanilla") & (df.metric == "worst")]
    if v.empty:
        raise KeyError("no worst-case rows")
    fgsm = df[(df.method == "vanilla") & (df.metric == "adv")]

    def diff(g):  # FP minus mean over bit-widths: positive when quantized is less robust
        return g.loc[g.fp, "value"].mean() - g.loc[~g.fp, "value"].mean()
    fp, q = v[v.fp].value.mean(), v[~v.fp].value.mean()
    res = {**judge(per_seed(v, diff)),
           "evidence": f"worst-case acc. full precision {fp:.1f} vs quantized (mean over bit-widths) {q:.1f}; "
                       f"FGSM {fgsm[fgsm.fp].value.mean():.1f} vs {fgsm[~fgsm.fp].value.mean():.1f}"}
    return with_masking(res, v, _t1_model)


@claim("dq-improves-quantized-robustness", "DQ", "Table 1",
       "DQ raises the robustness (worst-case accuracy) of quantized models over vanilla quantization.", ("table1",))
def _dq_improves(t):
    df = _t1(t)
    adv = df[(df.metric == "worst") & ~df.fp]
    if adv.empty:
        raise KeyError("no worst-case rows")
    # each DQ beta is its own method; the best one counts
    best_dq = adv[adv.method != "vanilla"].groupby(["seed", "method", "beta"]).value.mean().groupby("seed").max()
    van = adv[adv.method == "vanilla"].groupby("seed").value.mean()
    diffs = (best_dq - van).dropna().tolist()
    res = {**judge(diffs), "evidence": f"quantized worst-case acc. (mean over bit-widths): best DQ {best_dq.mean():.1f} "
                                       f"vs vanilla {van.mean():.1f}"}
    return with_masking(res, adv, _t1_model)


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


def _t2_model(r) -> str:
    name = r["technique"] + (" + DQ" if r["method"] == "dq" else "")
    return f"{name} s{int(r['seed'])}"


@claim("dq-helps-every-defense", "DQ", "Tables 2, 3",
       "Adding DQ improves robustness (worst-case accuracy) under every training technique (normal, feature "
       "squeezing, adversarial training).", ("table2",))
def _dq_every(t):
    df = _t2(t)
    att = df[df.attack == "worst"]
    if att.empty:
        raise KeyError("no worst-case rows")
    m = att.groupby(["seed", "technique", "method"]).acc.mean().unstack("method")
    gain = (m["dq"] - m["vanilla"]).groupby("technique").mean()
    worst = (m["dq"] - m["vanilla"]).groupby("seed").min().tolist()
    res = {**judge(worst), "evidence": "worst-case acc. gain of DQ: " + ", ".join(f"{k} {v:+.1f}" for k, v in gain.items())}
    return with_masking(res, att, _t2_model)


@claim("pgd-strongest", "DQ", "Table 2",
       "White-box PGD is the strongest attack (lowest accuracy) at every eps.", ("table2",))
def _pgd_strongest(t):
    df = _t2(t)
    wb = df[(df.technique == "Normal") & (~df.blackbox) & ~df.attack.isin(["clean", "worst"])]

    def diff(g):
        m = g.groupby(["eps", "attack"]).acc.mean().unstack("attack")
        return float((m.drop(columns="pgd").min(axis=1) - m["pgd"]).min())
    return {**judge(per_seed(wb, diff), tol=0.0), "evidence": "smallest margin of the next-strongest attack over PGD, over eps"}


@claim("adv-rfgsm-best-defense", "DQ", "Table 2",
       "Adversarial R+FGSM training gives the best robustness (worst-case accuracy) among the defenses.", ("table2",))
def _rfgsm_best(t):
    df = _t2(t)
    att = df[(df.attack == "worst") & (df.method == "vanilla")]
    if att.empty:
        raise KeyError("no worst-case rows")
    m = att.groupby(["seed", "technique"]).acc.mean().unstack("technique")
    others = m.drop(columns="Adversarial R+FGSM").max(axis=1)
    diffs = (m["Adversarial R+FGSM"] - others).tolist()
    res = {**judge(diffs), "evidence": "worst-case acc.: " + ", ".join(f"{k} {v:.1f}" for k, v in m.mean().items())}
    return with_masking(res, att, _t2_model)


@claim("relu1-worse-dq-closes-gap", "DQ", "Table 4",
       "With vanilla quantization ReLU1 trains worse than ReLU6, and DQ narrows the gap.", ("table3",))
def _relu1(t):
    df = t["table3"]
    c = df[df.attack == "clean"].groupby(["seed", "act", "method"]).acc.mean().unstack(["act", "method"])
    gap_v = c[("relu6", "vanilla")] - c[("relu1", "vanilla")]
    gap_dq = c[("relu6", "dq")] - c[("relu1", "dq")]
    return {**judge((gap_v - gap_dq).tolist(), tol=0.5),
            "evidence": f"ReLU6 - ReLU1 clean acc.: vanilla {gap_v.mean():+.1f}, DQ {gap_dq.mean():+.1f}"}


def _masking(t, adv: str, act: str | None, bits) -> tuple[bool, str, int]:
    """The audit's per-example check on one Table 4 model: did a black-box attack (Square, a transfer)
    succeed beyond tolerance where every white-box attack failed? (flagged, evidence, seeds)"""
    df = t["table4"]
    sub = df[(df.adv == adv)]
    sub = sub[sub.act_bits.isna()] if bits is None else sub[(sub.act_bits == bits) & (sub.act == act)]
    w = sub[sub.attack == "worst"]
    if w.empty:
        raise KeyError(f"no worst-case audit for the {adv}-trained {act or 'float'} model")
    flags = [set(str(f).split(";")) if isinstance(f, str) and f else set() for f in w.masking]
    flagged = any("blackbox_not_better" in f for f in flags)
    attack = "pgd" if adv == "pgd" else "fgsm"
    eps = sorted(sub.loc[sub.attack == attack, "eps"].unique())
    mid = eps[len(eps) // 2]
    s = sub[(sub.attack == attack) & (sub.eps == mid)].groupby("blackbox").acc.mean()
    label = "float" if bits is None else f"{int(bits)}-bit {act}"
    evidence = (f"{adv}-trained {label}: audit {'flags' if flagged else 'does not flag'} black-box beating white-box "
                f"per example; worst-case {w.acc.mean():.1f}; {attack.upper()} white-box {s.get(False, float('nan')):.1f}, "
                f"black-box {s.get(True, float('nan')):.1f}")
    return flagged, evidence, w.seed.nunique()


@claim("no-masking-relu6-quantized", "DQ", "Appendix A.1, Table 5",
       "ReLU6-quantized PGD-trained models show no gradient masking: black-box attacks never succeed where white-box "
       "attacks fail (the masking audit's per-example check).", ("table4",))
def _relu6_masking(t):
    flagged, ev, n = _masking(t, "pgd", "relu6", 2)
    return outright(not flagged, n, ev)


@claim("tanh-quantized-masks-gradients", "DQ", "Appendix A.1, Table 5",
       "Tanh-quantized PGD-trained models mask gradients: black-box attacks succeed where white-box attacks fail "
       "(the masking audit's per-example check).", ("table4",))
def _tanh_masking(t):
    flagged, ev, n = _masking(t, "pgd", "tanh", 2)
    return outright(flagged, n, ev)


@claim("fgsm-training-masks-gradients", "DQ", "Appendix A.2, Table 6",
       "Adversarial FGSM training masks gradients (black-box succeeds where white-box fails); R+FGSM training does "
       "not (the masking audit's per-example check).", ("table4",))
def _fgsm_masking(t):
    f_flag, f_ev, n = _masking(t, "fgsm", None, None)
    r_flag, r_ev, _ = _masking(t, "rfgsm", None, None)
    return outright(f_flag and not r_flag, n, f"{f_ev}; {r_ev}")


def headline(t) -> dict:
    """`dvc metrics show`'s numbers (qrobust.claims.summaries): Table 1's mean clean and worst-case accuracy of
    the quantized models, and the full-precision models' worst case."""
    df = _t1(t)
    q, fp = df[~df.fp], df[df.fp]
    return {"clean_q": q[q.metric == "clean"].value.mean(), "worst_q": q[q.metric == "worst"].value.mean(),
            "worst_fp": fp[fp.metric == "worst"].value.mean()}
