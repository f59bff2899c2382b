"""Table 8: Qu-ANTI-zation (Hong et al., NeurIPS 2021): float accuracy and accuracy at each
bit-width for the clean model and each attacked one (indiscriminate, targeted, backdoor), with the
attack's own quantizer (per-layer symmetric weights, asymmetric activations, round to nearest) and,
what none of the papers checked, with other quantizers: per-channel weights, floor or stochastic
rounding, PTQ with calibration (BN folded). Backdoor rows add the attack success rate (ASR) on
triggered inputs, targeted rows the share of source-class inputs sent to the target. Mean over seeds; `_long.csv` has every number.

`table8_long.csv`, one row per (model, quantizer variant, bits, seed, metric), raw values:
    model          clean, indiscriminate, targeted or backdoor
    variant        the quantizer it was evaluated with (attack quantizer, per_channel, PTQ mse, ...)
    bits           bit-width, integer; empty for float (unquantized)
    seed           seed
    metric         accuracy, asr (backdoor attack success rate) or tsr (source -> target rate)
    value          the metric (%) at full precision
    attacked_bits  True at the bit-widths the attack targeted
    images         the test images measured (evaluation/images.encode; accuracy rows only)
    correct        per image of `images`: "1" classified correctly, "0" not (accuracy rows only)
Labels ("Float", "8-bit", "acc.") exist only in the table.
"""
from __future__ import annotations

import pandas as pd

from qrobust.runtime import atomic
from qrobust.tables._base import register_table, write_table_files
from qrobust.tables.intervals import outcome_columns

MODEL_ORDER = ["clean", "indiscriminate", "targeted", "backdoor"]
LONG_COLUMNS = ["model", "variant", "bits", "seed", "metric", "value", "attacked_bits", "images", "correct"]
CI_KEYS = ["model", "variant", "bits", "metric"]


def long_frame(records: list[dict]) -> pd.DataFrame:
    rows = []
    for r in records:
        attacked = {str(b) for b in r.get("attack_bits", [])}
        for variant, res in r["variants"].items():
            for metric in ("accuracy", "asr", "tsr"):
                for bits, v in (res.get(metric) or {}).items():
                    ok = (res.get("correct") or {}).get(bits) if metric == "accuracy" else None
                    rows.append({"model": r["model"], "variant": variant, "bits": None if bits == "float" else int(bits),
                                 "seed": r["seed"], "metric": metric, "value": v, "attacked_bits": bits in attacked,
                                 **outcome_columns(r.get("images", ""), ok)})
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def bits_key(bits) -> str:
    """The metrics files' key for a bit-width: float, or the integer as text."""
    return "float" if bits is None or pd.isna(bits) else str(int(bits))


def build(records: list[dict], out_csv) -> tuple[pd.DataFrame, list]:
    raw = long_frame(records)
    long = raw.assign(bits=[bits_key(b) for b in raw.bits])
    # float first, then high to low bit-width, as the paper's columns
    bits = sorted(set(long.bits), key=lambda b: -1000 if b == "float" else -int(b))
    mean = long.groupby(["model", "variant", "metric", "bits"], sort=False).value.mean()
    rows = []
    models = [m for m in MODEL_ORDER if m in set(long.model)]
    for model in models:
        for variant in dict.fromkeys(long.loc[long.model == model, "variant"]):
            for metric in ("accuracy", "asr", "tsr"):
                if (model, variant, metric, bits[0]) not in mean:
                    continue
                label = {"accuracy": "acc.", "asr": "backdoor ASR", "tsr": "source -> target"}[metric]
                row = {"Model": model, "Quantizer": variant, "Metric": label}
                for b in bits:
                    row["Float" if b == "float" else f"{b}-bit"] = mean.get((model, variant, metric, b))
                rows.append(row)
    table = pd.DataFrame(rows)
    files = write_table_files(table, raw, out_csv, "Table 8: accuracy (%) in float and at each bit-width, clean vs Qu-ANTI-zation-attacked "
                                    "models, with the attack's quantizer and with others (backdoor: attack success rate on "
                                    f"triggered inputs); mean over {long.seed.nunique()} seed(s)", ("bits",), ci_keys=CI_KEYS)
    return table, files


@register_table("table8")
def from_files(paths, out_csv, cfg):
    return build([atomic.read_json(p) for p in paths], out_csv)
