"""DQ Tables 2-4 (Lin, Gan, Han, ICLR 2019), from robust-eval JSONs.

table2  training technique (+/- DQ) x Clean, Random, FGSM, R+FGSM, PGD, FGSM(B), PGD(B); each
        attack cell is "a/b/c" over the three eps, rounded as in the paper (the long CSV has
        every number). DQ Tables 2/3.
table3  ReLU6 vs ReLU1, vanilla vs DQ, k-bit activations: clean accuracy and FGSM accuracy at
        the middle eps (DQ Table 4).
table4  gradient-masking checks (DQ appendix Tables 5 and 6): white-box vs black-box accuracy
        for PGD-trained FP, Tanh-quantized and ReLU6-quantized models (PGD), and for FGSM- vs
        R+FGSM-trained models (FGSM). Black-box above white-box flags gradient masking.
Several seeds: cells are means; `_long.csv` keeps every seed.

`table2_long.csv`, `table3_long.csv`, `table4_long.csv` share one raw schema, one row per
(model, defense, attack, eps, white/black-box), the clean accuracy as attack `clean`:
    method    config method name (vanilla, dq)
    beta      DQ's regularization weight at full precision (0.0 for vanilla)
    act       activation function (relu6, relu1, tanh)
    act_bits  activation bits, integer; empty for full precision
    adv       adversarial training attack (fgsm, rfgsm, pgd), none without
    defense   inference-time defense (none, fs: feature squeezing)
    seed      training seed
    attack    attack name (random, fgsm, rfgsm, pgd, ...); clean for the clean accuracy
    eps       attack eps at full precision (0.0 for clean)
    blackbox  True for transfer from the substitute model
    acc       accuracy (%) at full precision
Labels ("Adversarial PGD + DQ", "R+FGSM", "(B)") exist only in the tables.
"""
from __future__ import annotations

import pandas as pd

from qrobust import _io
from qrobust.tables._base import register_table, write_table_files

ATTACK_LABEL = {"random": "Random", "fgsm": "FGSM", "rfgsm": "R+FGSM", "bim": "BIM", "pgd": "PGD", "square": "Square"}
ADV_LABEL = {"none": "Normal", "fgsm": "Adversarial FGSM", "rfgsm": "Adversarial R+FGSM", "pgd": "Adversarial PGD"}
LONG_COLUMNS = ["method", "beta", "act", "act_bits", "adv", "defense", "seed", "attack", "eps", "blackbox", "acc"]
INT_COLS = ("act_bits",)  # written as integers, empty for full precision


def long_frame(records: list[dict]) -> pd.DataFrame:
    rows = []
    for r in records:
        run = r["run"]
        base = {"method": run["method"], "beta": float(run["beta"]), "act": run.get("act"), "act_bits": run["act_bits"],
                "adv": run.get("adv") or "none", "defense": r["defense"], "seed": run["seed"]}
        rows.append({**base, "attack": "clean", "eps": 0.0, "blackbox": False, "acc": r["clean_acc"]})
        rows += [{**base, "attack": c["attack"], "eps": c["eps"], "blackbox": c["blackbox"], "acc": c["acc"]}
                 for c in r["results"]]
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def _col(attack: str, blackbox: bool) -> str:
    return ATTACK_LABEL.get(attack, attack) + ("(B)" if blackbox else "")


def _technique(row) -> str:
    label = "Feature Squeezing" if row["defense"] == "fs" else ADV_LABEL[row["adv"]]
    return label + (" + DQ" if row["method"] == "dq" else "")


def build_table2(records: list[dict], out_csv) -> tuple[pd.DataFrame, list]:
    long = long_frame(records)
    long["technique"] = long.apply(_technique, axis=1)
    eps = sorted(long.loc[long.attack != "clean", "eps"].unique())
    mean = long.groupby(["technique", "attack", "blackbox", "eps"]).acc.mean()
    cols = [(a, b) for b in (False, True) for a in dict.fromkeys(long.loc[long.blackbox == b, "attack"]) if a != "clean"]
    rows = []
    for tech in dict.fromkeys(long.technique):
        row = {"Training Technique": tech, "Clean": mean[(tech, "clean", False, 0.0)]}
        for a, b in cols:
            row[_col(a, b)] = "/".join(f"{mean[(tech, a, b, e)]:.0f}" for e in eps)
        rows.append(row)
    table = pd.DataFrame(rows)
    eps_txt = ", ".join(f"{e:.4g}" for e in eps)
    files = write_table_files(table, long.drop(columns="technique"), out_csv,
                   f"Table 2: accuracy (%) under attack, cells a/b/c at eps = {eps_txt}; (B): black-box transfer from "
                   f"a separately trained substitute; mean over {long.seed.nunique()} seed(s)", INT_COLS)
    return table, files


def build_table3(records: list[dict], out_csv) -> tuple[pd.DataFrame, list]:
    long = long_frame(records)
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
                         f"FGSM (eps {mid:.3g})": mean[(act, method, "fgsm", False, mid)]})
    table = pd.DataFrame(rows)
    return table, write_table_files(table, long, out_csv, "Table 3: ReLU6 vs ReLU1 with k-bit activations, vanilla vs DQ: "
                                               f"accuracy (%), mean over {long.seed.nunique()} seed(s)", INT_COLS)


def build_table4(records: list[dict], out_csv) -> tuple[pd.DataFrame, list]:
    long = long_frame(records)
    rows = []
    for (adv, act, bits), sub in long.groupby(["adv", "act", "act_bits"], dropna=False, sort=False):
        attack = "pgd" if adv == "pgd" else "fgsm"
        eps = sorted(sub.loc[sub.attack == attack, "eps"].unique())
        mid = eps[len(eps) // 2]
        m = sub.groupby(["attack", "blackbox", "eps"]).acc.mean()
        white, black = m[(attack, False, mid)], m[(attack, True, mid)]
        quant = "full precision" if pd.isna(bits) else f"{int(bits)}-bit {act}"
        rows.append({"Training": ADV_LABEL[adv], "Model": quant, "Attack": f"{ATTACK_LABEL[attack]} (eps {mid:.3g})",
                     "Clean": m[("clean", False, 0.0)], "White-Box": white, "Black-Box": black,
                     "Gradient masking": "yes" if black < white else "no"})
    table = pd.DataFrame(rows)
    return table, write_table_files(table, long, out_csv, "Table 4: gradient-masking check: black-box accuracy above white-box "
                                               f"accuracy means the white-box attack was masked; mean over {long.seed.nunique()} seed(s)", INT_COLS)


@register_table("table2")
def table2(paths, out_csv, cfg):
    return build_table2([_io.read_json(p) for p in paths], out_csv)


@register_table("table3")
def table3(paths, out_csv, cfg):
    return build_table3([_io.read_json(p) for p in paths], out_csv)


@register_table("table4")
def table4(paths, out_csv, cfg):
    return build_table4([_io.read_json(p) for p in paths], out_csv)
