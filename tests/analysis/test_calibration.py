"""Do the intervals and tests that ``analyze`` reports keep their promise at 5, 10 and 26 seeds?

Every check simulates many experiments at once (arrays ``(repetitions, n)``) with fixed seeds, so
the suite is deterministic, and compares the rate with the band the issue asked for: 95 % intervals
cover in [0.93, 0.97], tests at alpha = 0.05 reject a true null in [0.03, 0.06]. Where a method
cannot reach the band at some n, analyze withholds the interval there and a test checks that it
does; where no method can (a failure mode absent from the sample, a discrete statistic), the test
pins the documented limit instead. docs/statistics.md has the table and the reasons.

Score models (MIoU-like, one score per seed; see :func:`draw`):

* ``normal``: 0.6 + 0.02 Z;
* ``skewed``: 0.62 - 0.02 L with L log-normal(0, 0.5): a tail of bad seeds, skewness -1.75;
* ``mixture``: 10 % of seeds collapse to 0.1 + 0.02 Z (failed training), the rest 0.6 + 0.02 Z.

Two architectures differ by a shift ``DELTA`` (0 under the null). Paired designs share a per-seed
effect N(0, 0.01) (same data order and initialization); unpaired designs draw independently.

``python -m tests.analysis.test_calibration`` prints the coverage table of docs/statistics.md
(more repetitions; a few minutes on 2 cores).
"""

from __future__ import annotations

import math
import sys
import warnings
import zlib
from functools import cache

import numpy as np
import pytest
from scipy import stats

from analysis.compare import (
    compare_pair,
    newcombe_interval,
    permutation_interval,
    permutation_pvalues,
    probability_of_improvement,
    wilson_interval,
)
from analysis.distributions import (
    MIN_SEEDS,
    calibrated_ci,
    iqm,
    iqm_interval,
    mean_interval,
    median_interval,
)
from analysis.power import band_k_max, best_of_k, jackknife_band

KINDS = ("normal", "skewed", "mixture")
SIZES = (5, 10, 26)
DELTA = 0.01  # half a seed-to-seed sd
COLLAPSE = 0.1  # share of collapsed seeds in the mixture
BAND = (0.93, 0.97)  # coverage of a 95 % interval
FPR_BAND = (0.03, 0.06)  # false-positive rate of a test at alpha = 0.05
FAST_REPS = 20_000  # closed-form intervals
PERM_REPS = 2_000  # permutation intervals and tests
PERM_RESAMPLES = 499  # random relabelings (else exact): p < 0.05 then rejects 2 x 12/500 = 4.8 %;
# the strict "<" makes other counts conservative (199: 4.0 %, 399: 4.5 %; 10,000 by default: 4.98 %)
TEST_REPS = 20_000  # scipy's rank and t tests


# ------------------------------------------------------------------------------ score models
def draw(kind: str, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Scores of one architecture, shape ``shape`` (last axis: seeds)."""
    z = rng.standard_normal(shape)
    if kind == "normal":
        return 0.6 + 0.02 * z
    if kind == "skewed":
        return 0.62 - 0.02 * np.exp(0.5 * z)
    if kind == "mixture":
        return np.where(rng.random(shape) < COLLAPSE, 0.1, 0.6) + 0.02 * z
    raise ValueError(kind)


def cdf(kind: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, float)
    if kind == "normal":
        return stats.norm.cdf((x - 0.6) / 0.02)
    if kind == "skewed":
        with np.errstate(divide="ignore", invalid="ignore"):
            tail = stats.norm.cdf(np.log(np.maximum((0.62 - x) / 0.02, 1e-300)) / 0.5)
        return np.where(x >= 0.62, 1.0, 1 - tail)
    g = stats.norm.cdf
    return (1 - COLLAPSE) * g((x - 0.6) / 0.02) + COLLAPSE * g((x - 0.1) / 0.02)


@cache
def quantiles(kind: str, grid: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """``(u, Q(u))`` on a midpoint grid of (0, 1), for the true values by integration."""
    u = (np.arange(grid) + 0.5) / grid
    if kind == "normal":
        return u, 0.6 + 0.02 * stats.norm.ppf(u)
    if kind == "skewed":
        return u, 0.62 - 0.02 * np.exp(0.5 * stats.norm.ppf(1 - u))
    lo, hi = np.full(grid, -0.5), np.full(grid, 1.5)
    for _ in range(60):  # bisection on the mixture's cdf
        mid = (lo + hi) / 2
        below = cdf(kind, mid) < u
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return u, (lo + hi) / 2


def truth(kind: str, statistic: str, k: int = 1) -> float:
    """Population value: mean, median, IQM (25 % trimmed mean), expected best of k, or
    P(improvement) = P(X > Y) for Y = X' - DELTA."""
    u, q = quantiles(kind)
    if statistic == "mean":
        return float(q.mean())
    if statistic == "median":
        return float(np.interp(0.5, u, q))
    if statistic == "iqm":
        return float(q[(u > 0.25) & (u < 0.75)].mean())
    if statistic == "best_of_k":
        return float((q * k * u ** (k - 1)).mean())
    if statistic == "p_improvement":
        return float(cdf(kind, q + DELTA).mean())
    raise ValueError(statistic)


def pair(kind: str, n: int, reps: int, seed: int, paired: bool, delta: float):
    """Scores ``(reps, n)`` of two architectures, the second ``delta`` worse."""
    rng = np.random.default_rng(seed)
    shared = 0.01 * rng.standard_normal((reps, n)) if paired else 0.0
    return draw(kind, rng, (reps, n)) + shared, draw(kind, rng, (reps, n)) + shared - delta


def _seed(*keys) -> int:
    """A fixed seed per check (crc32, not Python's salted hash: the same in every process)."""
    return zlib.crc32(repr(keys).encode())


def in_chunks(batched, x, y, chunk: int = 200, **options):
    """``batched(x, y, **options)`` on ``chunk`` experiments at a time (bounds the memory of the
    ``(chunk, relabelings, n)`` arrays); a Generator seed is consumed chunk after chunk."""
    parts = [
        batched(x[i : i + chunk], y[i : i + chunk], **options) for i in range(0, len(x), chunk)
    ]
    return tuple(np.concatenate(a) for a in zip(*parts))


def coverage(low, high, value) -> float:
    return float(np.mean((low <= value) & (value <= high)))


def assert_in(rate: float, band: tuple[float, float], what: str) -> None:
    assert band[0] <= rate <= band[1], f"{what}: {rate:.4f} outside [{band[0]}, {band[1]}]"


# ------------------------------------------------------------------- per-architecture intervals
def summary_coverage(kind: str, n: int, reps: int = FAST_REPS) -> dict[str, float]:
    x = draw(kind, np.random.default_rng(_seed("summary", kind, n)), (reps, n))
    low, high, _ = median_interval(x)
    return {
        "mean": coverage(*mean_interval(x), truth(kind, "mean")),
        "median": coverage(low, high, truth(kind, "median")),
        "iqm": coverage(*iqm_interval(x), truth(kind, "iqm")),
    }


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_summary_intervals_cover(kind, n):
    rates = summary_coverage(kind, n)
    for name in ("median", "iqm"):
        assert_in(rates[name], BAND, f"{name} interval, {kind}, n={n}")
    if n < MIN_SEEDS["mean"]:
        # skewed scores: 0.928 at n = 5 (docs): analyze withholds the mean's interval there
        x = draw(kind, np.random.default_rng(0), (n,))
        assert calibrated_ci(x, "mean").withheld
    elif kind != "mixture":
        assert_in(rates["mean"], BAND, f"mean interval, {kind}, n={n}")
    # the production path (one sample at a time) gives the batched intervals
    x = draw(kind, np.random.default_rng(_seed("summary", kind, n)), (3, n))
    for name, batched in (("median", median_interval), ("iqm", iqm_interval)):
        est = calibrated_ci(x[1], name)
        np.testing.assert_allclose([est.low, est.high], [b[1] for b in batched(x)[:2]])
        assert est.point == pytest.approx({"median": np.median, "iqm": iqm}[name](x[1]))


@pytest.mark.parametrize("n", SIZES)
def test_mean_interval_misses_only_unseen_collapses(n):
    """No interval of a mean can cover a failure mode absent from the sample (Bahadur-Savage):
    with 10 % collapsed seeds a sample has none with probability 0.9^n (59 % at 5 seeds, 35 % at
    10, 6.5 % at 26), and then the interval, built from healthy seeds only, mostly misses. That is
    the whole loss: it covers when a collapse is among the seeds."""
    rng = np.random.default_rng(_seed("collapse", n))
    collapsed = rng.random((FAST_REPS, n)) < COLLAPSE
    x = np.where(collapsed, 0.1, 0.6) + 0.02 * rng.standard_normal((FAST_REPS, n))
    low, high = mean_interval(x)
    mean = truth("mixture", "mean")
    covered = (low <= mean) & (mean <= high)
    seen = collapsed.any(axis=-1)
    assert covered[seen].mean() >= BAND[0]
    assert covered[~seen].mean() < 0.2
    assert covered.mean() < BAND[0]  # the documented limitation, at every n here
    assert calibrated_ci(x[0], "mean").withheld == (n < MIN_SEEDS["mean"])


# ----------------------------------------------------------------- differences (verdict lines)
@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_difference_interval_covers_and_permutation_test_holds_level(kind, n, paired):
    exact = (2**n if paired else math.comb(2 * n, n)) <= 100_000
    options = dict(paired=paired, n_resamples=PERM_RESAMPLES, exact=exact)
    rng = np.random.default_rng(_seed("difference", kind, n, paired))
    x, y = pair(kind, n, PERM_REPS, int(rng.integers(2**31)), paired, DELTA)
    low, high = in_chunks(permutation_interval, x, y, seed=rng, **options)
    x0, y0 = pair(kind, n, PERM_REPS, int(rng.integers(2**31)), paired, 0.0)
    _, p = in_chunks(permutation_pvalues, x0, y0, seed=rng, **options)
    if paired and n == 5:
        # 32 sign flips: the smallest p is 2/32, so no shift is ever rejected and every interval
        # is unbounded (withheld in effect); the verdict says the seeds cannot detect anything
        assert np.isinf(low).all() and np.isinf(high).all() and not (p < 0.05).any()
        c = compare_pair(x[0], y[0], paired=True)
        assert "5 pairs cannot reach p < 0.05" in c.verdict() and c.min_pvalue == 2 / 32
        return
    assert_in(coverage(low, high, DELTA), BAND, f"difference interval, {kind}, n={n}, {paired=}")
    assert_in(float(np.mean(p < 0.05)), FPR_BAND, f"permutation test, {kind}, n={n}, {paired=}")


def test_old_bca_difference_interval_fails_the_check():
    """The check can fail: the BCa bootstrap interval of the paired mean difference that the
    verdicts used to print covers about 0.90 at 10 normal pairs."""
    x, y = pair("normal", 10, PERM_REPS, 1, True, DELTA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap((x - y,), np.mean, axis=-1, method="BCa", n_resamples=999, rng=2)
    rate = coverage(res.confidence_interval.low, res.confidence_interval.high, DELTA)
    assert rate < BAND[0]
    # and so does the plain t interval of the mean (no skewness correction) for skewed scores
    s = draw("skewed", np.random.default_rng(3), (FAST_REPS, 10))
    t_low, t_high = stats.t.interval(0.95, 9, loc=s.mean(-1), scale=stats.sem(s, axis=-1))
    assert coverage(t_low, t_high, truth("skewed", "mean")) < BAND[0]


# ------------------------------------------------------------------------ P(improvement)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_unpaired_p_improvement_interval_covers(kind, n):
    x, y = pair(kind, n, FAST_REPS, _seed("auc", kind, n), False, DELTA)
    theta = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
    low, high = newcombe_interval(theta, n, n)
    assert_in(coverage(low, high, truth(kind, "p_improvement")), BAND, f"P(a>b), {kind}, {n=}")
    est = probability_of_improvement(x[0], y[0])
    assert (est.point, est.low, est.high) == pytest.approx((theta[0], low[0], high[0]))


def exact_wilson_coverage(n: int, p: np.ndarray) -> np.ndarray:
    wins = np.arange(n + 1)
    low, high = wilson_interval(wins, n)
    inside = (low[:, None] <= p) & (p <= high[:, None])
    return (stats.binom.pmf(wins[:, None], n, p) * inside).sum(axis=0)


@pytest.mark.parametrize("n", SIZES)
def test_paired_p_improvement_interval_covers_on_average(n):
    """Per-seed wins are binomial, so the coverage depends on P(improvement) alone and jumps with
    it (at P = 0.5 and 10 pairs every symmetric interval covers 97.9 % or 89.1 %; no interval
    from a count can be inside [0.93, 0.97] there). The Wilson interval keeps the band on average
    over P in [0.05, 0.95] and stays above 0.89 everywhere; the simulation with each score model
    matches the exact binomial coverage at its P."""
    grid = np.linspace(0.05, 0.95, 181)
    exact = exact_wilson_coverage(n, grid)
    assert_in(float(exact.mean()), BAND, f"Wilson coverage averaged over P, {n=}")
    assert exact.min() > 0.89
    for kind in KINDS:
        x, y = pair(kind, n, FAST_REPS, _seed("wilson", kind, n), True, DELTA)
        d = x - y
        wins = (d > 0).sum(-1) + 0.5 * (d == 0).sum(-1)
        low, high = wilson_interval(wins, n)
        p_true = truth(kind, "p_improvement")
        expected = float(exact_wilson_coverage(n, np.array([p_true]))[0])
        assert coverage(low, high, p_true) == pytest.approx(expected, abs=0.006)
        est = probability_of_improvement(x[0], y[0], paired=True)
        assert (est.low, est.high) == pytest.approx((low[0], high[0]))


# ------------------------------------------------------------------------------- best of k
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_best_of_k_band_covers_where_shown(kind, n):
    k_max = band_k_max(n)
    x = draw(kind, np.random.default_rng(_seed("best_of_k", kind, n)), (FAST_REPS // 2, n))
    curve = best_of_k(x[0])
    assert np.isfinite(curve.low[:k_max]).all() and np.isnan(curve.low[k_max:]).all()
    if k_max == 0:  # 5 seeds: withheld
        assert "withheld" in curve.note
        return
    low, high = jackknife_band(x)
    np.testing.assert_allclose(
        [curve.low[:k_max], curve.high[:k_max]], [low[0, :k_max], high[0, :k_max]]
    )
    for k in range(1, k_max + 1):
        value = truth(kind, "best_of_k", k)
        covered = (low[:, k - 1] <= value) & (value <= high[:, k - 1])
        if kind == "mixture" and k <= 2:
            # the best of 1 or 2 seeds is a collapse with probability 10 % or 1 %: the same
            # unseen-failure limit as the mean (docs/statistics.md). With k collapsed seeds in
            # the sample (healthy ones are near 0.6) the band covers.
            seen = (x < 0.35).sum(axis=-1) >= k
            assert covered.mean() < BAND[0] and covered[seen].mean() >= BAND[0]
            continue
        assert_in(covered.mean(), BAND, f"best-of-{k} band, {kind}, {n=}")
    # the old percentile band fails the same check beyond k = 2
    if kind == "normal" and n == 26:
        rng = np.random.default_rng(4)
        sub = x[:1000]
        idx = rng.integers(0, n, (1000, 400, n))
        from analysis.power import expected_max_of_k

        boot = expected_max_of_k(np.take_along_axis(sub[:, None, :], idx, -1))[..., 4]
        lo, hi = np.quantile(boot, [0.025, 0.975], axis=1)
        assert coverage(lo, hi, truth(kind, "best_of_k", 5)) < BAND[0]


# ------------------------------------------------------------- false positives of the tests
def rank_and_t_tests(kind: str, n: int, reps: int = TEST_REPS) -> dict[str, np.ndarray]:
    """p-values under the null of the four classical tests compare_pair reports."""
    xp, yp = pair(kind, n, reps, _seed("tests", kind, n, True), True, 0.0)
    xi, yi = pair(kind, n, reps, _seed("tests", kind, n, False), False, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "Wilcoxon signed-rank": stats.wilcoxon(xp, yp, axis=-1).pvalue,
            "paired t": stats.ttest_rel(xp, yp, axis=-1).pvalue,
            "Mann-Whitney U": stats.mannwhitneyu(xi, yi, axis=-1).pvalue,
            "Welch t": stats.ttest_ind(xi, yi, axis=-1, equal_var=False).pvalue,
        }


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_rank_and_t_tests_hold_their_level(kind, n):
    for name, p in rank_and_t_tests(kind, n).items():
        rate = float(np.mean(p < 0.05))
        if name == "Wilcoxon signed-rank" and n == 5:
            assert rate == 0.0  # exact: the smallest two-sided p with 5 pairs is 2/32
        elif name == "Mann-Whitney U" and n == 5:
            # exact and distribution-free: U <= 2 or >= 23 of 252 arrangements, 8/252 = 0.0317
            assert_in(8 / 252, FPR_BAND, "Mann-Whitney U, 5 + 5")
            assert rate == pytest.approx(8 / 252, abs=0.004)
        elif kind == "mixture" and name.endswith(" t") and n <= 10:
            # a collapsed seed inflates the sd: the t tests are conservative (about 0.015-0.02),
            # i.e. they lose power; they never exceed the level
            assert rate <= FPR_BAND[1]
        else:
            assert_in(rate, FPR_BAND, f"{name}, {kind}, {n=}")


def _cell(rate: float, shown: bool = True) -> str:
    return f"{rate:.3f}" if shown else f"({rate:.3f}) withheld"


def coverage_table(fast: int = 50_000, perm: int = 4_000) -> list[str]:  # pragma: no cover
    """Markdown rows of docs/statistics.md: coverage of every interval, false positives of every
    test, for each score model and n in SIZES."""
    rows = [
        "| statistic | method | scores | n = 5 | n = 10 | n = 26 |",
        "|---|---|---|---:|---:|---:|",
    ]

    def add(name, method, kind, cells):
        rows.append(f"| {name} | {method} | {kind} | {' | '.join(cells)} |")

    for kind in KINDS:
        rates = {n: summary_coverage(kind, n, fast) for n in SIZES}
        add(
            "mean",
            "t, Hall skewness-corrected",
            kind,
            [_cell(rates[n]["mean"], n >= MIN_SEEDS["mean"]) for n in SIZES],
        )
        add(
            "median",
            "order statistics, Hettmansperger-Sheather",
            kind,
            [_cell(rates[n]["median"]) for n in SIZES],
        )
        add(
            "IQM",
            "trimmed-mean t (Tukey-McLaughlin/Yuen)",
            kind,
            [_cell(rates[n]["iqm"]) for n in SIZES],
        )
    for paired in (True, False):
        for kind in KINDS:
            cells = []
            for n in SIZES:
                exact = (2**n if paired else math.comb(2 * n, n)) <= 100_000
                x, y = pair(kind, n, perm, _seed("table", kind, n, paired), paired, DELTA)
                low, high = in_chunks(
                    permutation_interval,
                    x,
                    y,
                    seed=1,
                    paired=paired,
                    n_resamples=PERM_RESAMPLES,
                    exact=exact,
                )
                rate = coverage(low, high, DELTA)
                cells.append("unbounded" if np.isinf(low).all() else _cell(rate))
            add(
                f"mean difference, {'paired' if paired else 'unpaired'}",
                "permutation test inverted",
                kind,
                cells,
            )
    for paired in (True, False):
        for kind in KINDS:
            cells = []
            for n in SIZES:
                x, y = pair(kind, n, fast, _seed("table-p", kind, n, paired), paired, DELTA)
                if paired:
                    d = x - y
                    low, high = wilson_interval((d > 0).sum(-1) + 0.5 * (d == 0).sum(-1), n)
                else:
                    theta = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
                    low, high = newcombe_interval(theta, n, n)
                cells.append(_cell(coverage(low, high, truth(kind, "p_improvement"))))
            method = "Wilson score" if paired else "Newcombe score"
            add(f"P(improvement), {'paired' if paired else 'unpaired'}", method, kind, cells)
    for k in (1, 2, 4):
        for kind in KINDS:
            cells = []
            for n in SIZES:
                if k >= n:
                    cells.append("")
                    continue
                x = draw(kind, np.random.default_rng(_seed("table-k", kind, n)), (fast // 4, n))
                low, high = jackknife_band(x)
                rate = coverage(low[:, k - 1], high[:, k - 1], truth(kind, "best_of_k", k))
                cells.append(_cell(rate, k <= band_k_max(n)))
            add(f"best of {k}", "jackknife t, Hall skewness-corrected", kind, cells)
    rows += [
        "",
        "| test (alpha = 0.05) | scores | n = 5 | n = 10 | n = 26 |",
        "|---|---|---:|---:|---:|",
    ]
    for paired in (True, False):
        for kind in KINDS:
            cells = []
            for n in SIZES:
                exact = (2**n if paired else math.comb(2 * n, n)) <= 100_000
                x, y = pair(kind, n, perm, _seed("table-fpr", kind, n, paired), paired, 0.0)
                _, p = in_chunks(
                    permutation_pvalues,
                    x,
                    y,
                    seed=2,
                    paired=paired,
                    n_resamples=PERM_RESAMPLES,
                    exact=exact,
                )
                cells.append(f"{np.mean(p < 0.05):.3f}")
            name = "sign-flip" if paired else "unpaired"
            rows.append(f"| permutation, {name} | {kind} | {' | '.join(cells)} |")
    for kind in KINDS:
        tests = {n: rank_and_t_tests(kind, n, fast) for n in SIZES}
        for name in tests[SIZES[0]]:
            cells = [f"{np.mean(tests[n][name] < 0.05):.3f}" for n in SIZES]
            rows.append(f"| {name} | {kind} | {' | '.join(cells)} |")
    return rows  # fmt: skip


if __name__ == "__main__":  # pragma: no cover - regenerates the tables of docs/statistics.md
    fast = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    perm = int(sys.argv[2]) if len(sys.argv) > 2 else 4_000
    print("\n".join(coverage_table(fast, perm)))
