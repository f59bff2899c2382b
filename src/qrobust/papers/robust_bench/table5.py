"""Table 5: robustness of quantized models to attacks, natural corruptions and system noises
(Benchmarking the Robustness of Quantized Models, Xiao, Liu et al. 2023; SysNoise, Wang et al. 2023).

One row per model: the float model and every quantize-suite scheme at every W/A bit pair.
Columns: clean and attacked accuracy; mCA, the mean corruption accuracy over every corruption and
severity; each corruption (mean over its severities); each system-noise variant (data side:
decoders, resize modes, colour conversion; model side: ceil_mode pooling, FP16, BF16, INT8
kernels). `_long.csv` has every (model, seed, noise, level) number.
"""
from __future__ import annotations

import pandas as pd

from qrobust import _io
from qrobust.tables._base import register_table, write_table_files


def _model(run: dict) -> tuple[str, str]:
    if "scheme" in run:
        return run["scheme"], f"W{run['weight_bits']}A{run['act_bits']}"
    return "float", "W32A32"


def long_frame(noise: list[dict], evals: list[dict]) -> pd.DataFrame:
    rows = []
    for r in noise:
        model, bits = _model(r["run"])
        ref = {k: str(v) for k, v in r.get("reference", {}).items()}
        base = {"model": model, "bits": bits, "seed": r["run"]["seed"], "reference": False}
        rows.append({**base, "family": "clean", "noise": "clean", "level": "", "acc": r["clean_acc"]})
        for fam in ("corruption", "system"):
            for name, levels in r[fam].items():
                rows += [{**base, "family": fam, "noise": name, "level": str(lvl), "acc": acc,
                          "reference": ref.get(name) == str(lvl)} for lvl, acc in levels.items()]
        rows += [{**base, "family": "model_side", "noise": name, "level": "", "acc": acc}
                 for name, acc in r["model_side"].items() if acc is not None]
    for e in evals:
        model, bits = _model(e["run"])
        rows.append({"model": model, "bits": bits, "seed": e["run"]["seed"], "family": "adversarial", "reference": False,
                     "noise": e["attack"]["name"], "level": str(e["attack"].get("eps")), "acc": e["adv_acc"]})
    return pd.DataFrame(rows)


def build(noise: list[dict], evals: list[dict], out_csv) -> tuple[pd.DataFrame, list]:
    long = long_frame(noise, evals)
    keyed = long.groupby(["model", "bits", "family", "noise", "level", "reference"], sort=False).acc.mean().reset_index()
    rows = []
    for (model, bits), sub in keyed.groupby(["model", "bits"], sort=False):
        row = {"Model": model, "Bits": bits, "Clean": sub.loc[sub.family == "clean", "acc"].iloc[0]}
        adv = sub[sub.family == "adversarial"]
        for _, a in adv.iterrows():
            row[f"{a.noise.upper()} (eps {float(a.level):.3g})"] = a.acc
        cor = sub[sub.family == "corruption"]
        row["mCA"] = cor.acc.mean() if len(cor) else None
        for name, c in cor.groupby("noise", sort=False):
            row[name] = c.acc.mean()
        for _, s in sub[sub.family == "system"].iterrows():
            # the reference variant is the training pipeline: its accuracy is the baseline of the others
            row[f"{s.noise}:{s.level}" + (" (ref)" if s.reference else "")] = s.acc
        for _, s in sub[sub.family == "model_side"].iterrows():
            row[s.noise] = s.acc
        rows.append(row)
    table = pd.DataFrame(rows)
    files = write_table_files(table, long, out_csv, "Table 5: accuracy (%) of each model under attack, natural corruptions (mCA: mean over "
                                    "corruptions and severities; per corruption: mean over severities) and system noises; "
                                    f"mean over {long.seed.nunique()} seed(s)")
    return table, files


@register_table("table5")
def from_files(paths, out_csv, cfg):
    blobs = [_io.read_json(p) for p in paths]
    noise = [b for b in blobs if "corruption" in b]
    evals = [b for b in blobs if "adv_acc" in b]
    return build(noise, evals, out_csv)
