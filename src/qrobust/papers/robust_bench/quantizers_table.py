"""The quantizer suite at a glance: every PTQ/QAT scheme of the config at every W/A bit pair,
clean and attacked accuracy, beside the float model it starts from (mean over seeds; `_long.csv`
has every seed). The material of Li et al. 2024 (Table 7) and OHQ's uniform baselines."""
from __future__ import annotations

import pandas as pd

from qrobust import _io
from qrobust.tables._base import register_table, write_table_files


def _describe(q: dict | None) -> str:
    if not q:
        return "float"
    parts = [q["quantizer"], q["calibrator"]]
    parts += ["per-channel"] if q["per_channel"] else []
    parts += ["symmetric" if q["symmetric"] else "asymmetric"]
    return " ".join(parts)


def long_frame(metrics: list[dict]) -> pd.DataFrame:
    rows = []
    for m in metrics:
        run = m["run"]
        if "scheme" in run:
            base = {"scheme": run["scheme"], "mode": run["mode"], "bits": f"W{run['weight_bits']}A{run['act_bits']}",
                    "weight": _describe(run["quant"]["weight_quant"]), "act": _describe(run["quant"]["act_quant"])}
        else:
            base = {"scheme": "float", "mode": "", "bits": "W32A32", "weight": "float", "act": "float"}
        for metric, key in (("clean", "clean_acc"), ("adv", "adv_acc")):
            rows.append({**base, "seed": run["seed"], "metric": metric, "value": m[key],
                         "attack": m["attack"]["name"], "eps": m["attack"].get("eps")})
    return pd.DataFrame(rows)


def build(metrics: list[dict], out_csv) -> tuple[pd.DataFrame, list]:
    long = long_frame(metrics)
    order = list(dict.fromkeys(long.scheme))
    bits = [b for b in dict.fromkeys(long.bits) if b != "W32A32"]
    mean = long.groupby(["scheme", "bits", "metric"]).value.mean()
    rows = []
    for s in order:
        info = long[long.scheme == s].iloc[0]
        row = {"Scheme": s, "Mode": info["mode"].upper(), "Weights": info["weight"], "Activations": info["act"]}
        for b in (["W32A32"] if s == "float" else bits):
            for metric, label in (("clean", "clean"), ("adv", "adv.")):
                row[f"{b} {label}"] = mean.get((s, b, metric))
        rows.append(row)
    table = pd.DataFrame(rows)
    atk = long.attack.iloc[0]
    files = write_table_files(table, long, out_csv, f"Quantizer suite: clean and {atk.upper()} (eps={long.eps.iloc[0]:.4g}) accuracy (%), "
                                    f"mean over {long.seed.nunique()} seed(s)")
    return table, files


@register_table("quantizers")
def from_files(paths: list[str], out_csv, cfg: dict) -> tuple[pd.DataFrame, list]:
    return build([_io.read_json(p) for p in paths], out_csv)
