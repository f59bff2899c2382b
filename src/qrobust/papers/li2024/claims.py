"""Li, Meng, Tang et al. 2024: their key results, judged on the per-image outcomes of the raw table7_long.csv
(scheme, init, mode, robust, target w/a/wa, bits, quantizer names, seed, attack, eps, acc, masking), on
worst-case accuracy (attack `worst`: the per-example worst case over the attack ensemble; the paper used PGD).

Each comparison is like with like: two schemes that differ in the one factor the finding is about (the
target, the initialization, robust optimization) and agree in every other (mode, quantizers, bits), paired
image by image; the effect is the mean over such pairs."""
from __future__ import annotations

import pandas as pd

from qrobust.claims import claim
from qrobust.evidence import combine, difference, result, with_masking

FACTORS = ["init", "mode", "robust", "weight_quantizer", "act_quantizer", "target", "bits"]


def _model(r) -> str:
    return f"{r['scheme']} {r['target']}{int(r['bits'])} s{int(r['seed'])}"


def _worst(t) -> pd.DataFrame:
    df = t["table7"]
    df = df[df.attack == "worst"].copy()
    if df.empty:
        raise KeyError("no worst-case rows")
    for col in ("weight_quantizer", "act_quantizer"):  # float tensors: an empty cell, made comparable
        df[col] = df[col].fillna("float")
    return df


def _matched(df: pd.DataFrame, factor: str, plus, minus, keys=None) -> tuple[list, list[str]]:
    """(difference per matched pair, labels): rows with `factor` == plus against rows with `factor` == minus
    that agree in `keys` (default: every other factor)."""
    keys = keys or [f for f in FACTORS if f != factor]
    parts, shown = [], []
    for key, g in df.groupby(keys, dropna=False, sort=False):
        a, b = g[g[factor] == plus], g[g[factor] == minus]
        if len(a) and len(b):
            label = f"{a.scheme.iloc[0]} vs {b.scheme.iloc[0]} ({a.target.iloc[0]}{int(a.bits.iloc[0])})"
            parts.append(difference(a, b, label=label))
            shown.append(f"{label}: {a.acc.mean():.1f} vs {b.acc.mean():.1f}")
    if not parts:
        raise KeyError(f"no two schemes that differ in {factor} alone ({plus} against {minus})")
    return parts, shown


def _judged(df, factor, plus, minus, what: str, keys=None) -> dict:
    parts, shown = _matched(df, factor, plus, minus, keys)
    part = combine([(p, 1.0 / len(parts)) for p in parts], label=f"{factor}: {plus} - {minus}")
    rows = df[df[factor].isin([plus, minus])]
    return with_masking(result(part, f"worst-case acc. {what}: " + "; ".join(shown)), rows, _model, "table7")


@claim("activation-quantization-more-robust", "Li et al. 2024", "key results",
       "Quantizing activations gives more adversarial robustness than quantizing weights (the same scheme and "
       "bit-width, worst-case accuracy).", ("table7",), delta=5.0)
def _act_vs_w(t):
    df = _worst(t)
    # one scheme quantizing its activations against the same scheme quantizing its weights
    return _judged(df, "target", "a", "w", "activations only vs weights only", keys=["scheme", "bits"])


@claim("robust-init-helps", "Li et al. 2024", "key results",
       "An adversarially trained float model (robust initialization) gives a more robust quantized model than a "
       "normally trained one (the same quantization, no other robust optimization).", ("table7",), delta=5.0)
def _robust_init(t):
    df = _worst(t)
    return _judged(df[df.robust == "none"], "init", "adv", "float", "adversarial init vs float init")


@claim("adversarial-qat-helps", "Li et al. 2024", "key results",
       "Adversarial training inside QAT raises robustness over plain QAT (the same initialization and quantizers).",
       ("table7",), delta=5.0)
def _adv_qat(t):
    df = _worst(t)
    return _judged(df[df["mode"] == "qat"], "robust", "during", "none", "QAT with vs without adversarial training")


@claim("partial-data-finetune-helps", "Li et al. 2024", "key results",
       "Adversarial fine-tuning on part of the training data makes the post-training-quantized model more robust "
       "(the same initialization and quantizers).", ("table7",), delta=5.0)
def _finetune(t):
    df = _worst(t)
    return _judged(df[df["mode"] == "ptq"], "robust", "finetune", "none", "PTQ with vs without fine-tuning")


def headline(t) -> dict:
    """`dvc metrics show`'s numbers: Table 7's mean clean and worst-case accuracy over its quantized models."""
    df = t["table7"]
    return {"clean_q": df[df.attack == "clean"].acc.mean(), "worst_q": df[df.attack == "worst"].acc.mean()}
