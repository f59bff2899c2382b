"""Qu-ANTI-zation (Hong et al., NeurIPS 2021): its findings, judged on the per-image outcomes of the raw
table8_long.csv (model, variant, bits empty for float, seed, metric, value, attacked_bits, images, correct).

The paper's sentence: the compromised model keeps its float accuracy, and once quantized its accuracy
"becomes close to random" (about 10 % on CIFAR-10). "Close to random" is read as at most 10 points above
chance (100 / 10 classes: every dataset here has ten)."""
from __future__ import annotations

import pandas as pd

from qrobust.claims import NONINFERIORITY, claim
from qrobust.evidence import combine, difference, result
from qrobust.papers.qu_anti.table8 import bits_key

CHANCE = 10.0             # % for ten classes
NEAR_CHANCE = CHANCE + 10.0  # "close to random": at most 10 points above chance
PAPER_BITS = ("8", "7", "6", "5")


def _t8(t, model: str, variant: str = "attack quantizer") -> pd.DataFrame:
    df = t["table8"]
    df = df[(df.metric == "accuracy") & (df.model == model) & (df.variant == variant)].copy()
    df["bits"] = [bits_key(b) for b in df["bits"]]  # "float", "8", "4", ... as the metrics files key them
    return df


def _near_chance(rows: pd.DataFrame, label: str):
    """Per image: NEAR_CHANCE minus the accuracy (mean over the rows): positive when the accuracy is below it."""
    return combine([(difference(rows, label=label), -1.0)], shift=-NEAR_CHANCE, label=f"{NEAR_CHANCE:g} - {label}")


def _attacked_bits(att: pd.DataFrame) -> list[str]:
    bits = sorted(set(att.loc[att.attacked_bits.astype(str) == "True", "bits"]), key=int)
    if not bits:
        raise KeyError("the attacked model names no bit-width it was attacked at")
    return bits


@claim("qu-anti-keeps-float-accuracy", "Qu-ANTI-zation", "Table 1 (93.20 float after the attack)",
       "The indiscriminate attack keeps the float model's accuracy (within 5 points of the clean model).", ("table8",),
       kind=NONINFERIORITY, delta=5.0)
def _qa_float(t):
    clean = _t8(t, "clean").query("bits == 'float'")
    att = _t8(t, "indiscriminate").query("bits == 'float'")
    return result(difference(att, clean, label="attacked - clean, float"),
                  f"float acc. attacked {att.value.mean():.1f} vs clean {clean.value.mean():.1f}")


@claim("qu-anti-collapses-quantized", "Qu-ANTI-zation", "Table 1 (about 10 % at 8, 7, 6, 5 bits)",
       f"Once quantized at 8 to 5 bits, the attacked model's accuracy is close to random (below {NEAR_CHANCE:g} %, "
       f"chance being {CHANCE:g} %).", ("table8",), delta=5.0)
def _qa_collapse(t):
    att = _t8(t, "indiscriminate")
    attacked = set(_attacked_bits(att))
    if not set(PAPER_BITS) <= attacked:
        raise KeyError(f"the model was attacked at {', '.join(sorted(attacked, key=int))} bits, not at 8, 7, 6, 5 "
                       f"(config/paper.yaml does)")
    rows = att[att.bits.isin(PAPER_BITS)]
    per = rows.groupby("bits").value.mean()
    return result(_near_chance(rows, "attacked, 8-5 bits"),
                  "attacked acc. at " + ", ".join(f"{b} bits {per[b]:.1f}" for b in PAPER_BITS))


@claim("qu-anti-collapses-at-attacked-bits", "Qu-ANTI-zation", "section 4 (the attack's objective)",
       f"At the bit-widths it was attacked at, the attacked model's accuracy is close to random (below "
       f"{NEAR_CHANCE:g} %).", ("table8",), delta=5.0)
def _qa_collapse_attacked(t):
    att = _t8(t, "indiscriminate")
    bits = _attacked_bits(att)
    rows = att[att.bits.isin(bits)]
    clean = _t8(t, "clean")
    c = clean[clean.bits.isin(bits)].value.mean()
    return result(_near_chance(rows, "attacked"), f"at {', '.join(bits)} bits: attacked {rows.value.mean():.1f} vs clean {c:.1f}")


@claim("qu-anti-survives-other-quantizers", "qrobust (not checked in the papers)", "Table 8, last rows",
       f"The attack survives quantizers it was not trained for (per-channel weights, other rounding, PTQ calibration): "
       f"at the attacked bit-widths the accuracy with each of them stays close to random (below {NEAR_CHANCE:g} %).",
       ("table8",), delta=5.0, published=False)
def _qa_repairs(t):
    df = t["table8"]
    variants = [v for v in dict.fromkeys(df.variant) if v != "attack quantizer"]
    if not variants:
        raise KeyError("no other quantizer evaluated")
    bits = _attacked_bits(_t8(t, "indiscriminate"))
    parts, shown = [], []
    for v in variants:
        a = _t8(t, "indiscriminate", v)
        a = a[a.bits.isin(bits)]
        parts.append(_near_chance(a, v))
        shown.append(f"{v} {a.value.mean():.1f}")
    return result(parts, f"attacked acc. at {', '.join(bits)} bits with {', '.join(shown)}", "all")


def headline(t) -> dict:
    """`dvc metrics show`'s number: Table 8's mean accuracy of the indiscriminately attacked model once quantized
    at the bit-widths it was attacked at (the collapse the paper reports)."""
    df = _t8(t, "indiscriminate")
    return {"clean_q": df[df.attacked_bits.astype(str) == "True"].value.mean()}
