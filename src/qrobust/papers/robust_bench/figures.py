"""Table 5 as figures: a corruption x model heatmap of accuracy and a system-noise x model heatmap of
the accuracy change against the model's own clean accuracy."""
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


def sysnoise_matrix(long_csv) -> pd.DataFrame:
    """System noise (variant) x model: accuracy under it minus the model's clean accuracy, in points,
    mean over seeds; rows and columns in the table's order."""
    df = _read(long_csv)
    clean = df[df.family == "clean"].groupby("label").acc.mean()
    sys_ = df[df.family.isin(["system", "model_side"])].copy()
    sys_["variant"] = sys_.noise.where(sys_.variant.isna(), sys_.noise + ":" + sys_.variant)
    sys_["change"] = sys_.acc - sys_.label.map(clean)
    return sys_.groupby(["variant", "label"], sort=False).change.mean().unstack("label")


@register_figure("sysnoise")
def system_noise_heatmap(long_csv, out_png) -> None:
    """One cell per (system noise, model), annotated, diverging around 0: a noise that changes nothing
    reads as a white row, one that hurts a model as a red cell."""
    m = sysnoise_matrix(long_csv)
    lim = max(1.0, float(m.abs().max().max()))
    sns.set_theme(style="white", context="paper")
    fig, ax = plt.subplots(figsize=(2.4 + 0.55 * m.shape[1], 1.2 + 0.3 * m.shape[0]))
    sns.heatmap(m, annot=True, fmt=".1f", cmap="RdBu", center=0, vmin=-lim, vmax=lim, annot_kws={"fontsize": 6},
                cbar_kws={"label": "accuracy change vs the model's clean accuracy (points)"}, ax=ax)
    ax.set(xlabel="model", ylabel="system noise (decoder, resize, colour conversion, precision)")
    fig.tight_layout()
    save(fig, out_png)
    plt.close(fig)
