"""Table 5 as figures: a corruption x model heatmap and system-noise bars (accuracy change
against the model's own clean accuracy)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from qrobust.figures._base import register_figure, save
from qrobust.tables._base import read_long, wa_bits_label


def _label(df: pd.DataFrame) -> pd.Series:
    bits = pd.Series([wa_bits_label(w, a) for w, a in zip(df.weight_bits, df.act_bits)], index=df.index)
    return df.model.where(df.model == "float", df.model + " " + bits)


def _read(long_csv) -> pd.DataFrame:
    df = read_long(long_csv, dtype={"variant": str})
    df["label"] = _label(df)
    return df


@register_figure("corruptions")
def corruption_heatmap(long_csv, out_png) -> None:
    df = _read(long_csv)
    cor = df[df.family == "corruption"].groupby(["noise", "label"], sort=False).acc.mean().unstack("label")
    sns.set_theme(style="white", context="paper")
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * cor.shape[1], 0.9 + 0.3 * cor.shape[0]))
    sns.heatmap(cor, annot=True, fmt=".0f", cmap="viridis", vmin=0, vmax=100, cbar_kws={"label": "accuracy (%)"}, ax=ax)
    ax.set(xlabel="model", ylabel="corruption (mean over severities)")
    fig.tight_layout()
    save(fig, out_png)
    plt.close(fig)


@register_figure("sysnoise")
def system_noise_bars(long_csv, out_png) -> None:
    df = _read(long_csv)
    clean = df[df.family == "clean"].groupby("label").acc.mean()
    sys_ = df[df.family.isin(["system", "model_side"])].copy()
    sys_["variant"] = sys_.noise.where(sys_.variant.isna(), sys_.noise + ":" + sys_.variant)
    sys_["change"] = sys_.acc - sys_.label.map(clean)
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.25 * sys_.variant.nunique() * max(1, sys_.label.nunique() / 3)))
    sns.barplot(data=sys_, y="variant", x="change", hue="label", ax=ax, errorbar=None)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set(xlabel="accuracy change vs clean (points)", ylabel="system noise")
    ax.legend(fontsize=7, title="model")
    fig.tight_layout()
    save(fig, out_png)
    plt.close(fig)
