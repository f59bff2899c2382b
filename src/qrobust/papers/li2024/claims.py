"""Li, Meng, Tang et al. 2024: their key results, tested on the raw table7_long.csv (scheme, init,
mode, robust, target w/a/wa, bits, quantizer names, seed, attack, eps, acc)."""
from __future__ import annotations

import pandas as pd

from qrobust.claims import claim, judge
from qrobust.papers.li2024.table7 import robust_label


def _t7_pgd(t) -> pd.DataFrame:
    df = t["table7"]
    df = df[df.attack == "pgd"].copy()
    # where robust optimization sits: an adversarially trained init with none after it is "before"
    df["robust"] = [robust_label(i, r) for i, r in zip(df.init, df.robust)]
    return df


@claim("activation-quantization-more-robust", "Li et al. 2024", "key results",
       "Quantizing activations gives more adversarial robustness than quantizing weights.", ("table7",))
def _act_vs_w(t):
    p = _t7_pgd(t)
    m = p[p.target.isin(["a", "w"])].groupby(["seed", "target"]).acc.mean().unstack("target")
    return {**judge((m["a"] - m["w"]).tolist()), "evidence": f"PGD acc. activations-only {m['a'].mean():.1f} vs weights-only {m['w'].mean():.1f}"}


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
