"""Table 7 (Li, Meng, Tang et al. 2024, "Investigating the Impact of Quantization on Adversarial
Robustness"): where robust optimization sits. Rows: schemes (initialization, PTQ/QAT and its
quantizer, robust optimization: before = adversarially trained init, during QAT, fine-tuning on
part of the data). Columns: per target (W: weights only, A: activations only, WA: both) and
bit-width, clean, PGD and gradient-free (Square) accuracy. Mean over seeds; `_long.csv` has all.
With the `worst_case` job's files among the inputs (path under /metrics/worst/), each target and
bit-width group also gets a "{target}{bits} worst-case" column after its attack columns: the
per-example worst case over the attack ensemble (mean over seeds); the gradient-masking audit's
flags are in the long CSV (`masking`) and in masking.csv. Without them the table is as before.

`table7_long.csv`, one row per (scheme, target, bits, seed, attack, eps), raw values; the
worst-case accuracy, where the model has a worst-case record, is one more row with attack `worst`:
    scheme            the config's scheme name
    init              float, adv (adversarially trained float model) or random
    mode              ptq or qat
    robust            the scheme's robust optimization: none, during, finetune
    target            w (weights only), a (activations only) or wa (both)
    bits              bit-width of the quantized tensors, integer
    weight_quantizer  weight quantizer name (uniform, pwlq, ...); empty when weights stay float
    act_quantizer     activation quantizer name (uniform, pact, ...); empty when activations stay float
    seed              seed
    attack            attack name (pgd, square); clean for the clean accuracy; worst for the
                      per-example worst case over the worst_case job's ensemble
    eps               attack eps (0.0 for clean; the worst_case job's eps for worst)
    acc               accuracy (%) at full precision
    masking           on worst rows: the audit's flagged checks, ";"-joined in the audit's order
                      (empty: none flagged); empty on every other row
    images            the test images measured (evaluation/images.encode: every one for clean, the
                      seed's own sample for the attacks and the worst case)
    correct           per image of `images`: "1" classified correctly (robust), "0" not
Labels exist only in the table: target W/A/WA, "before" for an adversarially trained init with no
other robust optimization, "QAT PACT" and the like.
"""
from __future__ import annotations

import pandas as pd

from qrobust.runtime import atomic
from qrobust.tables import worst as wc
from qrobust.tables._base import attacked_caption, register_table, write_table_files
from qrobust.tables.intervals import outcome_columns

LABEL = {"pgd": "PGD", "square": "Square", "fgsm": "FGSM", "bim": "BIM", "rfgsm": "R+FGSM", "random": "Random"}


LONG_COLUMNS = ["scheme", "init", "mode", "robust", "target", "bits", "weight_quantizer", "act_quantizer", "seed",
                "attack", "eps", "acc", "masking", "images", "correct"]
CI_KEYS = ["scheme", "init", "mode", "robust", "target", "bits", "weight_quantizer", "act_quantizer", "attack", "eps"]


def long_frame(records: list[dict], worst=None) -> pd.DataFrame:
    """The long rows of the evaluation `records`; `worst` (worst-case records, a list or
    qrobust.tables.worst.load_worst's dict) adds a `worst` row for each model it holds."""
    rows = []
    for r, w in wc.attach(records, worst, "table7"):
        run = r["run"]
        q = run["quant"]
        base = {"scheme": run["scheme"], "init": run["init"], "mode": run["mode"], "robust": run["robust"],
                "target": run["target"], "bits": run["bits"],
                "weight_quantizer": (q.get("weight_quant") or {}).get("quantizer"),
                "act_quantizer": (q.get("act_quant") or {}).get("quantizer"), "seed": run["seed"]}
        rows.append({**base, "attack": "clean", "eps": 0.0, "acc": r["clean_acc"], "masking": "",
                     **outcome_columns(r.get("clean_images", ""), r.get("clean_correct"))})
        rows += [{**base, "attack": c["attack"], "eps": c["eps"], "acc": c["acc"], "masking": "",
                  **outcome_columns(r.get("images", ""), c.get("correct"))} for c in r["results"]]
        if w is not None:
            rows.append({**base, "attack": "worst", "eps": float(w["eps"]), "acc": w["worst_acc"], "masking": wc.flags(w),
                         **outcome_columns(w.get("images", ""), w.get("worst_correct"))})
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def robust_label(init: str, robust: str) -> str:
    """An adversarially trained init with no other robust optimization is robust optimization "before"."""
    return "before" if init == "adv" and robust == "none" else robust


def labelled(long: pd.DataFrame) -> pd.DataFrame:
    """The long frame with the table's labels: robust "before", target W/A/WA, float for unquantized tensors."""
    return long.assign(robust=[robust_label(i, r) for i, r in zip(long.init, long.robust)], target=long.target.str.upper(),
                       weight=long.weight_quantizer.fillna("float"), act=long.act_quantizer.fillna("float"))


def build(records: list[dict], out_csv, worst=None) -> tuple[pd.DataFrame, list]:
    raw = long_frame(records, worst)
    long = labelled(raw)
    mean = long.groupby(["scheme", "target", "bits", "attack"], sort=False).acc.mean()
    attacks = [a for a in dict.fromkeys(long.attack) if a != "worst"]
    with_worst = (long.attack == "worst").any()
    cols = list(dict.fromkeys(zip(long.target, long.bits)))
    rows = []
    for scheme, sub in long.groupby("scheme", sort=False):
        info = sub.iloc[0]
        # the scheme's quantizers over all its targets (a weights-only row shows no activation quantizer)
        quantizers = [q for q in dict.fromkeys(list(sub.weight) + list(sub.act)) if q != "float"]
        quant = info["mode"].upper() + " " + ("PACT" if "pact" in quantizers else "/".join(quantizers) or "float")
        row = {"Scheme": scheme, "Init": info["init"], "Quantization": quant, "Robust opt.": info["robust"]}
        for tg, b in cols:
            for a in attacks:
                row[f"{tg}{b} {LABEL.get(a, a) if a != 'clean' else 'clean'}"] = mean.get((scheme, tg, b, a))
            if with_worst:
                row[f"{tg}{b} worst-case"] = mean.get((scheme, tg, b, "worst"))
        rows.append(row)
    table = pd.DataFrame(rows)
    eps = long.loc[~long.attack.isin(["clean", "worst"]), "eps"].iloc[0]
    worst_txt = ""
    if with_worst:
        weps = ", ".join(f"{e:.3g}" for e in sorted(long.loc[long.attack == "worst", "eps"].unique()))
        worst_txt = (f"; worst-case: per-example worst case over the attack ensemble (eps={weps}; gradient-masking flags "
                     "in the long CSV's `masking` column and in masking.csv)")
    files = write_table_files(table, raw, out_csv, f"Table 7: accuracy (%) clean and under attack (eps={eps:.3g}) per scheme and target "
                                    f"(W: weights only, A: activations only, WA: both){attacked_caption(records)}{worst_txt}; "
                                    f"mean over {long.seed.nunique()} seed(s)",
                              ("bits",), ci_keys=CI_KEYS)
    return table, files


@register_table("table7")
def from_files(paths, out_csv, cfg):
    other, worst = wc.split(paths)
    return build([atomic.read_json(p) for p in other], out_csv, wc.load_worst(worst))
