"""Figure "masking", drawn from masking_long.csv (papers/masking/table.py), one row per model (its seeds
averaged; a model is its run name less the seed):

(a) what became of the attacked test images: wrong before any attack (grey), broken first by each
    ensemble member in ensemble order (a pruned member only attacks what the earlier ones left, so
    every member has its share here, where a heatmap of own accuracies had empty cells), and still
    robust after every member (black: the worst-case accuracy). Models with a masking flag in any
    seed have red names.
(b) for the flagged models only (at most MAX_CURVES, the most often flagged first): accuracy against
    eps, from the clean accuracy at eps 0, the worst case at the evaluation eps and the audit's PGD
    sweep (which ends at eps 0.5, where every model should be at chance); chance dashed.
(c) which checks fired on the flagged models, in how many of their seeds.
"""
from __future__ import annotations

import re

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from qrobust.figures._base import register_figure, save

MAX_CURVES = 8
SEED = re.compile(r"_s\d+$")


def read(long_csv) -> pd.DataFrame:
    df = pd.read_csv(long_csv, dtype={"ckey": str, "run": str, "defense": str, "kind": str, "name": str, "detail": str})
    df["ckey"] = df.ckey.fillna("")
    tag = df.defense.map(lambda d: "" if d == "none" else f" [{d}]")
    run = df.run.str.replace(SEED, "", regex=True)
    label, full = run + tag, (df.ckey + "/" + run).where(df.ckey != "", run) + tag
    # the run name alone unless two models share it (the same run under two keys)
    shared = {lab for lab, n in full.groupby(label).nunique().items() if n > 1}
    df["model"] = full.where(label.isin(shared), label)
    return df


def _detail(s: str) -> dict:
    return dict(kv.split("=", 1) for kv in str(s).split(";") if "=" in kv)


def outcomes(df: pd.DataFrame) -> pd.DataFrame:
    """models x (wrong clean, each member, robust): % of the attacked images, mean over seeds."""
    summ = df[df.kind == "summary"]
    n = summ[summ.name == "clean"].set_index(["model", "seed"]).detail.map(lambda d: float(_detail(d).get("n", "nan")))
    rows = []
    for (model, seed), g in df.groupby(["model", "seed"], sort=False):
        s = g[g.kind == "summary"].set_index("name").value
        row = {"model": model, "wrong clean": 100.0 - s["clean"], "robust": s["worst"]}
        for _, m in g[g.kind == "member"].iterrows():
            first = _detail(m.detail).get("first")
            row[m["name"]] = 100.0 * float(first) / n[(model, seed)] if first is not None else float("nan")
        rows.append(row)
    members = list(dict.fromkeys(df.loc[df.kind == "member", "name"]))
    out = pd.DataFrame(rows).groupby("model", sort=False).mean(numeric_only=True)
    return out.reindex(columns=["wrong clean", *members, "robust"])


def flagged_models(df: pd.DataFrame) -> pd.Series:
    """Per model with a flag in any seed: the seeds flagged, most first (ties in first-seen order)."""
    w = df[(df.kind == "summary") & (df.name == "worst")]
    k = w.assign(f=w.flagged.astype(str).eq("True")).groupby("model", sort=False).f.sum()
    return k[k > 0].sort_values(ascending=False, kind="stable")


def check_counts(df: pd.DataFrame, models) -> pd.DataFrame:
    """models x checks that fired on any of them: seeds flagged."""
    c = df[(df.kind == "check") & df.model.isin(models)]
    t = c.assign(f=c.flagged.astype(str).eq("True")).pivot_table(index="model", columns="name", values="f", aggfunc="sum")
    t = t.reindex(index=list(models))
    return t.loc[:, t.sum() > 0]


@register_figure("masking")
def masking_figure(long_csv, out_png) -> None:
    df = read(long_csv)
    share = outcomes(df)
    flagged = flagged_models(df)
    seeds = df.groupby("model", sort=False).seed.nunique()
    sns.set_theme(style="white", context="paper")
    h = 1.6 + max(3.0, 0.2 * len(share))
    fig = plt.figure(figsize=(13.5, h))
    grid = fig.add_gridspec(2, 2, width_ratios=[1.25, 1.0], height_ratios=[1.0, 1.0], wspace=0.45, hspace=0.45)
    ax = fig.add_subplot(grid[:, 0])
    colors = ["0.75"] + sns.color_palette("tab20", n_colors=max(1, share.shape[1] - 2)) + ["black"]
    left = pd.Series(0.0, index=share.index)
    y = range(len(share))
    for col, color in zip(share.columns, colors):
        v = share[col].fillna(0.0)
        ax.barh(list(y), v.values, left=left.values, color=color, label=col, height=0.8, lw=0)
        left += v
    ax.set_yticks(list(y), share.index, fontsize=6)
    ax.invert_yaxis()
    for lab in ax.get_yticklabels():
        if lab.get_text() in flagged.index:
            lab.set_color("tab:red")
    eps = sorted(df.loc[(df.kind == "summary") & (df.name == "worst"), "eps"].unique())
    ax.set(xlim=(0, 100), xlabel="% of the attacked test images (mean over seeds)",
           title=f"(a) wrong, broken first by, robust (eps {', '.join(f'{e:.3g}' for e in eps)}); red: masking flag")
    # under the panel, in figure coordinates (the saved figure grows to hold it)
    fig.legend(*ax.get_legend_handles_labels(), fontsize=6, ncol=4, loc="upper center", bbox_to_anchor=(0.3, 0.0), frameon=False)

    ax = fig.add_subplot(grid[0, 1])
    ax.grid(True, lw=0.4, alpha=0.6)
    shown = list(flagged.index[:MAX_CURVES])
    summ = df[df.kind == "summary"]
    for model in shown:
        pts = pd.concat([summ[(summ.model == model)].groupby("eps").value.mean().rename("v"),
                         df[(df.kind == "sweep") & (df.model == model)].groupby("eps").value.mean().rename("v")])
        pts = pts.groupby(level=0).min().sort_index()  # at the evaluation eps: the worst case (below any sweep point)
        ax.plot(pts.index, pts.values, marker="o", ms=3, lw=1.2, label=f"{model} ({flagged[model]}/{seeds[model]} seeds)")
    for i, c in enumerate(sorted(summ.threshold.dropna().unique())):
        ax.axhline(c, ls="--", color="0.35", lw=0.9, label="chance" if i == 0 else None)
    more = f"; {len(flagged) - len(shown)} more in masking.csv" if len(flagged) > len(shown) else ""
    ax.set(xlabel="eps (Linf)", ylabel="accuracy (%)", ylim=(-2, 102), title=f"(b) flagged models: accuracy vs eps{more}")
    if not shown:
        ax.text(0.5, 0.5, "no model flagged", ha="center", va="center", transform=ax.transAxes)
    ax.legend(fontsize=6, loc="upper right")

    ax = fig.add_subplot(grid[1, 1])
    counts = check_counts(df, flagged.index[:2 * MAX_CURVES])
    if counts.empty:
        ax.axis("off")
        ax.text(0.5, 0.5, "(c) no check fired", ha="center", va="center", transform=ax.transAxes)
    else:
        annot = counts.apply(lambda col: [f"{int(v)}/{seeds[m]}" for m, v in col.items()])
        sns.heatmap(counts, annot=annot, fmt="", cmap="Reds", vmin=0, vmax=max(1, int(seeds.max())), cbar=False,
                    annot_kws={"fontsize": 6}, ax=ax)
        ax.set(xlabel="", ylabel="", title="(c) checks that fired (seeds flagged)")
        ax.tick_params(labelsize=6)
        ax.tick_params(axis="x", labelrotation=30)
        for lab in ax.get_xticklabels():
            lab.set_horizontalalignment("right")
    save(fig, out_png)
    plt.close(fig)
