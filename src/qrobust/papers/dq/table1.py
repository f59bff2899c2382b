"""Table 1 of Defensive Quantization (Lin et al., ICLR 2019): clean and FGSM accuracy vs activation bits.

Rows: each method with a clean and an adv. (the paper's FGSM) row, and, when the worst-case
evaluations are passed, a worst-case row: robust accuracy as the per-example worst case over the
worst_case ensemble (evaluation/worst_case.py; on each seed's own sample of n test images, at its eps). Columns:
Full Prec., one per bit-width, then Quantize Gain (best quantized minus full precision) and Best
Acc. (max over all), on adv. and worst-case rows, as the paper has them for adv. Several seeds: the
table holds the mean, a companion `_std.csv` the standard deviation (ddof=1; blank with one seed), and
`_ci.csv` each cell's 95 % interval over seeds and test images (tables/intervals.py; the Markdown and
LaTeX show "mean ± half-width").

`table1_long.csv`, one row per (method, beta, act_bits, seed, metric), raw values:
    method    config method name (vanilla, dq)
    beta      DQ's regularization weight at full precision (0.0 for vanilla)
    act_bits  activation bits, integer; empty for full precision
    seed      training seed
    metric    clean, adv (the config's attack) or worst (worst-case over the ensemble)
    value     accuracy (%) at full precision
    attack    attack name (fgsm); worst-case for the worst rows
    eps       attack eps
    n_test    number of test images (the worst rows: the images the ensemble attacked)
    masking   the gradient-masking audit's flagged checks, ";"-joined (worst rows; empty elsewhere)
    images    the test images measured (evaluation/images.encode: every one for clean and adv, the seed's
              own sample for worst)
    correct   per image of `images`: "1" classified correctly (robust, for adv and worst), "0" not
Labels ("Vanilla", "DQ (1e-3)", "Full Prec.") exist only in the table, its Markdown/LaTeX/JSON.
"""
from __future__ import annotations

import math

import pandas as pd

from qrobust.runtime import atomic
from qrobust.tables._base import register_table, sibling, write_csv, write_latex, write_long_csv, write_markdown
from qrobust.tables.intervals import ci_frame, outcome_columns, plus_minus
from qrobust.tables.worst import split

FP = "Full Prec."


def method_label(name: str, beta: float) -> str:
    if name == "vanilla":
        return "Vanilla"
    mant, exp = f"{beta:e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"DQ ({mant}e{int(exp)})"


def bits_label(bits) -> str:
    return FP if bits is None or pd.isna(bits) else str(int(bits))


LONG_COLUMNS = ["method", "beta", "act_bits", "seed", "metric", "value", "attack", "eps", "n_test", "masking", "images",
                "correct"]
METRIC_LABEL = {"clean": "clean", "adv": "adv.", "worst": "worst-case"}


def long_frame(metrics: list[dict], worst: list[dict] = ()) -> pd.DataFrame:
    """One row per (method, beta, act_bits, seed, metric) from the evaluation JSONs (clean, adv) and the
    worst-case JSONs (worst): raw values."""
    rows = []
    for m in metrics:
        run = m["run"]
        for metric, key in (("clean", "clean_acc"), ("adv", "adv_acc")):
            rows.append({"method": run["method"], "beta": float(run["beta"]), "act_bits": run["act_bits"],
                         "seed": run["seed"], "metric": metric, "value": m[key], "attack": m["attack"]["name"],
                         "eps": m["attack"]["eps"], "n_test": m["n"], "masking": "",
                         **outcome_columns(m.get("images", ""), (m.get("correct") or {}).get(metric))})
    for w in worst:
        run = w["run"]
        rows.append({"method": run["method"], "beta": float(run["beta"]), "act_bits": run["act_bits"],
                     "seed": run["seed"], "metric": "worst", "value": w["worst_acc"], "attack": "worst-case",
                     "eps": w["eps"], "n_test": w["n"], "masking": ";".join(w["audit"]["flags"]),
                     **outcome_columns(w.get("images", ""), w.get("worst_correct"))})
    df = pd.DataFrame(rows, columns=LONG_COLUMNS)
    # full precision first, then by bit-width
    return df.sort_values(["beta", "method", "act_bits", "seed", "metric"], kind="stable",
                          na_position="first").reset_index(drop=True)


def labelled(long: pd.DataFrame) -> pd.DataFrame:
    """The long frame with the table's labels in place of the raw method/beta and act_bits."""
    return long.assign(method=[method_label(n, b) for n, b in zip(long.method, long.beta)],
                       act_bits=[bits_label(b) for b in long.act_bits])


def wide(df: pd.DataFrame, agg: str, methods: list[str], bit_cols: list[str]) -> pd.DataFrame:
    g = df.groupby(["method", "metric", "act_bits"])["value"]
    stat = g.mean() if agg == "mean" else g.std(ddof=1)  # NaN (a blank cell) with one seed
    metrics = [m for m in METRIC_LABEL if m in set(df.metric)]
    out = []
    for method in methods:
        for metric in metrics:
            shown = METRIC_LABEL[metric]
            row = {"Method": method, "Acc.": shown}
            for b in bit_cols:
                row[b] = stat.get((method, metric, b), math.nan)
            out.append(row)
    return pd.DataFrame(out, columns=["Method", "Acc."] + bit_cols)


def per_seed_gain(long: pd.DataFrame, bit_cols: list[str], metric: str = "adv") -> pd.DataFrame:
    """Gain and best per seed, then averaged, so the std companion can report their spread too."""
    quant_cols = [b for b in bit_cols if b != FP]
    adv = long[long.metric == metric].pivot_table(index=["method", "seed"], columns="act_bits", values="value")
    per_seed = pd.DataFrame(index=adv.index)
    per_seed["Quantize Gain"] = (adv[quant_cols].max(axis=1) - adv[FP]) if (quant_cols and FP in adv) else math.nan
    per_seed["Best Acc."] = adv[[c for c in bit_cols if c in adv]].max(axis=1)
    return per_seed


@register_table("table1")
def from_files(paths: list[str], out_csv, cfg: dict) -> tuple[pd.DataFrame, list]:
    evals, worst = split(paths)
    return build(load_metrics(evals), out_csv, act_bits=cfg["act_bits"], methods=cfg["methods"],
                 worst=load_metrics(worst))


def build(metrics: list[dict], out_csv, act_bits: list, methods: list[dict],
          worst: list[dict] = ()) -> tuple[pd.DataFrame, list]:
    """Write the table and its companions; return the mean table and every file written."""
    raw = long_frame(metrics, worst)
    long = labelled(raw)
    bit_cols = [bits_label(b) for b in sorted(act_bits, key=lambda b: -1 if b is None else b)]
    labels = [method_label(m["name"], m["beta"]) for m in methods]
    for metric, what in (("adv", "evaluation"), ("worst", "worst-case evaluation")):
        if metric == "worst" and not worst:
            continue
        sub = long[long.metric == metric]
        missing = {(lab, b) for lab in labels for b in bit_cols} - set(zip(sub.method, sub.act_bits))
        if missing:
            lab, b = sorted(missing)[0]
            raise ValueError(f"table1: no {what} for {lab} at {b} bits; pass every metrics file of the config")
    gains = {METRIC_LABEL[m]: per_seed_gain(long, bit_cols, m) for m in ("adv", "worst") if m in set(long.metric)}
    tables = {}
    for agg in ("mean", "std"):
        t = wide(long, agg, labels, bit_cols)
        reduce = agg if agg == "mean" else (lambda s: s.std(ddof=1) if len(s) > 1 else math.nan)
        g = {shown: gain.groupby(level="method").agg(reduce) for shown, gain in gains.items()}
        for col in ("Quantize Gain", "Best Acc."):
            t[col] = [g[shown].loc[m, col] if shown in g else math.nan for m, shown in zip(t["Method"], t["Acc."])]
        tables[agg] = t
    files = [out_csv] + [sibling(out_csv, s) for s in ("_std.csv", "_long.csv", ".md", ".tex", ".json", "_ci.csv")]
    write_csv(tables["mean"], files[0])
    write_csv(tables["std"], files[1])
    write_long_csv(raw, files[2], int_cols=("act_bits",))
    ci = ci_frame(long, ["method", "metric", "act_bits"])
    write_long_csv(ci.assign(metric=ci.metric.map(METRIC_LABEL)).rename(
        columns={"method": "Method", "metric": "Acc.", "act_bits": "Bits"}), files[6])
    shown = with_intervals(tables["mean"], ci, bit_cols)
    n_seeds = long.seed.nunique()
    adv = long[long.metric == "adv"]
    eps = adv.eps.iloc[0]
    title = (f"Table 1: clean and {adv.attack.iloc[0].upper()} (eps={eps:.4g}) accuracy (%) vs activation bits, "
             f"mean over {n_seeds} seed(s)")
    w = long[long.metric == "worst"]
    if len(w):
        title += (f"; worst-case: per-example worst case over the attack ensemble at eps={w.eps.iloc[0]:.4g} "
                  f"on {int(w.n_test.iloc[0])} test images per seed, each seed its own sample (masking audit: masking.csv)")
    if ci["half_width"].notna().any():
        title += "; ± the half-width of the 95 % interval over seeds and test images"
    write_markdown(shown, files[3], title)
    write_latex(shown, files[4], title)
    atomic.write_json(files[5], flat_metrics(tables["mean"]))
    return tables["mean"], files


def with_intervals(table: pd.DataFrame, ci: pd.DataFrame, bit_cols: list[str]) -> pd.DataFrame:
    """The mean table with each accuracy cell as "mean ± half-width" (Quantize Gain and Best Acc., picked
    by a maximum, stay plain numbers)."""
    half = {(r.method, METRIC_LABEL[r.metric], r.act_bits): r.half_width for r in ci.itertuples()}
    out = table.astype(object)
    for i, row in table.iterrows():
        for b in bit_cols:
            out.at[i, b] = plus_minus(row[b], half.get((row["Method"], row["Acc."], b)))
    return out


def flat_metrics(table: pd.DataFrame) -> dict:
    """{"Vanilla": {"adv": {"Full Prec.": 66.5, ...}}, ...}: what `dvc metrics show` lists."""
    out: dict = {}
    names = {v: k for k, v in METRIC_LABEL.items()}
    for _, row in table.iterrows():
        metric = names[row["Acc."]]
        cells = {c: round(float(v), 2) for c, v in row.items() if c not in ("Method", "Acc.") and pd.notna(v)}
        out.setdefault(row["Method"], {})[metric] = cells
    return out


def load_metrics(paths) -> list[dict]:
    return [atomic.read_json(p) for p in paths]
