"""Table 6 as a figure: accuracy against measured latency and model size, every deployed plan,
with the Pareto front (no other plan both faster/smaller and more accurate) drawn through them."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from qrobust.figures._base import register_figure, save
from qrobust.tables._base import read_long


def pareto_front(df: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows not dominated by any other (lower-or-equal x with higher y, or lower x with equal y)."""
    pts = df.sort_values([x, y], ascending=[True, False])
    keep, best = [], float("-inf")
    for idx, row in pts.iterrows():
        if row[y] > best:
            keep.append(idx)
            best = row[y]
    return pts.loc[keep]


@register_figure("pareto")
def plot(long_csv, out_png) -> None:
    df = read_long(long_csv)
    df["size_kb"] = df.size_bytes / 1024  # the long CSV keeps bytes; the figure shows KB
    df = df.groupby(["plan_id", "kind"], as_index=False)[["accuracy", "latency_ms", "size_kb"]].mean()
    df["plan"] = df.kind.map({"uniform": "uniform", "ohq-lp": "OHQ-LP", "random": "random"})
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, (x, label) in zip(axes, (("latency_ms", "measured latency per batch (ms)"), ("size_kb", "model size (KB)"))):
        sns.scatterplot(data=df, x=x, y="accuracy", hue="plan", style="plan", s=60, ax=ax,
                        hue_order=["uniform", "OHQ-LP", "random"], style_order=["uniform", "OHQ-LP", "random"])
        front = pareto_front(df, x, "accuracy")
        ax.plot(front[x], front.accuracy, color="0.4", lw=1, ls="--", zorder=0, label="Pareto front")
        # uniform plans often sit close (fp32 and int8 at the same accuracy): labels alternate above and
        # below their points in x order, so neighbours never print on top of each other
        for k, (_, r) in enumerate(df[df.kind == "uniform"].sort_values(x).iterrows()):
            ax.annotate(r.plan_id.split("-", 1)[1], (r[x], r.accuracy), textcoords="offset points",
                        xytext=(4, 6) if k % 2 == 0 else (4, -12), fontsize=7)
        ax.set(xlabel=label, ylabel="test accuracy (%)")
    axes[0].get_legend().remove()
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    save(fig, out_png)
    plt.close(fig)
