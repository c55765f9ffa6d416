import numpy as np
import pytest
from scipy import stats

from analysis.distributions import (
    MIN_SEEDS,
    Estimate,
    bootstrap_ci,
    calibrated_ci,
    hall_t_interval,
    iqm,
    iqm_interval,
    kde,
    median_interval,
    summaries_frame,
    summarize,
)


def _scipy_ci(x, statistic, method, seed, n_resamples=2000, level=0.95):
    res = stats.bootstrap(
        (x,),
        statistic,
        vectorized=True,
        method=method,
        n_resamples=n_resamples,
        confidence_level=level,
        rng=seed,
    )
    return res.confidence_interval.low, res.confidence_interval.high


def test_iqm_hand_computed():
    # n = 8: int(0.25 * 8) = 2 cut from each end -> mean(3, 4, 5, 6)
    assert iqm(np.array([8.0, 1, 7, 2, 6, 3, 5, 4])) == 4.5
    # n = 10: 2 cut from each end -> mean(3..8); the outliers do not matter
    assert iqm(np.array([-100.0, 2, 3, 4, 5, 6, 7, 8, 9, 100])) == pytest.approx(5.5)
    x = np.random.default_rng(0).normal(size=(7, 26))
    np.testing.assert_allclose(iqm(x, axis=-1), stats.trim_mean(x, 0.25, axis=-1))
    np.testing.assert_allclose(iqm(x, axis=0), stats.trim_mean(x, 0.25, axis=0))


@pytest.mark.parametrize("method", ["BCa", "percentile"])
@pytest.mark.parametrize("name", ["mean", "median", "iqm"])
def test_bootstrap_equals_scipy(method, name):
    x = np.random.default_rng(1).gamma(2.0, 0.01, 26) + 0.75
    statistic = {"mean": np.mean, "median": np.median, "iqm": iqm}[name]
    est = bootstrap_ci(x, statistic, method=method, n_resamples=2000, seed=42)
    low, high = _scipy_ci(x, statistic, method, 42)
    assert (est.low, est.high) == (low, high)
    assert est.point == pytest.approx(float(statistic(x)))
    assert est.method == f"bootstrap {method}" and est.level == 0.95
    # a Generator is used as is, as scipy does
    again = bootstrap_ci(
        x, statistic, method=method, n_resamples=2000, seed=np.random.default_rng(42)
    )
    assert again == est


def test_summary_fields_and_bootstrap_intervals_match_scipy():
    # method="BCa" keeps the old bootstrap intervals on request (the default is "auto" now)
    x = np.random.default_rng(2).normal(0.8, 0.02, 26)
    s = summarize(x, architecture="a", metric="m", method="BCa", n_resamples=2000, seed=7)
    assert s.n == 26 and s.mean == pytest.approx(x.mean()) and s.sd == pytest.approx(x.std(ddof=1))
    assert s.median == pytest.approx(np.median(x)) and s.iqm == pytest.approx(
        stats.trim_mean(x, 0.25)
    )
    assert (s.min, s.max) == (x.min(), x.max())
    np.testing.assert_allclose(
        [s.q05, s.q25, s.q75, s.q95], np.quantile(x, [0.05, 0.25, 0.75, 0.95])
    )
    # the three intervals use independent streams spawned from the seed
    streams = np.random.default_rng(7).spawn(3)
    for est, stat, rng in zip(
        (s.mean_ci, s.median_ci, s.iqm_ci), (np.mean, np.median, iqm), streams
    ):
        assert (est.low, est.high) == _scipy_ci(x, stat, "BCa", rng)
    row = summaries_frame([s]).iloc[0]
    assert row["mean_low"] == s.mean_ci.low and row["architecture"] == "a"


def test_degenerate_samples():
    one = summarize(np.array([0.8]), n_resamples=100)
    assert one.n == 1 and np.isnan(one.sd) and np.isnan(one.mean_ci.low)
    const = summarize(np.full(6, 0.5), n_resamples=100)
    assert const.mean_ci == Estimate(0.5, 0.5, 0.5, 0.95, "t, Hall skewness-corrected")
    assert summarize(np.full(5, 0.7), method="BCa", n_resamples=100).mean_ci == Estimate(
        0.7, 0.7, 0.7, 0.95, "bootstrap BCa"
    )
    empty = summarize(np.array([]), n_resamples=100)
    assert empty.n == 0 and np.isnan(empty.mean)
    with pytest.raises(ValueError, match="NaN"):
        summarize(np.array([0.1, np.nan]))
    # BCa is undefined when the statistic barely varies: percentile instead, said so
    est = bootstrap_ci(np.array([0.0] * 9 + [1.0]), np.median, n_resamples=500, seed=0)
    assert est.method == "bootstrap percentile (BCa undefined)" and (est.low, est.high) == (
        0.0,
        0.0,
    )


def test_kde():
    x = np.random.default_rng(3).normal(0.8, 0.01, 26)
    k = kde(x, n_points=50)
    assert k.grid.shape == k.density.shape == (50,)
    assert np.trapezoid(k.density, k.grid) == pytest.approx(1.0, abs=0.01)
    assert k.grid[0] < x.min() and k.grid[-1] > x.max()
    flat = kde(np.full(4, 0.5))
    assert flat.density.size == 0 and flat.grid.tolist() == [0.5] and "distinct" in flat.note
    assert kde(np.array([])).note == "no data"


def test_estimate_format():
    assert Estimate(0.0312, 0.018, 0.0441, 0.95, "x").format(signed=True) == "+0.031 [0.018, 0.044]"
    assert Estimate(0.5, np.nan, np.nan, 0.95, "x").format() == "0.500"


def test_percentile_interval_coverage_calibration():
    """95 % percentile intervals of the mean of 26 normal values cover the true mean ~95 % of the time.

    One scipy call bootstraps 2000 simulated experiments at once (axis=-1 over rows); the
    percentile bootstrap under-covers slightly at n = 26, hence the asymmetric band.
    """
    rng = np.random.default_rng(2024)
    n_experiments = 2000
    data = rng.normal(0.8, 0.02, size=(n_experiments, 26))
    res = stats.bootstrap(
        (data,),
        np.mean,
        axis=-1,
        vectorized=True,
        method="percentile",
        n_resamples=2000,
        batch=250,
        rng=rng,
    )
    covered = (res.confidence_interval.low <= 0.8) & (res.confidence_interval.high >= 0.8)
    assert 0.92 <= covered.mean() <= 0.97
    # the batched call gives each experiment the interval bootstrap_ci would give it alone
    # (scipy draws resample indices shared by the batch, so check one experiment at the same seed)
    single = bootstrap_ci(data[5], np.mean, method="percentile", n_resamples=2000, seed=11)
    both = stats.bootstrap(
        (data[:6],), np.mean, axis=-1, method="percentile", n_resamples=2000, rng=11
    )
    assert (single.low, single.high) == (
        both.confidence_interval.low[5],
        both.confidence_interval.high[5],
    )


# ----------------------------------------------------------------- calibrated intervals
def test_hall_t_is_the_t_interval_for_symmetric_data_and_shifts_with_skewness():
    x = np.array([0.70, 0.74, 0.78, 0.80, 0.82, 0.86, 0.90])  # skewness exactly 0
    low, high = hall_t_interval(x)
    ref = stats.t.interval(0.95, 6, loc=x.mean(), scale=stats.sem(x))
    np.testing.assert_allclose([low, high], ref, rtol=1e-12)
    # a long right tail moves the interval up (Hall 1992: T is left-skewed then)
    skewed = np.array([0.70, 0.71, 0.72, 0.73, 0.75, 0.80, 0.95])
    low, high = hall_t_interval(skewed)
    t_low, t_high = stats.t.interval(0.95, 6, loc=skewed.mean(), scale=stats.sem(skewed))
    assert low > t_low and high > t_high
    # hand-computed from the formula: f(T) = ((1 + u T)^3 - 1) / (3 u) + g / (6 sqrt n)
    n, g = 7, stats.skew(skewed, bias=True)
    u, c = g / (3 * np.sqrt(n)), g / (6 * np.sqrt(n))
    q = stats.t.ppf(0.975, n - 1)
    inv = lambda y: (np.cbrt(1 + 3 * u * (y - c)) - 1) / u  # noqa: E731
    se = stats.sem(skewed)
    np.testing.assert_allclose(
        [low, high], [skewed.mean() - se * inv(q), skewed.mean() - se * inv(-q)]
    )
    # batched: rows are independent experiments
    batch = np.stack([x, skewed])
    np.testing.assert_allclose(np.column_stack(hall_t_interval(batch))[1], [low, high])


def test_median_interval_order_statistics_and_interpolation():
    # n = 5: no order-statistic interval reaches 95 %; [min, max] with its exact 1 - 2/32
    x5 = np.array([5.0, 1.0, 4.0, 2.0, 3.0])
    assert median_interval(x5) == (1.0, 5.0, 1 - 2 / 32)
    # n = 10: [x(2), x(9)] covers 97.9 %, [x(3), x(8)] 89.1 %; Hettmansperger-Sheather
    # interpolates between them: I = (0.9785 - 0.95) / (0.9785 - 0.8906), lam = 8 I / (2 + 6 I)
    x = np.arange(1.0, 11.0)
    g2, g3 = 1 - 2 * stats.binom.cdf(1, 10, 0.5), 1 - 2 * stats.binom.cdf(2, 10, 0.5)
    share = (g2 - 0.95) / (g2 - g3)
    lam = 8 * share / (2 + 6 * share)
    low, high, level = median_interval(x)
    assert (low, high, level) == pytest.approx((2 + lam, 9 - lam, 0.95))
    # it lies inside scipy's conservative order-statistic interval and outside the next one
    ci = stats.quantile_test(x, q=5.5, p=0.5).confidence_interval(0.95)
    assert ci.low <= low <= 3.0 and 8.0 <= high <= ci.high
    est = calibrated_ci(x5, "median")
    assert est.level == 1 - 2 / 32 and "exact level 93.8%" in est.note and not est.withheld


def test_iqm_interval_is_yuens_trimmed_t():
    x = np.random.default_rng(4).normal(0.8, 0.02, 13)
    low, high = iqm_interval(x)
    assert (low + high) / 2 == pytest.approx(iqm(x))
    # Yuen's standard error from scipy's trimmed two-sample t: a copy shifted by c has the same
    # se, so t = -c / sqrt(2 se^2)
    c = 0.01
    res = stats.ttest_ind(x, x + c, trim=0.25)
    se = c / abs(res.statistic) / np.sqrt(2)
    h = 13 - 2 * 3
    assert (high - low) / 2 == pytest.approx(stats.t.ppf(0.975, h - 1) * se)


def test_calibrated_intervals_are_withheld_below_min_seeds():
    rng = np.random.default_rng(5)
    for name, n_min in (("mean", MIN_SEEDS["mean"]), ("median", 5), ("iqm", 5)):
        short = calibrated_ci(rng.normal(size=n_min - 1), name)
        assert short.withheld and np.isfinite(short.point) and "needs >= " in short.note
        enough = calibrated_ci(rng.normal(size=n_min), name)
        assert not enough.withheld and enough.low < enough.point < enough.high
    s = summarize(rng.normal(size=5))
    assert s.mean_ci.withheld and not s.median_ci.withheld and not s.iqm_ci.withheld
    row = summaries_frame([s]).iloc[0]
    assert row["mean_note"] == "withheld: needs >= 6 seeds" and np.isnan(row["mean_low"])
    assert row["median_method"] == "order statistics" and row["iqm_method"].startswith("trimmed")
    assert Estimate(0.5, np.nan, np.nan, 0.95, "m", "withheld").format() == "0.500"
    assert Estimate(0.5, -np.inf, np.inf, 0.95, "m").format() == "0.500 [unbounded]"
