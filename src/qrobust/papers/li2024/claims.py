"""Li, Meng, Tang et al. 2024: their key results, tested on the raw table7_long.csv (scheme, init,
mode, robust, target w/a/wa, bits, quantizer names, seed, attack, eps, acc, masking), judged on
worst-case accuracy (attack `worst`: the per-example worst case over the attack ensemble; the paper
used PGD)."""
from __future__ import annotations

import pandas as pd

from qrobust.claims import claim, judge, with_masking
from qrobust.papers.li2024.table7 import robust_label


def _model(r) -> str:
    return f"{r['scheme']} {r['target']}{int(r['bits'])} s{int(r['seed'])}"


def _t7_pgd(t) -> pd.DataFrame:
    """The worst-case rows of Table 7 (the name is kept from when the claims read PGD)."""
    df = t["table7"]
    df = df[df.attack == "worst"].copy()
    if df.empty:
        raise KeyError("no worst-case rows")
    # where robust optimization sits: an adversarially trained init with none after it is "before"
    df["robust"] = [robust_label(i, r) for i, r in zip(df.init, df.robust)]
    return df


@claim("activation-quantization-more-robust", "Li et al. 2024", "key results",
       "Quantizing activations gives more adversarial robustness than quantizing weights.", ("table7",))
def _act_vs_w(t):
    p = _t7_pgd(t)
    m = p[p.target.isin(["a", "w"])].groupby(["seed", "target"]).acc.mean().unstack("target")
    evidence = f"worst-case acc. activations-only {m['a'].mean():.1f} vs weights-only {m['w'].mean():.1f}"
    return with_masking({**judge((m["a"] - m["w"]).tolist()), "evidence": evidence}, p[p.target.isin(["a", "w"])], _model)


@claim("robust-init-helps", "Li et al. 2024", "key results",
       "An adversarially trained float model (robust initialization) gives a more robust quantized model.", ("table7",))
def _robust_init(t):
    p = _t7_pgd(t)
    m = p[p.init.isin(["adv", "float"]) & (p.robust.isin(["none", "before"]))]
    g = m.groupby(["seed", "init"]).acc.mean().unstack("init")
    evidence = f"worst-case acc. adv init {g['adv'].mean():.1f} vs float init {g['float'].mean():.1f}"
    return with_masking({**judge((g["adv"] - g["float"]).tolist()), "evidence": evidence}, m, _model)


@claim("adversarial-qat-helps", "Li et al. 2024", "key results",
       "Adversarial training inside QAT raises robustness over plain QAT.", ("table7",))
def _adv_qat(t):
    p = _t7_pgd(t)
    rows = p[(p["mode"] == "qat")]
    q = rows.groupby(["seed", "robust"]).acc.mean().unstack("robust")
    evidence = f"worst-case acc. QAT with adversarial training {q['during'].mean():.1f} vs without {q['none'].mean():.1f}"
    return with_masking({**judge((q["during"] - q["none"]).tolist()), "evidence": evidence}, rows, _model)


@claim("partial-data-finetune-helps", "Li et al. 2024", "key results",
       "Adversarial fine-tuning on part of the training data makes the quantized model robust.", ("table7",))
def _finetune(t):
    p = _t7_pgd(t)
    rows = p[(p["mode"] == "ptq") & (p.init == "float")]
    q = rows.groupby(["seed", "robust"]).acc.mean().unstack("robust")
    evidence = f"worst-case acc. PTQ + fine-tuning {q['finetune'].mean():.1f} vs PTQ {q['none'].mean():.1f}"
    return with_masking({**judge((q["finetune"] - q["none"]).tolist()), "evidence": evidence}, rows, _model)


def headline(t) -> dict:
    """`dvc metrics show`'s numbers: Table 7's mean clean and worst-case accuracy over its quantized models."""
    df = t["table7"]
    return {"clean_q": df[df.attack == "clean"].acc.mean(), "worst_q": df[df.attack == "worst"].acc.mean()}
