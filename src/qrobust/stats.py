"""Interval estimates over training seeds and test images, for the claims and the tables' cells.

The unit of evidence is a per-image value of one seed: whether a model classified test image i
correctly (0/1), or a claim's contrast of several models on that image (DQ minus vanilla: -1, 0, 1).
A seed's images are its own sample of the test split; the samples of two seeds may be disjoint
(nested), the same (crossed: every seed evaluates the whole split) or overlap. The estimand is the
mean over training runs and over images, both drawn at random; the estimate is the mean of the
seeds' means.

`two_way` (two seeds or more) is a moment estimator of the two-way random-effects model
d_si = mu + a_s + b_i + e_si (a: seed, b: image, e: their interaction). With theta_s the mean of seed
s and theta the mean of the theta_s,

    Var(theta) = Var(theta_s) / S  (what the seeds' spread shows)  +  sigma_b^2 * o

where o is the mean over pairs of seeds of |I_s & I_t| / (n_s n_t): images two seeds share move both
means together, which the spread of the seeds' means cannot show. sigma_b^2 comes from three
moments: the pooled variance across images within a seed (sigma_b^2 + sigma_e^2), across seeds
within an image (sigma_a^2 + sigma_e^2; shared images only) and the seeds' means. Nested samples
(o = 0) need no image term; crossed ones (o = 1 / n) give the balanced two-way ANOVA's
(MS_S + MS_I - MS_E) / (S n). The interval is t-based, its degrees of freedom Welch-Satterthwaite's
(S - 1 for the seeds' term): with 3 seeds it is wide, as it should be. tests/test_stats.py measures
its coverage on simulated seeds x images data.

`one_level` (one seed): the paired bootstrap over images (scipy.stats.bootstrap, paired=True, BCa);
it covers image noise only, and a claim about training says so (qrobust.claims).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 4999
BOOTSTRAP_SEED = 20190501  # one fixed generator: the same data give the same interval, run to run


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds and images with its interval, in the units of the values given."""

    effect: float
    low: float
    high: float
    se: float
    df: float                 # degrees of freedom of the t quantile (inf: normal / bootstrap)
    n_seeds: int
    n_images: int             # distinct images over all seeds
    images_per_seed: float    # mean images per seed
    var_seed: float           # sigma_a^2: the seeds' own variance (nan with one seed)
    var_within: float         # sigma_b^2 + sigma_e^2: per-image variance within a seed
    image_only: bool          # one seed: the interval covers image noise only

    def p_above(self, m: float = 0.0) -> float:
        """One-sided p-value of "the effect is at most m" (small: the data say it is above m)."""
        if self.se == 0 or not math.isfinite(self.se):
            return 0.0 if self.effect > m else 1.0
        from scipy import stats

        z = (self.effect - m) / self.se
        return float(stats.norm.sf(z) if math.isinf(self.df) else stats.t.sf(z, self.df))

    def as_dict(self) -> dict:
        return asdict(self)


Samples = Mapping[int, tuple[np.ndarray, np.ndarray]]  # seed -> (image indices, values)


def _clean(samples: Samples) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for s, (idx, val) in samples.items():
        idx, val = np.asarray(idx, dtype=np.int64), np.asarray(val, dtype=float)
        if idx.shape != val.shape or idx.ndim != 1:
            raise ValueError(f"seed {s}: image indices {idx.shape} and values {val.shape} do not match")
        if len(np.unique(idx)) != len(idx):
            raise ValueError(f"seed {s}: an image appears twice")
        if len(idx):
            out[s] = (idx, val)
    if not out:
        raise ValueError("no per-image values to estimate from")
    return out


def estimate(samples: Samples, level: float = LEVEL) -> Estimate:
    """`two_way` with two seeds or more, `one_level` with one."""
    samples = _clean(samples)
    if len(samples) == 1:
        (idx, val), = samples.values()
        return one_level([val], [1.0], level=level)
    return two_way(samples, level=level)


def one_level(columns: Sequence[np.ndarray], weights: Sequence[float], level: float = LEVEL) -> Estimate:
    """sum_k w_k mean(columns[k]) over images paired across the columns (one value of each per image),
    with scipy's paired BCa bootstrap interval over images."""
    cols = [np.asarray(c, dtype=float) for c in columns]
    w = np.asarray(weights, dtype=float)
    n = len(cols[0])
    if any(len(c) != n for c in cols) or n == 0:
        raise ValueError("paired columns need one value per image each, and at least one image")
    d = sum(wk * c for wk, c in zip(w, cols))
    effect = float(d.mean())
    within = float(d.var(ddof=1)) if n > 1 else float("nan")
    base = dict(n_seeds=1, n_images=n, images_per_seed=float(n), var_seed=float("nan"), var_within=within, image_only=True)
    if n < 2 or np.ptp(d) == 0:  # no spread: nothing to resample
        return Estimate(effect, effect, effect, 0.0, math.inf, **base)
    from scipy import stats

    def statistic(*ys, axis=-1):
        return sum(wk * y.mean(axis=axis) for wk, y in zip(w, ys))

    res = stats.bootstrap(tuple(cols), statistic, paired=True, vectorized=True, confidence_level=level,
                          n_resamples=BOOTSTRAP_RESAMPLES, method="BCa", batch=500,
                          rng=np.random.default_rng(BOOTSTRAP_SEED))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):  # BCa undefined (e.g. a single differing image)
        se = float(res.standard_error)
        z = stats.norm.ppf(0.5 + level / 2)
        low, high = effect - z * se, effect + z * se
    return Estimate(effect, low, high, float(res.standard_error), math.inf, **base)


def _moments(samples: dict[int, tuple[np.ndarray, np.ndarray]]) -> dict:
    seeds = sorted(samples)
    theta = np.array([samples[s][1].mean() for s in seeds])
    n = np.array([len(samples[s][0]) for s in seeds], dtype=float)
    S = len(seeds)
    # within a seed, across its images: sigma_b^2 + sigma_e^2
    ss_w = sum(float(((v - v.mean()) ** 2).sum()) for _, v in samples.values())
    df_w = float((n - 1).sum())
    within = ss_w / df_w if df_w > 0 else float("nan")
    # within an image, across the seeds that share it: sigma_a^2 + sigma_e^2
    idx_all = np.concatenate([samples[s][0] for s in seeds])
    val_all = np.concatenate([samples[s][1] for s in seeds])
    uniq, inv, counts = np.unique(idx_all, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=val_all)
    means = sums / counts
    shared = counts >= 2
    dev = (val_all - means[inv]) ** 2
    ss_c = float(dev[shared[inv]].sum())
    df_c = float((counts[shared] - 1).sum())
    across = ss_c / df_c if df_c > 0 else float("nan")
    # mean over pairs of seeds of |I_s & I_t| / (n_s n_t)
    sets = [samples[s][0] for s in seeds]
    pair = []
    for a in range(S):
        for b in range(a + 1, S):
            pair.append(len(np.intersect1d(sets[a], sets[b], assume_unique=True)) / (n[a] * n[b]))
    overlap = float(np.mean(pair)) if pair else 0.0
    return dict(theta=theta, n=n, S=S, within=within, across=across, overlap=overlap, n_images=len(uniq),
                n_shared=int(shared.sum()))


def two_way(samples: Samples, level: float = LEVEL) -> Estimate:
    """Mean of the seeds' means, with the moment estimator of the module docstring (two seeds or more)."""
    from scipy import stats

    samples = _clean(samples)
    m = _moments(samples)
    S, theta, n = m["S"], m["theta"], m["n"]
    if S < 2:
        raise ValueError("two_way needs two seeds or more; one_level covers one")
    effect = float(theta.mean())
    sv = float(theta.var(ddof=1))
    h = float(np.mean(1.0 / n))
    var_b = 0.0
    if m["overlap"] > 0 and math.isfinite(m["across"]) and math.isfinite(m["within"]):
        var_b = max(0.0, (m["within"] * (1 - h) - m["across"] + sv) / (1 - m["overlap"]))
    within = m["within"] if math.isfinite(m["within"]) else 0.0
    # the seeds' spread, floored at the 2.5 % quantile of what the images' noise alone would give it: seeds
    # whose means agree by chance or by a discrete statistic's ties would otherwise make a point of the interval
    a_term = max(sv, within * h * float(stats.chi2.ppf(0.025, S - 1)) / (S - 1)) / S
    b_term = var_b * m["overlap"]
    var = a_term + b_term
    var_seed = max(0.0, sv - within * h + var_b * m["overlap"])
    # degrees of freedom (Welch-Satterthwaite): the seeds' spread counts with S - 1, floored at what their
    # images' noise alone would give it (no seed variance). A spread that small is chance; taken at face
    # value it would call the image term dominant and the interval's t quantile that of many df.
    a_df = max(sv, within * h - var_b * m["overlap"]) / S
    base = dict(n_seeds=S, n_images=m["n_images"], images_per_seed=float(n.mean()), var_seed=var_seed,
                var_within=m["within"], image_only=False)
    if var <= 0:
        return Estimate(effect, effect, effect, 0.0, math.inf, **base)
    df_b = max(1, m["n_shared"] - 1)
    df = (a_df + b_term) ** 2 / (a_df ** 2 / (S - 1) + b_term ** 2 / df_b) if a_df > 0 or b_term > 0 else math.inf
    df = max(1.0, df)
    se = math.sqrt(var)
    q = float(stats.t.ppf(0.5 + level / 2, df))
    return Estimate(effect, effect - q * se, effect + q * se, se, df, **base)


def needed(est: Estimate, delta: float, n_candidates: Sequence[int], power: float = 0.8, level: float = LEVEL,
           max_seeds: int = 200) -> str:
    """The smallest sample (seeds x images per seed, fresh samples) whose interval would separate an effect
    of `delta` from none with `power`, from the estimate's variance components: "5 seeds x 250 images or
    3 seeds x 1000 images". Empty when the components are unknown (one seed: no seed variance measured)."""
    from scipy import stats

    if not (math.isfinite(est.var_seed) and math.isfinite(est.var_within)) or delta <= 0:
        return ""
    out = []
    for n in sorted({int(c) for c in n_candidates if c and c > 0}):
        for s in range(2, max_seeds + 1):
            se = math.sqrt(est.var_seed / s + est.var_within / (s * n))
            k = stats.t.ppf(0.5 + level / 2, s - 1) + stats.t.ppf(power, s - 1)
            if k * se <= delta:
                out.append(f"{s} seeds x {n} images")
                break
    return " or ".join(out) if out else f"more than {max_seeds} seeds"


def detectable(est: Estimate, seeds: int | None = None, images: float | None = None, power: float = 0.8,
               level: float = LEVEL) -> float:
    """The smallest effect a design of `seeds` x `images` per seed (default: the estimate's own) separates
    from none with `power`, from the estimate's variance components: (t_(1+level)/2 + t_power) x SE, t with
    seeds - 1 degrees of freedom. NaN when the components are unknown (one seed)."""
    from scipy import stats

    s = int(seeds or est.n_seeds)
    n = float(images or est.images_per_seed)
    if s < 2 or n <= 0 or not (math.isfinite(est.var_seed) and math.isfinite(est.var_within)):
        return math.nan
    se = math.sqrt(est.var_seed / s + est.var_within / (s * n))
    return float((stats.t.ppf(0.5 + level / 2, s - 1) + stats.t.ppf(power, s - 1)) * se)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (family-wise error): p_(k) * (m - k + 1), made monotone, capped at 1;
    NaN stays NaN and does not count in m."""
    p = np.asarray(pvalues, dtype=float)
    ok = np.flatnonzero(~np.isnan(p))
    out = np.full(len(p), np.nan)
    m = len(ok)
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, p[i] * (m - k)))
        out[i] = running
    return out.tolist()


def rank_probability(items: Mapping[str, Samples], holds, n_resamples: int = 2000) -> float:
    """Share of two-way resamples (seeds and images resampled independently, Owen's pigeonhole bootstrap;
    images only with one seed) in which `holds(means)` is true, `means` being {item: mean value} over the
    resampled seeds and images. Every item must be measured on the same seeds."""
    items = {k: _clean(v) for k, v in items.items()}
    seeds = sorted(next(iter(items.values())))
    if any(sorted(v) != seeds for v in items.values()):
        raise ValueError("every ranked item needs the same seeds")
    union = np.unique(np.concatenate([idx for v in items.values() for idx, _ in v.values()]))
    pos = {int(u): j for j, u in enumerate(union)}
    S, U = len(seeds), len(union)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    w = rng.multinomial(S, [1.0 / S] * S, size=n_resamples).astype(float) if S > 1 else np.ones((n_resamples, 1))
    v = rng.multinomial(U, [1.0 / U] * U, size=n_resamples).astype(float)
    means = {}
    for k, samp in items.items():
        val = np.zeros((S, U))
        obs = np.zeros((S, U))
        for a, s in enumerate(seeds):
            idx, x = samp[s]
            cols = [pos[int(i)] for i in idx]
            val[a, cols] = x
            obs[a, cols] = 1.0
        num = np.einsum("bs,su,bu->b", w, val, v)
        den = np.einsum("bs,su,bu->b", w, obs, v)
        means[k] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    ok = [bool(holds({k: means[k][b] for k in items})) for b in range(n_resamples)]
    return float(np.mean(ok))
