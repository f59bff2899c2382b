"""The quantizer suite at a glance: every PTQ/QAT scheme of the config at every W/A bit pair,
clean and attacked accuracy, beside the float model it starts from (mean over seeds; `_long.csv`
has every seed). The material of Li et al. 2024 (Table 7) and OHQ's uniform baselines.

`quantizers_long.csv`, one row per (scheme, bits, seed, metric), raw values:
    scheme                 quantize-suite scheme name (ptq-mse, qat-pact, ...); float for the float model
    mode                   ptq or qat; empty for the float model
    weight_bits, act_bits  integers; empty for the float model
    weight_quantizer, weight_calibrator, weight_per_channel, weight_symmetric
    act_quantizer, act_calibrator, act_per_channel, act_symmetric
                           the scheme's quantizer config (uniform, pact, ...; minmax, mse, ...; True/False);
                           empty where that tensor is not quantized
    seed                   seed
    metric                 clean or adv
    value                  accuracy (%) at full precision
    attack, eps            attack name and eps
Labels ("W4A4", "W32A32", "uniform mse per-channel symmetric", "PTQ") exist only in the table.
"""
from __future__ import annotations

import pandas as pd

from qrobust.runtime import atomic
from qrobust.tables._base import register_table, wa_bits_label, write_table_files

QUANT_KEYS = ("quantizer", "calibrator", "per_channel", "symmetric")
LONG_COLUMNS = (["scheme", "mode", "weight_bits", "act_bits"] + [f"{t}_{k}" for t in ("weight", "act") for k in QUANT_KEYS]
                + ["seed", "metric", "value", "attack", "eps"])
INT_COLS = ("weight_bits", "act_bits")  # integers, empty for the float model


def _describe(row, tensor: str) -> str:
    """uniform mse per-channel symmetric; float when the tensor is not quantized."""
    q = {k: getattr(row, f"{tensor}_{k}") for k in QUANT_KEYS}
    if pd.isna(q["quantizer"]):
        return "float"
    parts = [q["quantizer"], q["calibrator"]]
    parts += ["per-channel"] if q["per_channel"] else []
    parts += ["symmetric" if q["symmetric"] else "asymmetric"]
    return " ".join(parts)


def _quant(q: dict | None, tensor: str) -> dict:
    return {f"{tensor}_{k}": (q.get(k) if q else None) for k in QUANT_KEYS}


def long_frame(metrics: list[dict]) -> pd.DataFrame:
    rows = []
    for m in metrics:
        run = m["run"]
        if "scheme" in run:
            base = {"scheme": run["scheme"], "mode": run["mode"], "weight_bits": run["weight_bits"], "act_bits": run["act_bits"],
                    **_quant(run["quant"]["weight_quant"], "weight"), **_quant(run["quant"]["act_quant"], "act")}
        else:
            base = {"scheme": "float", "mode": None, "weight_bits": None, "act_bits": None,
                    **_quant(None, "weight"), **_quant(None, "act")}
        for metric, key in (("clean", "clean_acc"), ("adv", "adv_acc")):
            rows.append({**base, "seed": run["seed"], "metric": metric, "value": m[key],
                         "attack": m["attack"]["name"], "eps": m["attack"].get("eps")})
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def labelled(long: pd.DataFrame) -> pd.DataFrame:
    """The long frame with the table's labels: bits as W?A?, mode text, quantizers described."""
    return long.assign(bits=[wa_bits_label(w, a) for w, a in zip(long.weight_bits, long.act_bits)],
                       mode=long["mode"].fillna(""), weight=[_describe(r, "weight") for r in long.itertuples()],
                       act=[_describe(r, "act") for r in long.itertuples()])


def build(metrics: list[dict], out_csv) -> tuple[pd.DataFrame, list]:
    raw = long_frame(metrics)
    long = labelled(raw)
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
    files = write_table_files(table, raw, out_csv, f"Quantizer suite: clean and {atk.upper()} (eps={long.eps.iloc[0]:.4g}) accuracy (%), "
                                    f"mean over {long.seed.nunique()} seed(s)", INT_COLS)
    return table, files


@register_table("quantizers")
def from_files(paths: list[str], out_csv, cfg: dict) -> tuple[pd.DataFrame, list]:
    return build([atomic.read_json(p) for p in paths], out_csv)
