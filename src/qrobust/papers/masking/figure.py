"""Figure "masking", drawn from masking_long.csv (papers/masking/table.py): (a) every ensemble
member's accuracy per model, with the per-example worst case last, as an annotated heatmap; (b)
accuracy against eps from the audit's PGD sweep, one line per model (and swept path), starting at
the clean accuracy at eps 0, with chance (100 / n_classes, the summary rows' threshold) dashed.
Models with a masking flag have their names in red."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from qrobust.figures._base import register_figure, save


def read(long_csv) -> pd.DataFrame:
    df = pd.read_csv(long_csv, dtype={"ckey": str, "run": str, "defense": str, "kind": str, "name": str, "detail": str})
    df["ckey"] = df.ckey.fillna("")
    label = df.run + df.defense.map(lambda d: "" if d == "none" else f" [{d}]")
    full = (df.ckey + "/" + df.run).where(df.ckey != "", df.run) + df.defense.map(lambda d: "" if d == "none" else f" [{d}]")
    # the run name alone unless two models share it (the same run under two keys)
    shared = {lab for lab, n in full.groupby(label).nunique().items() if n > 1}
    df["model"] = full.where(label.isin(shared), label)
    return df


def heatmap_data(df: pd.DataFrame) -> pd.DataFrame:
    """models x (members in first-seen order, then worst): accuracy (%)."""
    members = df[df.kind == "member"]
    worst = df[(df.kind == "summary") & (df.name == "worst")].assign(name="worst")
    cells = pd.concat([members, worst])
    models = list(dict.fromkeys(df.model))
    cols = list(dict.fromkeys(members.name)) + ["worst"]
    return cells.pivot_table(index="model", columns="name", values="value", aggfunc="mean").reindex(index=models, columns=cols)


@register_figure("masking")
def masking_figure(long_csv, out_png) -> None:
    df = read(long_csv)
    acc = heatmap_data(df)
    sweep = df[df.kind == "sweep"]
    clean = df[(df.kind == "summary") & (df.name == "clean")].groupby("model", sort=False).value.mean()
    sns.set_theme(style="white", context="paper")
    w_heat = 1.6 + 0.62 * acc.shape[1]
    fig, axes = plt.subplots(1, 2, figsize=(w_heat + 4.6, 1.4 + max(2.6, 0.32 * acc.shape[0])),
                             gridspec_kw={"width_ratios": [w_heat, 4.2]})
    sns.heatmap(acc, annot=True, fmt=".1f", cmap="viridis", vmin=0, vmax=100, cbar_kws={"label": "accuracy (%)"},
                annot_kws={"fontsize": 7}, ax=axes[0])
    eps = sorted(df.loc[(df.kind == "summary") & (df.name == "worst"), "eps"].unique())
    axes[0].set(xlabel="attack (worst: per-example worst case)", ylabel="model (red: masking flags)",
                title=f"(a) accuracy per attack, eps={', '.join(f'{e:.3g}' for e in eps)}")
    axes[0].axvline(acc.shape[1] - 1, color="white", lw=2.5)  # the worst case apart from the members
    axes[0].tick_params(axis="x", labelrotation=45)
    for label in axes[0].get_xticklabels():
        label.set_horizontalalignment("right")
    # models with a masking flag: red names
    flagged = set(df.loc[(df.kind == "summary") & (df.name == "worst") & df.flagged.astype(str).eq("True"), "model"])
    for label in axes[0].get_yticklabels():
        if label.get_text() in flagged:
            label.set_color("tab:red")

    ax = axes[1]
    ax.grid(True, lw=0.4, alpha=0.6)
    several_paths = sweep.groupby("model").name.nunique().gt(1).any() if len(sweep) else False
    palette = dict(zip(acc.index, sns.color_palette("tab10", n_colors=max(1, len(acc.index)))))
    for (model, path), g in sweep.groupby(["model", "name"], sort=False):
        pts = g.groupby("eps").value.mean().sort_index()
        if model in clean.index:
            pts = pd.concat([pd.Series({0.0: clean[model]}), pts[pts.index > 0]])
        ax.plot(pts.index, pts.values, marker="o", ms=3, lw=1.2, color=palette.get(model),
                label=f"{model} ({path})" if several_paths else f"{model} (PGD@{path})")
    chance = sorted(df.loc[df.kind == "summary", "threshold"].dropna().unique())
    for i, c in enumerate(chance):
        ax.axhline(c, ls="--", color="0.35", lw=0.9, label="chance" if i == 0 else None)
    if not len(sweep):
        ax.text(0.5, 0.5, "no eps sweep in the audit", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="eps (Linf)", ylabel="accuracy (%)", ylim=(-2, 102), title="(b) PGD accuracy vs eps (audit sweep)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    save(fig, out_png)
    plt.close(fig)
