"""DQ Table 1 as a figure: clean, FGSM and (when measured) worst-case accuracy vs activation bits,
one line per method over the quantized bit-widths; full precision is its own point, left of a gap,
not joined to 1 bit. Error bars: each cell's 95 % interval over seeds and test images (tables/intervals.py)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from qrobust.figures._base import register_figure, save
from qrobust.papers.dq.table1 import FP, labelled
from qrobust.tables._base import read_long
from qrobust.tables.intervals import ci_frame


def panels(df: pd.DataFrame) -> list[tuple[str, str]]:
    eps = df.eps.iloc[0] if "eps" in df else float("nan")
    out = [("clean", "Clean accuracy"), ("adv", f"FGSM accuracy (eps={eps:.3g})")]
    if "worst" in set(df.metric):
        out.append(("worst", "Worst-case accuracy"))
    return out


@register_figure("fig1")
def plot(long_csv, out_png) -> None:
    df = labelled(read_long(long_csv))  # the raw long CSV with the table's labels
    bits = sorted((b for b in df.act_bits.unique() if b != FP), key=int)
    pos = {FP: 0, **{b: i + 2 for i, b in enumerate(bits)}}  # a gap between FP and the quantized bits
    df["x"] = df.act_bits.map(pos)
    methods = list(dict.fromkeys(df.method))
    sns.set_theme(style="whitegrid", context="paper")
    colors = dict(zip(methods, sns.color_palette(n_colors=len(methods))))
    ci = ci_frame(df, ["method", "metric", "act_bits"]).set_index(["method", "metric", "act_bits"])
    shown = panels(df)
    fig, axes = plt.subplots(1, len(shown), figsize=(4.4 * len(shown), 3.6), sharey=False)
    for ax, (metric, title) in zip(axes, shown):
        for k, m in enumerate(methods):
            dx = 0.08 * (k - (len(methods) - 1) / 2)  # methods side by side: bars do not hide each other
            for group in ([FP], bits):  # full precision alone, then the quantized bit-widths joined
                cells = [ci.loc[(m, metric, b)] for b in group if (m, metric, b) in ci.index]
                if not cells:
                    continue
                xs = [pos[b] + dx for b in group if (m, metric, b) in ci.index]
                mean = [c["mean"] for c in cells]
                # the interval as drawn is cut to what an accuracy can be, [0, 100] (results/table1_ci.csv keeps it whole)
                err = [[c["mean"] - max(c["low"], 0.0) for c in cells], [min(c["high"], 100.0) - c["mean"] for c in cells]]
                ax.errorbar(xs, mean, yerr=err if all(pd.notna(v) for e in err for v in e) else None,
                            fmt="s" if group == [FP] else "o-", color=colors[m], capsize=3, markersize=5,
                            label=m if group is bits else None)
        ax.axvline(1, color="0.8", linewidth=0.8)
        ax.set_xticks([pos[b] for b in [FP, *bits]], ["FP", *[str(b) for b in bits]])
        ax.set(xlabel="activation bits", ylabel="accuracy (%)", title=title)
    axes[-1].legend(*axes[0].get_legend_handles_labels(), title="method (95 % intervals,\ncut to 0-100)", fontsize=8, loc="upper left",
                    bbox_to_anchor=(1.02, 1), borderaxespad=0)  # outside: no point hidden
    fig.tight_layout()
    save(fig, out_png)
    plt.close(fig)
