"""DQ's figures: error amplification (Figure 3) and the beta sweep (Figure 6)."""
from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from qrobust.figures._base import register_figure, save
from qrobust.tables._base import read_long
from qrobust.tables.intervals import ci_frame


def _bits(run: dict) -> str:
    return "FP" if run["act_bits"] is None else f"{run['act_bits']}-bit"


@register_figure("fig3")
def amplification(json_path, out_png) -> None:
    """(a) normalized distance at the last layer's input vs eps; (b) per layer at the largest eps."""
    data = json.loads(open(json_path).read())
    rows = []
    for m in data["models"]:
        for eps, dists in zip(m["eps"], m["distance"]):
            rows += [{"bits": _bits(m["run"]), "eps": eps, "layer": i + 1, "distance": d} for i, d in enumerate(dists)]
    df = pd.DataFrame(rows)
    order = ["FP"] + sorted({b for b in df.bits if b != "FP"}, key=lambda b: int(b.split("-")[0]))
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    last = df[df.layer == df.layer.max()]
    sns.lineplot(data=last, x="eps", y="distance", hue="bits", hue_order=order, marker="o", ax=axes[0])
    axes[0].set(xlabel="eps (Linf, FGSM)", ylabel="normalized distance, last layer input", title="(a) vs attack strength")
    top = df[df.eps == df.eps.max()]
    sns.lineplot(data=top, x="layer", y="distance", hue="bits", hue_order=order, marker="o", ax=axes[1])
    axes[1].set_xticks(sorted(top.layer.unique()))  # layers are whole numbers
    axes[1].set(xlabel="layer (input of conv/linear l)", ylabel="normalized distance",
                title=f"(b) per layer, eps={df.eps.max():.3g}")
    axes[0].get_legend().remove()
    fig.tight_layout()
    save(fig, out_png)
    plt.close(fig)


def beta_sweep_data(long_csv) -> pd.DataFrame:
    """The adv. rows of table1_long.csv with a `bits` label (FP, 1, 2, ...); beta stays the raw float."""
    df = read_long(long_csv)
    df = df[df.metric == "adv"].copy()
    df["bits"] = ["FP" if pd.isna(b) else str(int(b)) for b in df.act_bits]
    return df


@register_figure("beta_sweep")
def beta_sweep(long_csv, out_png) -> None:
    """Adversarial accuracy against DQ's beta (0 = vanilla), one line per activation bit-width, with each point's
    95 % interval over seeds and test images."""
    df = beta_sweep_data(long_csv)
    order = [b for b in ["FP"] + sorted({b for b in df.bits if b != "FP"}, key=int) if b in set(df.bits)]
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    ci = ci_frame(df, ["bits", "beta"])
    for bits, color in zip(order, sns.color_palette(n_colors=len(order))):
        c = ci[ci.bits == bits].sort_values("beta")
        # drawn within [0, 100], what an accuracy can be (the _ci table keeps the whole interval)
        err = ([c["mean"] - c["low"].clip(lower=0.0), c["high"].clip(upper=100.0) - c["mean"]]
               if c["low"].notna().all() else None)
        ax.errorbar(c.beta, c["mean"], yerr=err, fmt="o-", color=color, capsize=3, markersize=4, label=bits)
    ax.set(xlabel="DQ beta (0: vanilla)", ylabel=f"FGSM accuracy (%), eps={df.eps.iloc[0]:.3g}", title="Beta sweep (DQ Figure 6)")
    # outside the axes: inside, it covered the curves that end low on the right
    ax.legend(title="activation bits\n(95 % intervals)", fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    save(fig, out_png)
    plt.close(fig)
