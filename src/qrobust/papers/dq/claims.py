"""Defensive Quantization (Lin, Gan, Han, ICLR 2019): its findings, judged on the per-image outcomes of the
raw long CSVs of Tables 1-4 (table1_long.csv: method vanilla/dq with its beta, act_bits empty for full
precision, metric clean/adv/worst; table2/3/4_long.csv: method, adv, defense, act, act_bits, attack, eps,
blackbox, acc, with attack `worst` for the worst case; `masking`: the audit's flags).

Robustness is judged on worst-case accuracy (the paper used FGSM on Table 1; its FGSM numbers stay in the
evidence). Each statistic is a difference of accuracies in points, paired image by image within a seed
(qrobust.claims); delta, the smallest effect of interest, is justified in docs/statistics.md."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qrobust.claims import NONINFERIORITY, claim
from qrobust.evidence import combine, difference, result, with_masking


def _t1(t: dict) -> pd.DataFrame:
    df = t["table1"].copy()
    df["fp"] = df["act_bits"].isna()  # an empty act_bits is the full-precision model
    return df


def _bits(r) -> str:
    return "FP" if pd.isna(r["act_bits"]) else f"{int(r['act_bits'])}-bit"


def _t1_model(r) -> str:
    name = "vanilla" if r["method"] == "vanilla" else f"DQ {r['beta']:g}"
    return f"{name} {_bits(r)} s{int(r['seed'])}"


def _worst(df: pd.DataFrame) -> pd.DataFrame:
    w = df[df.metric == "worst"]
    if w.empty:
        raise KeyError("no worst-case rows")
    return w


@claim("dq-vanilla-quantized-less-robust", "DQ", "Table 1, Figure 1",
       "Vanilla quantized models are less robust than the full-precision model (worst-case accuracy over the attack "
       "ensemble, mean over bit-widths; the paper used FGSM).", ("table1",), delta=5.0)
def _dq_less_robust(t):
    df = _t1(t)
    v = _worst(df[df.method == "vanilla"])
    fgsm = df[(df.method == "vanilla") & (df.metric == "adv")]
    part = difference(v[v.fp], v[~v.fp], label="vanilla FP - quantized")
    evidence = (f"worst-case acc. full precision {v[v.fp].value.mean():.1f} vs quantized (mean over bit-widths) "
                f"{v[~v.fp].value.mean():.1f}; FGSM {fgsm[fgsm.fp].value.mean():.1f} vs {fgsm[~fgsm.fp].value.mean():.1f}")
    return with_masking(result(part, evidence), v, _t1_model, "table1")


@claim("dq-improves-quantized-robustness", "DQ", "Table 1",
       "DQ raises the robustness (worst-case accuracy, mean over the quantized bit-widths) of quantized models over "
       "vanilla quantization, for one of its betas (the choice among the config's betas is paid for: Bonferroni).",
       ("table1",), delta=5.0)
def _dq_improves(t):
    df = _t1(t)
    w = _worst(df[~df.fp])
    van = w[w.method == "vanilla"]
    parts, means = [], []
    for beta, g in w[w.method != "vanilla"].groupby("beta"):
        parts.append(difference(g, van, label=f"DQ {beta:g} - vanilla"))
        means.append(f"DQ {beta:g} {g.value.mean():.1f}")
    if not parts:
        raise KeyError("no DQ models")
    evidence = f"quantized worst-case acc. (mean over bit-widths): {', '.join(means)} vs vanilla {van.value.mean():.1f}"
    return with_masking(result(parts, evidence, "any"), w, _t1_model, "table1")


@claim("dq-keeps-clean-accuracy", "DQ", "Table 1",
       "DQ does not cost clean accuracy: at every bit-width (full precision included), DQ's clean accuracy (mean over "
       "its betas) is within 1 point of vanilla's.", ("table1",), kind=NONINFERIORITY, delta=1.0)
def _dq_clean(t):
    df = _t1(t)
    c = df[df.metric == "clean"]
    parts, shown = [], []
    for bits, g in c.groupby(c.act_bits.fillna(-1)):
        label = "FP" if bits == -1 else f"{int(bits)}-bit"
        parts.append(difference(g[g.method != "vanilla"], g[g.method == "vanilla"], label=label))
        shown.append(f"{label} {g[g.method != 'vanilla'].value.mean() - g[g.method == 'vanilla'].value.mean():+.1f}")
    return result(parts, "clean acc. DQ minus vanilla: " + ", ".join(shown), "all")


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
       "squeezing, adversarial training).", ("table2",), delta=5.0)
def _dq_every(t):
    df = _t2(t)
    att = df[df.attack == "worst"]
    if att.empty:
        raise KeyError("no worst-case rows")
    parts, shown = [], []
    for tech, g in att.groupby("technique", sort=False):
        parts.append(difference(g[g.method == "dq"], g[g.method == "vanilla"], label=tech))
        shown.append(f"{tech} {g[g.method == 'dq'].acc.mean() - g[g.method == 'vanilla'].acc.mean():+.1f}")
    return with_masking(result(parts, "worst-case acc. gain of DQ: " + ", ".join(shown), "all"), att, _t2_model,
                        "table2")


@claim("pgd-strongest", "DQ", "Table 2",
       "White-box PGD is the strongest attack: at every eps no other white-box attack leaves more than 1 point less "
       "accuracy than PGD (normally trained models).", ("table2",), kind=NONINFERIORITY, delta=1.0, training=False)
def _pgd_strongest(t):
    df = _t2(t)
    wb = df[(df.technique == "Normal") & (~df.blackbox) & ~df.attack.isin(["clean", "worst"])]
    parts, shown = [], []
    for eps, g in wb.groupby("eps"):
        pgd = g[g.attack == "pgd"]
        for attack, o in g[g.attack != "pgd"].groupby("attack"):
            parts.append(difference(o, pgd, label=f"{attack} - pgd at eps {eps:g}"))
            shown.append(f"{attack}@{eps:g} {o.acc.mean() - pgd.acc.mean():+.1f}")
    if not parts:
        raise KeyError("no PGD and other white-box attacks")
    return result(parts, "accuracy of each other attack minus PGD's: " + ", ".join(shown), "all")


@claim("adversarial-training-best-defense", "DQ", "Table 2",
       "Adversarial training (R+FGSM, PGD) gives better robustness (worst-case accuracy) than the other defenses "
       "(normal training, feature squeezing).", ("table2",), delta=5.0)
def _adv_best(t):
    df = _t2(t)
    att = df[(df.attack == "worst") & (df.method == "vanilla")]
    if att.empty:
        raise KeyError("no worst-case rows")
    adv = att[att.technique.str.startswith("Adversarial")]
    parts = [difference(adv, g, label=f"adversarial - {tech}")
             for tech, g in att[~att.technique.str.startswith("Adversarial")].groupby("technique")]
    if adv.empty or not parts:
        raise KeyError("no adversarially trained or no other defense")
    means = att.groupby("technique").acc.mean()
    return with_masking(result(parts, "worst-case acc.: " + ", ".join(f"{k} {v:.1f}" for k, v in means.items()), "all"),
                        att, _t2_model, "table2")


@claim("rfgsm-beats-pgd-training", "DQ", "Table 2",
       "Among the adversarial trainings, R+FGSM gives better robustness (worst-case accuracy) than PGD.", ("table2",),
       delta=5.0)
def _rfgsm_pgd(t):
    df = _t2(t)
    att = df[(df.attack == "worst") & (df.method == "vanilla")]
    r, p = att[att.technique == "Adversarial R+FGSM"], att[att.technique == "Adversarial PGD"]
    part = difference(r, p, label="R+FGSM - PGD training")
    return with_masking(result(part, f"worst-case acc. R+FGSM training {r.acc.mean():.1f} vs PGD training {p.acc.mean():.1f}"),
                        pd.concat([r, p]), _t2_model, "table2")


@claim("relu1-worse-dq-closes-gap", "DQ", "Table 4",
       "With vanilla quantization ReLU1 trains worse than ReLU6 (clean accuracy), and DQ narrows that gap.", ("table3",),
       delta=1.0)
def _relu1(t):
    df = t["table3"]
    c = df[df.attack == "clean"]

    def rows(act, method):
        return c[(c.act == act) & (c.method == method)]
    worse = difference(rows("relu6", "vanilla"), rows("relu1", "vanilla"), label="vanilla ReLU6 - ReLU1")
    dq_gap = difference(rows("relu6", "dq"), rows("relu1", "dq"), label="DQ ReLU6 - ReLU1")
    narrows = combine([(worse, 1.0), (dq_gap, -1.0)], label="gap vanilla - gap DQ")
    m = c.groupby(["act", "method"]).acc.mean()
    evidence = (f"ReLU6 - ReLU1 clean acc.: vanilla {m[('relu6', 'vanilla')] - m[('relu1', 'vanilla')]:+.1f}, "
                f"DQ {m[('relu6', 'dq')] - m[('relu1', 'dq')]:+.1f}")
    return result([worse, narrows], evidence, "all")


def _box(t, adv: str, act: str | None, bits) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """White-box and black-box rows of one Table 4 model at the middle eps (PGD for PGD-trained models,
    FGSM for the others), and a label."""
    df = t["table4"]
    sub = df[df.adv == adv]
    sub = sub[sub.act_bits.isna()] if bits is None else sub[(sub.act_bits == bits) & (sub.act == act)]
    attack = "pgd" if adv == "pgd" else "fgsm"
    a = sub[sub.attack == attack]
    if a.empty:
        raise KeyError(f"no {attack} rows for the {adv}-trained {act or 'float'} model")
    eps = sorted(a.eps.unique())
    mid = a[a.eps == eps[len(eps) // 2]]
    label = f"{adv}-trained {'float' if bits is None else f'{int(bits)}-bit {act}'}, {attack.upper()} eps {eps[len(eps) // 2]:g}"
    return mid[~mid.blackbox], mid[mid.blackbox], label


def _box_text(white, black, label) -> str:
    return f"{label}: white-box {white.acc.mean():.1f}, black-box {black.acc.mean():.1f}"


# DQ's appendix criterion: an attack through the model's own gradients that leaves MORE accuracy than a
# transferred one (black-box accuracy below white-box) means the gradients were masked


@claim("no-masking-relu6-quantized", "DQ", "Appendix A.1, Table 5",
       "ReLU6-quantized PGD-trained models show no gradient masking: black-box accuracy is not below white-box "
       "accuracy (by more than 1 point).", ("table4",), kind=NONINFERIORITY, delta=1.0)
def _relu6_masking(t):
    white, black, label = _box(t, "pgd", "relu6", 2)
    return result(difference(black, white, label="black - white"), _box_text(white, black, label))


@claim("tanh-quantized-masks-gradients", "DQ", "Appendix A.1, Table 5",
       "Tanh-quantized PGD-trained models mask gradients: black-box accuracy is below white-box accuracy.",
       ("table4",), delta=5.0)
def _tanh_masking(t):
    white, black, label = _box(t, "pgd", "tanh", 2)
    return result(difference(white, black, label="white - black"), _box_text(white, black, label))


@claim("fgsm-training-masks-gradients", "DQ", "Appendix A.2, Table 6",
       "Adversarial FGSM training masks gradients: black-box accuracy is below white-box accuracy.", ("table4",),
       delta=5.0)
def _fgsm_masking(t):
    white, black, label = _box(t, "fgsm", None, None)
    return result(difference(white, black, label="white - black"), _box_text(white, black, label))


@claim("rfgsm-training-no-masking", "DQ", "Appendix A.2, Table 6",
       "Adversarial R+FGSM training does not mask gradients: black-box accuracy is not below white-box accuracy (by "
       "more than 1 point).", ("table4",), kind=NONINFERIORITY, delta=1.0)
def _rfgsm_masking(t):
    white, black, label = _box(t, "rfgsm", None, None)
    return result(difference(black, white, label="black - white"), _box_text(white, black, label))


def headline(t) -> dict:
    """`dvc metrics show`'s numbers (qrobust.claims.summaries): Table 1's mean clean and worst-case accuracy of
    the quantized models, and the full-precision models' worst case."""
    df = _t1(t)
    q, fp = df[~df.fp], df[df.fp]
    return {"clean_q": q[q.metric == "clean"].value.mean(), "worst_q": q[q.metric == "worst"].value.mean(),
            "worst_fp": fp[fp.metric == "worst"].value.mean()}
