"""DQ Tables 2-4 (Lin, Gan, Han, ICLR 2019), from robust-eval JSONs.

table2  training technique (+/- DQ) x Clean, Random, FGSM, R+FGSM, PGD, FGSM(B), PGD(B); each
        attack cell is "a/b/c" over the three eps, rounded as in the paper (the long CSV has
        every number). DQ Tables 2/3.
table3  ReLU6 vs ReLU1, vanilla vs DQ, k-bit activations: clean accuracy and FGSM accuracy at
        the middle eps (DQ Table 4).
table4  gradient-masking checks (DQ appendix Tables 5 and 6): white-box vs black-box accuracy
        for PGD-trained FP, Tanh-quantized and ReLU6-quantized models (PGD), and for FGSM- vs
        R+FGSM-trained models (FGSM). Black-box accuracy BELOW white-box accuracy flags gradient
        masking: the transferred attack found adversarial examples the white-box attack, with the
        model's own gradients, missed.
Several seeds: cells are means; `_long.csv` keeps every seed.

Worst case. With the `worst_case` job's files among the inputs (path under /metrics/worst/), each
of those models also gets its worst-case accuracy (the per-example worst case over the attack
ensemble, at the job's eps) and the gradient-masking audit's flags (papers/masking): Table 2 a
"Worst-case (eps X)" column (mean over seeds, one number), Table 3 "Worst-case (eps X)", Table 4
"Worst-case" and "Masking flags" (the union over the row's models; "none": nothing flagged).
Without worst-case files the tables are as before.

`table2_long.csv`, `table3_long.csv`, `table4_long.csv` share one raw schema, one row per
(model, defense, attack, eps, white/black-box), the clean accuracy as attack `clean`, the
worst-case accuracy as attack `worst`:
    method    config method name (vanilla, dq)
    beta      DQ's regularization weight at full precision (0.0 for vanilla)
    act       activation function (relu6, relu1, tanh)
    act_bits  activation bits, integer; empty for full precision
    adv       adversarial training attack (fgsm, rfgsm, pgd), none without
    defense   inference-time defense (none, fs: feature squeezing)
    seed      training seed
    attack    attack name (random, fgsm, rfgsm, pgd, ...); clean for the clean accuracy; worst for
              the per-example worst case over the worst_case job's ensemble
    eps       attack eps at full precision (0.0 for clean; the worst_case job's eps for worst)
    blackbox  True for transfer from the substitute model (False for clean and worst)
    acc       accuracy (%) at full precision
    masking   on worst rows: the audit's flagged checks, ";"-joined in the audit's order (empty:
              none flagged); empty on every other row
    images    the test images measured (evaluation/images.encode: every one for clean, the seed's
              own sample for the attacks and the worst case)
    correct   per image of `images`: "1" classified correctly (robust, under an attack), "0" not
Labels ("Adversarial PGD + DQ", "R+FGSM", "(B)") exist only in the tables.
"""
from __future__ import annotations

import pandas as pd

from qrobust.runtime import atomic
from qrobust.tables import worst as wc
from qrobust.tables._base import attacked_caption, register_table, write_table_files
from qrobust.tables.intervals import outcome_columns

ATTACK_LABEL = {"random": "Random", "fgsm": "FGSM", "rfgsm": "R+FGSM", "bim": "BIM", "pgd": "PGD", "square": "Square"}
ADV_LABEL = {"none": "Normal", "fgsm": "Adversarial FGSM", "rfgsm": "Adversarial R+FGSM", "pgd": "Adversarial PGD"}
LONG_COLUMNS = ["method", "beta", "act", "act_bits", "adv", "defense", "seed", "attack", "eps", "blackbox", "acc", "masking",
                "images", "correct"]
CI_KEYS = ["method", "beta", "act", "act_bits", "adv", "defense", "attack", "eps", "blackbox"]
INT_COLS = ("act_bits",)  # written as integers, empty for full precision


def long_frame(records: list[dict], worst=None, table: str = "table2") -> pd.DataFrame:
    """The long rows of the robust-eval `records`; `worst` (worst-case records, a list or
    qrobust.tables.worst.load_worst's dict) adds a `worst` row for each model it holds."""
    rows = []
    for r, w in wc.attach(records, worst, table):
        run = r["run"]
        base = {"method": run["method"], "beta": float(run["beta"]), "act": run.get("act"), "act_bits": run["act_bits"],
                "adv": run.get("adv") or "none", "defense": r["defense"], "seed": run["seed"]}
        rows.append({**base, "attack": "clean", "eps": 0.0, "blackbox": False, "acc": r["clean_acc"], "masking": "",
                     **outcome_columns(r.get("clean_images", ""), r.get("clean_correct"))})
        rows += [{**base, "attack": c["attack"], "eps": c["eps"], "blackbox": c["blackbox"], "acc": c["acc"], "masking": "",
                  **outcome_columns(r.get("images", ""), c.get("correct"))} for c in r["results"]]
        if w is not None:
            rows.append({**base, "attack": "worst", "eps": float(w["eps"]), "blackbox": False, "acc": w["worst_acc"],
                         "masking": wc.flags(w), **outcome_columns(w.get("images", ""), w.get("worst_correct"))})
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def _worst_eps(long: pd.DataFrame) -> list[float]:
    return sorted(long.loc[long.attack == "worst", "eps"].unique())


def _worst_caption(long: pd.DataFrame) -> str:
    if not (long.attack == "worst").any():
        return ""
    return ("; Worst-case: per-example worst case over the attack ensemble (gradient-masking flags in the "
            "long CSV's `masking` column and in masking.csv)")


def _col(attack: str, blackbox: bool) -> str:
    return ATTACK_LABEL.get(attack, attack) + ("(B)" if blackbox else "")


def _technique(row) -> str:
    label = "Feature Squeezing" if row["defense"] == "fs" else ADV_LABEL[row["adv"]]
    return label + (" + DQ" if row["method"] == "dq" else "")


def build_table2(records: list[dict], out_csv, worst=None) -> tuple[pd.DataFrame, list]:
    long = long_frame(records, worst, "table2")
    long["technique"] = long.apply(_technique, axis=1)
    eps = sorted(long.loc[~long.attack.isin(["clean", "worst"]), "eps"].unique())
    mean = long.groupby(["technique", "attack", "blackbox", "eps"]).acc.mean()
    cols = [(a, b) for b in (False, True) for a in dict.fromkeys(long.loc[long.blackbox == b, "attack"])
            if a not in ("clean", "worst")]
    rows = []
    for tech in dict.fromkeys(long.technique):
        row = {"Training Technique": tech, "Clean": mean[(tech, "clean", False, 0.0)]}
        for a, b in cols:
            row[_col(a, b)] = "/".join(f"{mean[(tech, a, b, e)]:.0f}" for e in eps)
        for e in _worst_eps(long):
            row[f"Worst-case (eps {e:.3g})"] = mean.get((tech, "worst", False, e))
        rows.append(row)
    table = pd.DataFrame(rows)
    eps_txt = ", ".join(f"{e:.4g}" for e in eps)
    files = write_table_files(table, long.drop(columns="technique"), out_csv,
                   f"Table 2: accuracy (%) under attack, cells a/b/c at eps = {eps_txt}; (B): black-box transfer from "
                   f"a separately trained substitute{attacked_caption(records)}{_worst_caption(long)}; "
                   f"mean over {long.seed.nunique()} seed(s)", INT_COLS, ci_keys=CI_KEYS)
    return table, files


def build_table3(records: list[dict], out_csv, worst=None) -> tuple[pd.DataFrame, list]:
    long = long_frame(records, worst, "table3")
    eps = sorted(long.loc[long.attack == "fgsm", "eps"].unique())
    mid = eps[len(eps) // 2]
    mean = long.groupby(["act", "method", "attack", "blackbox", "eps"]).acc.mean()
    rows = []
    for act in dict.fromkeys(long.act):
        for method in ("vanilla", "dq"):
            if (act, method, "clean", False, 0.0) not in mean:
                continue
            rows.append({"Activation": act.upper().replace("RELU", "ReLU"), "Method": "DQ" if method == "dq" else "Vanilla",
                         "Bits": int(long.act_bits.iloc[0]), "Clean": mean[(act, method, "clean", False, 0.0)],
                         f"FGSM (eps {mid:.3g})": mean[(act, method, "fgsm", False, mid)],
                         **{f"Worst-case (eps {e:.3g})": mean.get((act, method, "worst", False, e)) for e in _worst_eps(long)}})
    table = pd.DataFrame(rows)
    return table, write_table_files(table, long, out_csv, "Table 3: ReLU6 vs ReLU1 with k-bit activations, vanilla vs DQ: "
                                               f"accuracy (%){attacked_caption(records)}{_worst_caption(long)}; "
                                               f"mean over {long.seed.nunique()} seed(s)", INT_COLS, ci_keys=CI_KEYS)


def build_table4(records: list[dict], out_csv, worst=None) -> tuple[pd.DataFrame, list]:
    long = long_frame(records, worst, "table4")
    with_worst = (long.attack == "worst").any()
    rows = []
    for (adv, act, bits), sub in long.groupby(["adv", "act", "act_bits"], dropna=False, sort=False):
        attack = "pgd" if adv == "pgd" else "fgsm"
        eps = sorted(sub.loc[sub.attack == attack, "eps"].unique())
        mid = eps[len(eps) // 2]
        m = sub.groupby(["attack", "blackbox", "eps"]).acc.mean()
        white, black = m[(attack, False, mid)], m[(attack, True, mid)]
        quant = "full precision" if pd.isna(bits) else f"{int(bits)}-bit {act}"
        row = {"Training": ADV_LABEL[adv], "Model": quant, "Attack": f"{ATTACK_LABEL[attack]} (eps {mid:.3g})",
               "Clean": m[("clean", False, 0.0)], "White-Box": white, "Black-Box": black,
               "Gradient masking": "yes" if black < white else "no"}
        if with_worst:
            w = sub[sub.attack == "worst"]
            row["Worst-case"] = w.acc.mean() if len(w) else None
            # the union of the flags of the row's models (none: nothing flagged); empty when none has a worst-case record
            row["Masking flags"] = (";".join(wc.ordered_flags(f for fs in w.masking for f in fs.split(";"))) or "none"
                                    if len(w) else None)
        rows.append(row)
    table = pd.DataFrame(rows)
    weps = ", ".join(f"{e:.3g}" for e in _worst_eps(long))
    worst_txt = (f"; Worst-case: per-example worst case over the attack ensemble at eps {weps}, Masking flags: the "
                 "gradient-masking audit's flagged checks over the row's models (masking.csv)") if with_worst else ""
    return table, write_table_files(table, long, out_csv, "Table 4: gradient-masking check: black-box accuracy below white-box "
                                               "accuracy (the transferred attack fools images the white-box attack missed) means "
                                               f"the white-box attack was masked{attacked_caption(records)}{worst_txt}; "
                                               f"mean over {long.seed.nunique()} seed(s)",
                                    INT_COLS, ci_keys=CI_KEYS)


def _load(paths) -> tuple[list[dict], dict]:
    """(robust-eval records, {identity: worst-case record}) from the table's input files."""
    other, worst = wc.split(paths)
    return [atomic.read_json(p) for p in other], wc.load_worst(worst)


@register_table("table2")
def table2(paths, out_csv, cfg):
    records, worst = _load(paths)
    return build_table2(records, out_csv, worst)


@register_table("table3")
def table3(paths, out_csv, cfg):
    records, worst = _load(paths)
    return build_table3(records, out_csv, worst)


@register_table("table4")
def table4(paths, out_csv, cfg):
    records, worst = _load(paths)
    return build_table4(records, out_csv, worst)
