"""Benchmarking the Robustness of Quantized Models (Xiao, Zhang, Liu, Qin, 2023; journal version RobustMQ, Xiao,
Liu, Zhang, Qin, Guo, Liu, 2023) and SysNoise (Wang et al. 2023): their findings, judged on the per-image outcomes
of the raw table5_long.csv (model, weight_bits/act_bits empty for the float model, family, noise, severity,
variant, eps, reference, acc, images, correct).

Corruption robustness is compared at matched clean accuracy: relative corruption accuracy, corrupted / clean
(a quantized model whose clean accuracy collapsed would otherwise look corruption-fragile for that alone).
Bit-width effects compare models that differ in one of weight and activation bits only (W4A4 against W2A4),
never both at once. System-noise harm is measured against the images the model was trained on (no resize,
no re-encoding)."""
from __future__ import annotations

import pandas as pd

from qrobust import stats
from qrobust.claims import RANKING, claim
from qrobust.evidence import combine, difference, ranking, ratio, result, with_masking
from qrobust.tables._base import wa_bits_label

# ImageNet-C's 15 corruptions, the benchmark's; the config may add others (reported beside them)
IMAGENET_C = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
              "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression")
# the resize variants by interpolation method (Pillow and OpenCV spell them differently; box is area averaging)
INTERPOLATION = {"pil-nearest": "nearest", "cv2-nearest": "nearest", "pil-bilinear": "bilinear", "cv2-linear": "bilinear",
                 "pil-bicubic": "cubic", "cv2-cubic": "cubic", "pil-box": "area", "cv2-area": "area",
                 "pil-lanczos": "lanczos", "cv2-lanczos4": "lanczos"}


def _t5(t):
    df = t["table5"].copy()
    df["quantized"] = df.weight_bits.notna()  # the float model has no bits
    df["bits"] = [wa_bits_label(w, a) for w, a in zip(df.weight_bits, df.act_bits)]
    return df


def _models(df) -> list[tuple[str, str]]:
    return list(dict.fromkeys(zip(df.model, df.bits)))


def _of(df, model, bits) -> pd.DataFrame:
    return df[(df.model == model) & (df.bits == bits)]


def _rca(df, model, bits) -> "object":
    """Relative corruption accuracy (%) of one model over ImageNet-C's corruptions and every severity."""
    m = _of(df, model, bits)
    cor = m[(m.family == "corruption") & m.noise.isin(IMAGENET_C)]
    if cor.empty:
        raise KeyError("no ImageNet-C corruption rows")
    return ratio(cor, m[m.family == "clean"], label=f"rCA {model} {bits}")


def _system_drop(df, model, bits):
    """Accuracy drop (points) from the clean test images to the data-side system-noise variants, mean over them."""
    m = _of(df, model, bits)
    sysn = m[m.family == "system"]
    if sysn.empty:
        raise KeyError("no system-noise rows")
    return difference(m[m.family == "clean"], sysn, label=f"system drop {model} {bits}")


def _bit_pairs(df) -> list[tuple[str, str, str]]:
    """(scheme, higher, lower) bit labels of one scheme that differ in one of weight and activation bits only."""
    q = df[df.quantized][["model", "weight_bits", "act_bits", "bits"]].drop_duplicates()
    out = []
    for scheme, g in q.groupby("model", sort=False):
        rows = list(g.itertuples(index=False))
        for a in rows:
            for b in rows:
                w_up, a_up = a.weight_bits > b.weight_bits, a.act_bits > b.act_bits
                if (w_up and a.act_bits == b.act_bits) or (a_up and a.weight_bits == b.weight_bits):
                    out.append((scheme, a.bits, b.bits))
    if not out:
        raise KeyError("no two quantized models of one scheme that differ in weight or activation bits alone")
    return out


def _model_label(r) -> str:
    return f"{r['model']} {r['bits']}"


@claim("quantized-more-adversarially-robust", "Robustness benchmark", "finding (1)",
       "Quantized models have higher adversarial accuracy (worst case over the attack ensemble) than their "
       "floating-point counterpart.", ("table5",), delta=5.0)
def _q_adv(t):
    df = _t5(t)
    worst = df[df.family == "worst"]
    if worst.empty:
        raise KeyError("no worst-case rows (robustness is judged on the worst case, never one attack)")
    part = difference(worst[worst.quantized], worst[~worst.quantized], label="quantized - float")
    fgsm = df[df.family == "adversarial"].groupby("quantized").acc.mean()
    evidence = (f"worst-case acc. quantized (mean) {worst[worst.quantized].acc.mean():.1f} vs float "
                f"{worst[~worst.quantized].acc.mean():.1f}; FGSM {fgsm.get(True, float('nan')):.1f} vs "
                f"{fgsm.get(False, float('nan')):.1f}")
    return with_masking(result(part, evidence), worst, _model_label, "table5")


@claim("quantized-less-corruption-robust", "Robustness benchmark", "finding (1)",
       "Quantized models are more vulnerable to natural corruptions than the floating-point model: lower relative "
       "corruption accuracy (corrupted / clean, ImageNet-C's 15 corruptions).", ("table5",), delta=2.0)
def _q_rca(t):
    df = _t5(t)
    quant = [m for m in _models(df) if m[1] != "W32A32"]
    if not quant:
        raise KeyError("no quantized models")
    terms = [(_rca(df, "float", "W32A32"), 1.0)] + [(_rca(df, m, b), -1.0 / len(quant)) for m, b in quant]
    part = combine(terms, label="rCA float - quantized")
    shown = ", ".join(f"{m} {b} {_rca(df, m, b).estimate().effect:.1f}" for m, b in quant)
    return result(part, f"relative corruption acc. (%): float {terms[0][0].estimate().effect:.1f}; {shown}")


@claim("more-bits-more-natural-robustness", "Robustness benchmark", "finding (2)",
       "More bits give higher natural robustness: of two models of one scheme that differ in weight or activation "
       "bits alone, the one with more bits has the higher relative corruption accuracy.", ("table5",), delta=2.0)
def _bits_rca(t):
    df = _t5(t)
    pairs = _bit_pairs(df)
    part = combine([(p, w) for s, hi, lo in pairs for p, w in ((_rca(df, s, hi), 1 / len(pairs)), (_rca(df, s, lo), -1 / len(pairs)))],
                   label="rCA more bits - fewer")
    shown = ", ".join(f"{s} {hi} {_rca(df, s, hi).estimate().effect:.1f} vs {lo} {_rca(df, s, lo).estimate().effect:.1f}"
                      for s, hi, lo in pairs)
    return result(part, f"relative corruption acc. (%): {shown}")


@claim("more-bits-less-adversarial-robustness", "Robustness benchmark", "finding (2)",
       "More bits give lower adversarial robustness: of two models of one scheme that differ in weight or activation "
       "bits alone, the one with fewer bits has the higher worst-case accuracy.", ("table5",), delta=5.0)
def _bits_adv(t):
    df = _t5(t)
    worst = df[df.family == "worst"]
    if worst.empty:
        raise KeyError("no worst-case rows")
    pairs = _bit_pairs(df)
    terms = []
    for s, hi, lo in pairs:
        terms.append((difference(_of(worst, s, lo), _of(worst, s, hi), label=f"{s} {lo} - {hi}"), 1 / len(pairs)))
    shown = ", ".join(f"{s} {lo} {_of(worst, s, lo).acc.mean():.1f} vs {hi} {_of(worst, s, hi).acc.mean():.1f}" for s, hi, lo in pairs)
    rows = worst[worst.model.isin({s for s, _, _ in pairs})]
    return with_masking(result(combine(terms, label="worst fewer bits - more"), f"worst-case acc.: {shown}"), rows, _model_label, "table5")


@claim("more-bits-more-systematic-robustness", "Robustness benchmark", "finding (2)",
       "More bits give higher robustness to systematic noises: of two models of one scheme that differ in weight or "
       "activation bits alone, the one with more bits loses less accuracy to the data-side system noises.",
       ("table5",), delta=1.0)
def _bits_sys(t):
    df = _t5(t)
    pairs = _bit_pairs(df)
    terms = [(p, w) for s, hi, lo in pairs
             for p, w in ((_system_drop(df, s, lo), 1 / len(pairs)), (_system_drop(df, s, hi), -1 / len(pairs)))]
    shown = ", ".join(f"{s} {lo} {_system_drop(df, s, lo).estimate().effect:.1f} vs {hi} "
                      f"{_system_drop(df, s, hi).estimate().effect:.1f}" for s, hi, lo in pairs)
    return result(combine(terms, label="system drop fewer bits - more"), f"system-noise drop (points): {shown}")


@claim("systematic-noise-hurts-quantized-more", "Robustness benchmark", "finding (4)",
       "Systematic noises (decoders, resizing, colour conversion) cost quantized models more accuracy than the "
       "floating-point model.", ("table5",), delta=1.0)
def _sys_quant(t):
    df = _t5(t)
    quant = [m for m in _models(df) if m[1] != "W32A32"]
    if not quant:
        raise KeyError("no quantized models")
    fl = _system_drop(df, "float", "W32A32")
    terms = [(_system_drop(df, m, b), 1.0 / len(quant)) for m, b in quant] + [(fl, -1.0)]
    shown = ", ".join(f"{m} {b} {_system_drop(df, m, b).estimate().effect:.1f}" for m, b in quant)
    return result(combine(terms, label="system drop quantized - float"),
                  f"accuracy drop to the system noises (points): float {fl.estimate().effect:.1f}; {shown}")


def _ranked(items: dict, holds, evidence: str, extra: str = "") -> dict:
    p = stats.rank_probability(items, holds)
    any_item = next(iter(items.values()))
    n_images = len({int(i) for idx, _ in any_item.values() for i in idx})
    means = {k: stats.estimate(v).effect for k, v in items.items()}
    return ranking(p, len(any_item), n_images, evidence(means) + extra)


@claim("impulse-glass-worst-brightness-least", "Robustness benchmark", "finding (3)",
       "Among ImageNet-C's 15 corruptions, impulse noise and glass blur are among the three that hurt quantized "
       "models most, and brightness hurts them least.", ("table5",), kind=RANKING, delta=0.0)
def _corruption_rank(t):
    df = _t5(t)
    c = df[(df.family == "corruption") & df.quantized]
    items = {name: difference(g, label=name).samples for name, g in c[c.noise.isin(IMAGENET_C)].groupby("noise")}
    if not {"impulse_noise", "glass_blur", "brightness"} <= set(items):
        raise KeyError("impulse_noise, glass_blur and brightness are not all in the run")

    def holds(m):
        order = sorted(m, key=m.get)
        return {"impulse_noise", "glass_blur"} <= set(order[:3]) and order[-1] == "brightness"

    def evidence(m):
        order = sorted(m, key=m.get)
        return (f"mean acc. of the quantized models, most harmful first: {', '.join(f'{k} {m[k]:.1f}' for k in order[:3])}; "
                f"least: {order[-1]} {m[order[-1]]:.1f}")
    extras = c[~c.noise.isin(IMAGENET_C)].groupby("noise").acc.mean()
    extra = ("; beside them: " + ", ".join(f"{k} {v:.1f}" for k, v in extras.items())) if len(extras) else ""
    return _ranked(items, holds, evidence, extra)


def _interpolation_harm(df) -> dict:
    """Per interpolation method: per seed and image, clean minus resized accuracy, over every model and both
    libraries' variants of the method (the models were trained on unresized images)."""
    s = df[(df.family == "system") & (df.noise == "resize")]
    if s.empty:
        raise KeyError("no resize rows")
    clean = df[df.family == "clean"]
    out = {}
    for method in dict.fromkeys(INTERPOLATION.values()):
        rows = s[s.variant.map(INTERPOLATION) == method]
        if len(rows):
            models = set(zip(rows.model, rows.bits))
            ref = clean[[(m, b) in models for m, b in zip(clean.model, clean.bits)]]
            out[method] = difference(ref, rows, label=f"harm of {method}").samples
    return out


def _harm_text(m: dict) -> str:
    return "accuracy lost to each resize method, most first (points): " + ", ".join(
        f"{k} {m[k]:+.1f}" for k in sorted(m, key=m.get, reverse=True))


@claim("nearest-interpolation-most-harmful", "SysNoise / robustness benchmark", "finding (4)",
       "Nearest-neighbour interpolation is the most harmful resize method (accuracy lost against the unresized images "
       "the models were trained on).", ("table5",), kind=RANKING, delta=0.0)
def _nearest(t):
    items = _interpolation_harm(_t5(t))
    if "nearest" not in items or len(items) < 2:
        raise KeyError("no nearest and other resize variants")

    return _ranked(items, lambda m: max(m, key=m.get) == "nearest", _harm_text)


@claim("bilinear-cubic-area-least-harmful", "Robustness benchmark", "finding (4)",
       "Bilinear, cubic and area interpolation are the three least harmful resize methods.", ("table5",), kind=RANKING,
       delta=0.0)
def _least_harmful(t):
    items = _interpolation_harm(_t5(t))
    best = {"bilinear", "cubic", "area"}
    if not best <= set(items) or len(items) < 4:
        raise KeyError("not every resize method is in the run")

    return _ranked(items, lambda m: set(sorted(m, key=m.get)[:3]) == best, _harm_text)


def headline(t) -> dict:
    """`dvc metrics show`'s numbers: Table 5's mean clean and worst-case accuracy of the quantized models, and the
    float model's worst case."""
    df = _t5(t)
    q, fp = df[df.quantized], df[~df.quantized]
    return {"clean_q": q[q.family == "clean"].acc.mean(), "worst_q": q[q.family == "worst"].acc.mean(),
            "worst_fp": fp[fp.family == "worst"].acc.mean()}
