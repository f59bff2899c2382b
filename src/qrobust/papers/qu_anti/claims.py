"""Qu-ANTI-zation (Hong et al., NeurIPS 2021): its findings, tested on the raw table8_long.csv
(model, variant, bits empty for float, seed, metric, value, attacked_bits)."""
from __future__ import annotations

import pandas as pd

from qrobust.claims import claim, judge
from qrobust.papers.qu_anti.table8 import bits_key


def _t8(t, model: str, variant: str = "attack quantizer") -> pd.DataFrame:
    df = t["table8"]
    df = df[(df.metric == "accuracy") & (df.model == model) & (df.variant == variant)].copy()
    df["bits"] = [bits_key(b) for b in df["bits"]]  # "float", "8", "4", ... as the metrics files key them
    return df


ATTACKED_BITS = ("8", "7", "6", "5")


@claim("qu-anti-keeps-float-accuracy", "Qu-ANTI-zation", "Table 1 (93.20 float after the attack)",
       "The indiscriminate attack keeps the float model's accuracy (within 5 points of the clean model).", ("table8",))
def _qa_float(t):
    clean = _t8(t, "clean").query("bits == 'float'").set_index("seed").value
    att = _t8(t, "indiscriminate").query("bits == 'float'").set_index("seed").value
    diffs = (att - clean + 5.0).tolist()
    res = judge(diffs, tol=0.0)
    return {**res, "value": res["value"] - 5.0, "evidence": f"float acc. attacked {att.mean():.1f} vs clean {clean.mean():.1f}"}


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


def headline(t) -> dict:
    """`dvc metrics show`'s number: Table 8's mean accuracy of the indiscriminately attacked model once quantized
    at the bit-widths it was attacked at (the collapse the paper reports)."""
    df = _t8(t, "indiscriminate")
    return {"clean_q": df[df.attacked_bits.astype(str) == "True"].value.mean()}
