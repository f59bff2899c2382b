"""DQ Table 1 as a figure: clean and FGSM accuracy vs activation bits, one line per method."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from qrobust.figures._base import register_figure, save
from qrobust.papers.dq.table1 import FP, labelled


@register_figure("fig1")
def plot(long_csv, out_png) -> None:
    df = labelled(pd.read_csv(long_csv))  # the raw long CSV with the table's labels
    order = sorted(df.act_bits.unique(), key=lambda b: -1 if b == FP else int(b))
    labels = {FP: "FP"}
    df["x"] = df.act_bits.map({b: i for i, b in enumerate(order)})  # FP first, then 1, 2, ... bits
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=False)
    for ax, (metric, title) in zip(axes, (("clean", "Clean accuracy"), ("adv", f"FGSM accuracy (eps={df.eps.iloc[0]:.3g})"))):
        sub = df[df.metric == metric]
        sns.lineplot(data=sub, x="x", y="value", hue="method", marker="o", ax=ax,
                     errorbar=("sd") if sub.seed.nunique() > 1 else None,
                     hue_order=list(dict.fromkeys(df.method)))
        ax.set_xticks(range(len(order)), [labels.get(b, b) for b in order])
        ax.set(xlabel="activation bits", ylabel="accuracy (%)", title=title)
    axes[0].get_legend().remove()
    axes[1].legend(title="method", fontsize=8)
    fig.tight_layout()
    save(fig, out_png)
    plt.close(fig)
