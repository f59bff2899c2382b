"""qrobust.stats: intervals over seeds and images, checked against scipy and the two-way ANOVA, and by
their coverage on simulated seeds x images data with a known truth."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from qrobust.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, estimate, holm, needed, one_level, rank_probability, two_way


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# per-image correctness of two models A and B on a logit scale: a seed effect per model (training runs
# differ), an image difficulty both share and an image effect of each model's own (image heterogeneity)
SIM = {"mu_a": 1.0, "mu_b": 0.6, "sd_seed": 0.4, "sd_img": 1.5, "sd_model_img": 1.0}


def _truth(rng) -> float:
    n = 2_000_000
    b = rng.normal(0, SIM["sd_img"], n)
    a = _sigmoid(SIM["mu_a"] + rng.normal(0, SIM["sd_seed"], n) + b + rng.normal(0, SIM["sd_model_img"], n))
    c = _sigmoid(SIM["mu_b"] + rng.normal(0, SIM["sd_seed"], n) + b + rng.normal(0, SIM["sd_model_img"], n))
    return float(np.mean(a - c))


def _simulate(rng, seeds: int, n: int, design: str, split: int = 10_000) -> dict:
    """seed -> (image indices, correct_A - correct_B). crossed: every seed the same n images; fresh: each
    seed its own random sample of n from a test split of `split` images (samples overlap by chance)."""
    pool = n if design == "crossed" else split
    b = rng.normal(0, SIM["sd_img"], pool)
    ca, cb = rng.normal(0, SIM["sd_model_img"], pool), rng.normal(0, SIM["sd_model_img"], pool)
    out = {}
    for s in range(seeds):
        idx = np.arange(n) if design == "crossed" else np.sort(rng.permutation(split)[:n])
        pa = _sigmoid(SIM["mu_a"] + rng.normal(0, SIM["sd_seed"]) + b[idx] + ca[idx])
        pb = _sigmoid(SIM["mu_b"] + rng.normal(0, SIM["sd_seed"]) + b[idx] + cb[idx])
        out[s] = (idx, (rng.random(n) < pa).astype(float) - (rng.random(n) < pb).astype(float))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("design", ["crossed", "fresh"])
def test_the_interval_covers_the_truth_95_percent_of_the_time(design):
    """2,000 simulated runs per (seeds, images): coverage within 93-99 % (Monte Carlo SE 0.5 points)."""
    rng = np.random.default_rng(7 if design == "crossed" else 8)
    truth = _truth(rng)
    runs = 2000
    for seeds in (3, 5, 10):
        for n in (100, 250, 1000):
            hits = 0
            for _ in range(runs):
                e = two_way(_simulate(rng, seeds, n, design))
                hits += e.low <= truth <= e.high
            assert 0.93 <= hits / runs <= 0.99, (design, seeds, n, hits / runs)


def test_nested_samples_give_the_t_interval_over_the_seeds_means():
    """Disjoint samples: the seeds' means are independent, the interval is scipy's one-sample t interval."""
    rng = np.random.default_rng(0)
    samples = {s: (np.arange(100 * s, 100 * s + 100), rng.integers(0, 2, 100).astype(float)) for s in range(4)}
    e = two_way(samples)
    means = [v.mean() for _, v in samples.values()]
    ref = stats.ttest_1samp(means, 0.0).confidence_interval(0.95)
    assert e.df == 3 and math.isclose(e.low, ref.low) and math.isclose(e.high, ref.high)
    assert e.n_images == 400 and e.images_per_seed == 100 and not e.image_only


def test_crossed_samples_give_the_two_way_anova_variance():
    """Every seed on the same images: Var = (MS_S + MS_I - MS_E) / (S n), the balanced two-way ANOVA's."""
    rng = np.random.default_rng(1)
    S, n = 4, 60
    y = (rng.random((S, n)) < _sigmoid(rng.normal(0, 1, n) + rng.normal(0, 0.5, (S, 1)))).astype(float)
    e = two_way({s: (np.arange(n), y[s]) for s in range(S)})
    grand, rows, cols = y.mean(), y.mean(axis=1), y.mean(axis=0)
    ms_s = n * ((rows - grand) ** 2).sum() / (S - 1)
    ms_i = S * ((cols - grand) ** 2).sum() / (n - 1)
    ms_e = ((y - rows[:, None] - cols[None, :] + grand) ** 2).sum() / ((S - 1) * (n - 1))
    var = (ms_s + ms_i - ms_e) / (S * n)
    assert math.isclose(e.effect, grand) and math.isclose(e.se ** 2, var, rel_tol=1e-9)


def test_one_seed_is_scipys_paired_bootstrap_over_images():
    rng = np.random.default_rng(2)
    a, b = (rng.random(300) < 0.7).astype(float), (rng.random(300) < 0.6).astype(float)
    ours = one_level([a, b], [1.0, -1.0])
    ref = stats.bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis), paired=True,
                          vectorized=True, n_resamples=BOOTSTRAP_RESAMPLES, method="BCa", batch=500,
                          rng=np.random.default_rng(BOOTSTRAP_SEED))
    assert math.isclose(ours.low, ref.confidence_interval.low) and math.isclose(ours.high, ref.confidence_interval.high)
    assert math.isclose(ours.effect, a.mean() - b.mean()) and ours.image_only and ours.n_seeds == 1
    # estimate() takes the same route for one seed, on the contrast's values
    e = estimate({0: (np.arange(300), a - b)})
    assert e.image_only and math.isclose(e.effect, ours.effect)


def test_no_spread_is_a_point_and_bad_input_is_refused():
    e = estimate({0: (np.arange(5), np.ones(5)), 1: (np.arange(5), np.ones(5))})
    assert e.low == e.high == e.effect == 1.0
    with pytest.raises(ValueError, match="appears twice"):
        estimate({0: (np.array([1, 1]), np.array([0.0, 1.0]))})
    with pytest.raises(ValueError, match="do not match"):
        estimate({0: (np.arange(3), np.ones(2))})


def test_p_value_is_one_sided_and_follows_the_interval():
    rng = np.random.default_rng(3)
    samples = {s: (np.arange(200), (rng.random(200) < 0.8).astype(float) - (rng.random(200) < 0.5).astype(float))
               for s in range(5)}
    e = two_way(samples)
    assert e.low > 0 and e.p_above(0.0) < 0.025  # the 95 % interval excludes 0 from above
    assert e.p_above(e.effect) == pytest.approx(0.5)


def test_holm_adjusts_step_down_and_keeps_order():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, float("nan"), 0.01]) == pytest.approx([0.5, float("nan"), 0.02], nan_ok=True)
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # capped at 1, monotone
    assert holm([0.02, 0.3]) == pytest.approx([0.04, 0.3])


def test_needed_sample_shrinks_with_the_effect_and_names_seeds_and_images():
    rng = np.random.default_rng(4)
    samples = {s: (np.arange(100), (rng.random(100) < 0.6 + 0.1 * rng.normal()).astype(float)) for s in range(3)}
    e = two_way(samples)
    small, large = needed(e, 2.0 / 100, [100, 1000]), needed(e, 20.0 / 100, [100, 1000])
    assert "seeds x 100 images" in large and "seeds x 1000 images" in large
    s_small = int(small.split(" seeds")[0])
    s_large = int(large.split(" seeds")[0])
    assert s_small > s_large >= 2
    assert needed(one_level([np.ones(3), np.zeros(3)], [1, -1]), 0.05, [100]) == ""  # one seed: no seed variance


def test_detectable_is_the_effect_at_which_needed_switches_and_a_simulated_design_has_its_power():
    from qrobust.stats import detectable

    rng = np.random.default_rng(6)
    samples = {s: (np.arange(200), (rng.random(200) < 0.6 + 0.08 * rng.normal()).astype(float)) for s in range(4)}
    e = two_way(samples)
    d = detectable(e)
    assert d > 0 and detectable(e, seeds=8) < d and detectable(e, images=800) < d
    # needed's answer for delta = detectable at this design is this design (4 seeds x 200 images)
    assert needed(e, d * 1.0001, [200]) == "4 seeds x 200 images"
    assert needed(e, d * 0.98, [200]) != "4 seeds x 200 images"
    assert np.isnan(detectable(one_level([np.ones(3), np.zeros(3)], [1, -1])))  # one seed: unknown
    # power: a true effect of `detectable` on data with these variances is separated from 0 about 80 % of the time
    sa, sw, S, n = math.sqrt(e.var_seed), math.sqrt(e.var_within), 4, 200
    hits = 0
    for _ in range(400):
        sim = {s: (np.arange(n), d + rng.normal(0, sa) + rng.normal(0, sw, n)) for s in range(S)}
        hits += two_way(sim).low > 0
    assert 0.65 < hits / 400 < 0.95


def test_rank_probability_sees_a_clear_order_and_its_reverse():
    rng = np.random.default_rng(5)
    items = {name: {s: (np.arange(300), (rng.random(300) < p).astype(float)) for s in range(3)}
             for name, p in (("low", 0.3), ("mid", 0.5), ("high", 0.8))}
    assert rank_probability(items, lambda m: m["low"] < m["mid"] < m["high"], n_resamples=500) > 0.99
    assert rank_probability(items, lambda m: m["high"] < m["low"], n_resamples=500) < 0.01
