import itertools
import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.power import TTestIndPower, TTestPower

from analysis.compare import compare_pair
from analysis.distributions import hall_t_interval, mean_interval
from analysis.power import (
    band_k_max,
    best_of_k,
    best_of_k_frame,
    expected_max_of_k,
    minimal_detectable_effect,
    power_analysis,
    power_frame,
    seeds_for_power,
    simulated_power,
    simulated_seeds_for_power,
)


def test_expected_best_of_k_hand_computed():
    # k = 2 of {1, 2, 3}: subsets {1,2} {1,3} {2,3} have maxima 2, 3, 3 -> 8/3
    np.testing.assert_allclose(expected_max_of_k(np.array([3.0, 1.0, 2.0])), [2.0, 8 / 3, 3.0])


def test_expected_best_of_k_equals_brute_force():
    x = np.random.default_rng(0).normal(0.8, 0.02, 9)
    brute = [np.mean([max(c) for c in itertools.combinations(x, k)]) for k in range(1, 10)]
    np.testing.assert_allclose(expected_max_of_k(x), brute, rtol=1e-12)
    # batched over leading axes
    batch = np.stack([x, x[::-1] + 1])
    np.testing.assert_allclose(expected_max_of_k(batch), [brute, np.array(brute) + 1], rtol=1e-12)


def test_expected_best_of_k_large_n_is_finite():
    x = np.random.default_rng(1).normal(size=600)
    e = expected_max_of_k(x)
    assert (
        np.isfinite(e).all() and e[0] == pytest.approx(x.mean()) and e[-1] == pytest.approx(x.max())
    )
    assert np.all(np.diff(e) >= -1e-12)


def test_best_of_k_band():
    # the band is the jackknife t (Hall-corrected) for (k + 1)^2 <= n, withheld beyond (the method
    # changed deliberately from the percentile bootstrap, which covered 46-93 %)
    x = np.random.default_rng(2).normal(0.8, 0.02, 26)
    c = best_of_k(x, architecture="a", metric="m", n_resamples=2000, seed=0)
    assert c.k.tolist() == list(range(1, 27))
    assert c.expected[0] == pytest.approx(x.mean()) and c.expected[-1] == x.max()
    assert c.k_max == band_k_max(26) == 4 and c.method == "jackknife t, Hall skewness-corrected"
    assert np.all(c.low[:4] <= c.expected[:4]) and np.all(c.expected[:4] <= c.high[:4])
    assert np.isnan(c.low[4:]).all() and np.isnan(c.high[4:]).all()
    assert [band_k_max(n) for n in (5, 6, 8, 9, 10, 15, 16, 25, 26)] == [0, 1, 1, 2, 2, 2, 3, 4, 4]
    # k = 1 is the mean, and its band the mean's interval
    np.testing.assert_allclose([c.low[0], c.high[0]], mean_interval(x), rtol=1e-12)
    # pseudo-values by brute force: n E_k(all) - (n - 1) E_k(all but i)
    n, k = 26, 3
    loo = np.array([expected_max_of_k(np.delete(x, i))[k - 1] for i in range(n)])
    pseudo = n * c.expected[k - 1] - (n - 1) * loo
    np.testing.assert_allclose(
        [c.low[k - 1], c.high[k - 1]], hall_t_interval(pseudo, c.expected[k - 1]), rtol=1e-10
    )
    frame = best_of_k_frame([c])
    assert len(frame) == 26 and list(frame.columns[:4]) == [
        "architecture",
        "metric",
        "k",
        "expected_best",
    ]
    one = best_of_k(np.array([0.5]))
    assert one.expected.tolist() == [0.5] and np.isnan(one.low[0])
    few = best_of_k(x[:5])
    assert few.k_max == 0 and np.isnan(few.low).all() and "needs >= 6 seeds" in few.note
    # the old percentile band on request: deterministic per seed, capped by the observed maximum
    old = best_of_k(x, n_resamples=2000, seed=0, method="percentile")
    again = best_of_k(x, n_resamples=2000, seed=0, method="percentile")
    np.testing.assert_array_equal(old.low, again.low)
    assert old.high[-1] == x.max() and old.method == "bootstrap percentile"


def test_seeds_for_power_matches_statsmodels():
    assert seeds_for_power(0.5) == pytest.approx(
        TTestIndPower().solve_power(0.5, alpha=0.05, power=0.8)
    )
    assert seeds_for_power(-0.5) == seeds_for_power(0.5)
    assert seeds_for_power(0.8, paired=True) == pytest.approx(
        TTestPower().solve_power(0.8, alpha=0.05, power=0.8)
    )
    assert 63 < seeds_for_power(0.5) < 65  # textbook: 64 per group for d = 0.5
    assert seeds_for_power(10.0) == seeds_for_power(10.0, paired=True) == 2.0  # two seeds suffice
    assert seeds_for_power(0.0) == math.inf and np.isnan(seeds_for_power(float("nan")))
    mde = minimal_detectable_effect(26)
    assert TTestIndPower().power(mde, nobs1=26, alpha=0.05) == pytest.approx(0.8, abs=1e-6)


def test_simulated_power_agrees_with_formula_for_normal_data():
    rng = np.random.default_rng(3)
    x, y = rng.normal(1.0, 1.0, 4000), rng.normal(0.0, 1.0, 4000)
    n_formula = math.ceil(seeds_for_power(1.0))  # 17
    n_sim = simulated_seeds_for_power(x, y, n_simulations=2000, seed=4)
    assert abs(n_sim - n_formula) <= 2
    assert simulated_power(x, y, 17, n_simulations=4000, seed=5) == pytest.approx(0.8, abs=0.03)
    # paired: one-sample t on the differences
    d = rng.normal(0.5, 1.0, 4000)
    n_paired = simulated_seeds_for_power(
        d, np.zeros_like(d), paired=True, n_simulations=2000, seed=6
    )
    assert abs(n_paired - math.ceil(seeds_for_power(0.5, paired=True))) <= 2


def test_simulation_cap_and_reproducibility():
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, 30)
    y = x[::-1] + 1e-4  # the same distribution, shifted by a tiny fraction of its sd
    assert simulated_seeds_for_power(x, y, grid=(2, 10, 100), seed=0) is None
    assert simulated_power(x, y, 10, seed=1) == simulated_power(x, y, 10, seed=1)
    assert simulated_seeds_for_power(x, x, seed=0) is None  # no difference at all


def test_power_analysis_rows():
    rng = np.random.default_rng(8)
    seeds = pd.Index(range(26))
    a = pd.Series(rng.normal(0.80, 0.01, 26), index=seeds)
    b = pd.Series(rng.normal(0.79, 0.01, 26), index=seeds)
    c = compare_pair(a, b, a="a", b="b", n_resamples=500)
    r = power_analysis(c, a, b, seed=0, cap=100)
    assert r.paired and r.effect_name == "d_z" and r.effect_size == c.d_z and r.n_now == 26
    assert r.n_analytic == pytest.approx(seeds_for_power(c.d_z, paired=True))
    assert r.n_simulated is not None and r.n_simulated <= 100 and 0 <= r.power_now <= 1
    assert r == power_analysis(c, a, b, seed=0, cap=100)
    independent = compare_pair(a.to_numpy(), b.to_numpy(), n_resamples=500)
    ri = power_analysis(independent, a.to_numpy(), b.to_numpy(), seed=0)
    assert ri.effect_name == "hedges_g" and ri.test == "Welch t"
    far = power_analysis(c, a, a + 1e-6 * rng.normal(size=26), cap=50)
    row = power_frame([r, far]).iloc[1]
    assert row["n_simulated_label"] in (">50", str(far.n_simulated))
