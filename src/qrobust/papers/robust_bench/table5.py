"""Table 5: robustness of quantized models to attacks, natural corruptions and system noises
(Benchmarking the Robustness of Quantized Models, Xiao, Liu et al. 2023; SysNoise, Wang et al. 2023).

One row per model: the float model and every quantize-suite scheme at every W/A bit pair.
Columns: clean and attacked accuracy; mCA, the mean corruption accuracy over every corruption and
severity; each corruption (mean over its severities); each system-noise variant (data side:
decoders, resize modes, colour conversion; model side: ceil_mode pooling, FP16, BF16, INT8
kernels); when the worst-case evaluations are passed, robust accuracy as the per-example worst
case over the worst_case ensemble (evaluation/worst_case.py; on each seed's own sample of test images).
`_long.csv` has every (model, seed, noise, level) number.

`table5_long.csv`, one row per (model, seed, family, noise, severity/variant/eps), raw values:
    model        quantize-suite scheme name (ptq-mse, qat-pact, ...); float for the float model
    weight_bits  weight bits, integer; empty for the float model
    act_bits     activation bits, integer; empty for the float model
    seed         seed
    family       clean, corruption, system (data-side system noise), model_side, adversarial, worst
    noise        corruption / system-noise / model-side noise / attack name (clean for clean,
                 worst-case for the worst rows)
    severity     corruption severity, integer; empty otherwise
    variant      system-noise variant (pil-bilinear, cv2-nearest, ...); empty otherwise
    eps          attack eps; empty otherwise
    reference    True for the system-noise variant the model was trained with
    acc          accuracy (%) at full precision
    masking      the gradient-masking audit's flagged checks, ";"-joined (worst rows; empty elsewhere)
    images       the test images measured (evaluation/images.encode: every one, the seed's own sample for the
                 worst case)
    correct      per image of `images`: "1" classified correctly, "0" not
Labels ("W4A4", "W32A32", "FGSM (eps 0.1)", "resize:pil-bilinear (ref)") exist only in the table.
"""
from __future__ import annotations

import pandas as pd

from qrobust.runtime import atomic
from qrobust.tables._base import register_table, wa_bits_label, write_table_files
from qrobust.tables.intervals import outcome_columns
from qrobust.tables.worst import attach, flags, load_worst, split

LONG_COLUMNS = ["model", "weight_bits", "act_bits", "seed", "family", "noise", "severity", "variant", "eps",
                "reference", "acc", "masking", "images", "correct"]
CI_KEYS = ["model", "weight_bits", "act_bits", "family", "noise", "severity", "variant", "eps"]
INT_COLS = ("weight_bits", "act_bits", "severity")  # integers, empty where they do not apply


def _model(run: dict) -> dict:
    if "scheme" in run:
        return {"model": run["scheme"], "weight_bits": run["weight_bits"], "act_bits": run["act_bits"]}
    return {"model": "float", "weight_bits": None, "act_bits": None}


def long_frame(noise: list[dict], evals: list[dict], worst=()) -> pd.DataFrame:
    """Rows from the noise_eval JSONs, the evaluate JSONs and (optional) the worst_case JSONs of the
    same models: raw values."""
    rows = []
    empty = {"severity": None, "variant": None, "eps": None, "masking": ""}
    for r in noise:
        ref = {k: str(v) for k, v in r.get("reference", {}).items()}
        base = {**_model(r["run"]), "seed": r["run"]["seed"], **empty, "reference": False}
        ok = r.get("correct") or {}

        def per_image(key, r=r, ok=ok):
            return outcome_columns(r.get("images", ""), ok.get(key))
        rows.append({**base, "family": "clean", "noise": "clean", "acc": r["clean_acc"], **per_image("clean")})
        rows += [{**base, "family": "corruption", "noise": name, "severity": int(lvl), "acc": acc,
                  **per_image(f"corruption/{name}/{lvl}")}
                 for name, levels in r["corruption"].items() for lvl, acc in levels.items()]
        rows += [{**base, "family": "system", "noise": name, "variant": str(lvl), "acc": acc,
                  "reference": ref.get(name) == str(lvl), **per_image(f"system/{name}/{lvl}")}
                 for name, levels in r["system"].items() for lvl, acc in levels.items()]
        rows += [{**base, "family": "model_side", "noise": name, "acc": acc, **per_image(f"model_side/{name}")}
                 for name, acc in r["model_side"].items() if acc is not None]
    for e, w in attach(evals, worst, "table5"):
        rows.append({**_model(e["run"]), "seed": e["run"]["seed"], **empty, "family": "adversarial", "reference": False,
                     "noise": e["attack"]["name"], "eps": e["attack"].get("eps"), "acc": e["adv_acc"],
                     **outcome_columns(e.get("images", ""), (e.get("correct") or {}).get("adv"))})
        if w is not None:
            rows.append({**_model(w["run"]), "seed": w["run"]["seed"], **empty, "family": "worst", "reference": False,
                         "noise": "worst-case", "eps": w["eps"], "acc": w["worst_acc"], "masking": flags(w),
                         **outcome_columns(w.get("images", ""), w.get("worst_correct"))})
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def _level(row) -> str:
    """One text per noise level, as the table's column names use it."""
    if row.family == "corruption":
        return str(int(row.severity))
    if row.family == "system":
        return row.variant
    return str(row.eps) if row.family in ("adversarial", "worst") else ""


def labelled(long: pd.DataFrame) -> pd.DataFrame:
    """The long frame with the table's labels: bits as W?A?, one `level` text per noise level."""
    return long.assign(bits=[wa_bits_label(w, a) for w, a in zip(long.weight_bits, long.act_bits)],
                       level=[_level(r) for r in long.itertuples()])


def build(noise: list[dict], evals: list[dict], out_csv, worst=()) -> tuple[pd.DataFrame, list]:
    raw = long_frame(noise, evals, worst)
    long = labelled(raw)
    keyed = long.groupby(["model", "bits", "family", "noise", "level", "reference"], sort=False).acc.mean().reset_index()
    rows = []
    for (model, bits), sub in keyed.groupby(["model", "bits"], sort=False):
        row = {"Model": model, "Bits": bits, "Clean": sub.loc[sub.family == "clean", "acc"].iloc[0]}
        adv = sub[sub.family == "adversarial"]
        for _, a in adv.iterrows():
            row[f"{a.noise.upper()} (eps {float(a.level):.3g})"] = a.acc
        for _, a in sub[sub.family == "worst"].iterrows():
            row[f"Worst case (eps {float(a.level):.3g})"] = a.acc
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
    title = ("Table 5: accuracy (%) of each model under attack, natural corruptions (mCA: mean over "
             "corruptions and severities; per corruption: mean over severities) and system noises; "
             f"mean over {long.seed.nunique()} seed(s)")
    w = long[long.family == "worst"]
    if len(w):
        title += (f"; worst case: per-example worst case over the attack ensemble on the first {int(worst[0]['n'])} "
                  "test images (results/masking.csv audits it)")
    files = write_table_files(table, raw, out_csv, title, INT_COLS, ci_keys=CI_KEYS)
    return table, files


@register_table("table5")
def from_files(paths, out_csv, cfg):
    paths, worst = split(paths)
    blobs = [atomic.read_json(p) for p in paths]
    noise = [b for b in blobs if "corruption" in b]
    evals = [b for b in blobs if "adv_acc" in b]
    return build(noise, evals, out_csv, worst=list(load_worst(worst).values()))
