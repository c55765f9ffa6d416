"""Is architecture A better than B, or did it get lucky seeds?

Two samples of scores (one per instance) are compared by a permutation test on the difference of
means (the primary test, corrected for multiple comparisons), a rank test and a t test, with a
bootstrap interval of the difference, effect sizes (Hedges' g, Cliff's delta) and the probability
of improvement. When both architectures were trained with the same seeds the instances are paired
(seed i shares data order and initialization) and the paired versions are used: sign-flip
permutations, Wilcoxon signed-rank, paired t, bootstrap of the per-seed differences.
"""

from __future__ import annotations

import gc
import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis._seeding import Seed, as_generator, derive
from analysis.distributions import CALIBRATED, MIN_SEEDS, Estimate, alpha_from_level, bootstrap_ci

__all__ = [
    "CORRECTIONS",
    "Comparison",
    "PermutationResult",
    "ShiftCurve",
    "TestResult",
    "adjust_pvalues",
    "align",
    "apply_correction",
    "cliffs_delta",
    "compare_all_pairs",
    "compare_pair",
    "compare_to_reference",
    "comparisons_frame",
    "hedges_g",
    "n_distinct_permutations",
    "newcombe_interval",
    "permutation_interval",
    "permutation_pvalues",
    "permutation_test",
    "probability_of_improvement",
    "wilson_interval",
]

#: ``correction`` names accepted here -> :func:`statsmodels.stats.multitest.multipletests` method.
CORRECTIONS: dict[str, str | None] = {
    "holm": "holm",
    "bh": "fdr_bh",
    "fdr_bh": "fdr_bh",
    "bonferroni": "bonferroni",
    "none": None,
}
_CORRECTION_LABELS = {
    "holm": "Holm",
    "bh": "BH",
    "fdr_bh": "BH",
    "bonferroni": "Bonferroni",
    "none": "",
}
_ALTERNATIVES = ("two-sided", "greater", "less")


# ------------------------------------------------------------------------------ effect sizes
def hedges_g(x: np.ndarray, y: np.ndarray) -> float:
    """Bias-corrected standardized mean difference ``(mean x - mean y) / s_pooled * J``.

    ``J = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2))`` with ``df = n_x + n_y - 2`` (Hedges 1981;
    about ``1 - 3 / (4 df - 1)``). NaN when ``df < 2`` or both samples are constant.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    df = x.size + y.size - 2
    if df < 2:
        return float("nan")
    pooled = ((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / df
    if pooled == 0:
        return float("nan")
    j = math.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    return float(j * (x.mean() - y.mean()) / math.sqrt(pooled))


def cliffs_delta(x: np.ndarray, y: np.ndarray) -> float:
    """``P(X > Y) - P(X < Y)`` over all ``n_x * n_y`` pairs; in [-1, 1]."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size == 0 or y.size == 0:
        return float("nan")
    diff = x[:, None] - y[None, :]
    return float(np.sign(diff).mean())


def _prob_greater(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    # All-pairs P(X > Y) + 0.5 P(X = Y), vectorized over leading axes (scipy's bootstrap passes
    # (..., n) resamples, and for BCa jackknife samples whose leading axes must broadcast).
    x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
    gt = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
    eq = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
    return gt + 0.5 * eq


def _prob_positive(d: np.ndarray, axis: int = -1) -> np.ndarray:
    # Paired P(x_i > y_i) + 0.5 P(x_i = y_i) from the differences d = x - y.
    return (d > 0).mean(axis=axis) + 0.5 * (d == 0).mean(axis=axis)


def wilson_interval(
    wins: np.ndarray | float, n: int, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion ``wins / n`` (fractional wins, e.g. half ties, allowed).

    :func:`statsmodels.stats.proportion.proportion_confint` with ``method="wilson"``, batched.
    """
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(
        np.asarray(wins, float), n, alpha=alpha_from_level(level), method="wilson"
    )
    return np.asarray(low, float), np.asarray(high, float)


def newcombe_interval(
    theta: np.ndarray | float, n_x: int, n_y: int, level: float = 0.95, iterations: int = 60
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's (2006) score interval ("method 5") for ``theta = P(X > Y)`` of two samples.

    Solves ``(theta_hat - theta)^2 = z^2 V(theta)`` on each side of ``theta_hat`` with the
    Hanley-McNeil variance made symmetric in the sample sizes:
    ``V = theta (1 - theta) [1 + (N* - 1)((1 - theta) / (2 - theta) + theta / (1 + theta))] /
    (n_x n_y)``, ``N* = (n_x + n_y) / 2``. Batched over ``theta``; bisection, ``iterations``
    halvings of [0, 1] (60: double precision).

    Args:
        theta: estimates ``U / (n_x n_y)`` (ties 1/2), any shape.
        n_x, n_y: sample sizes.
        level: confidence level.
    """
    theta = np.asarray(theta, float)
    z2 = stats.norm.ppf(1 - alpha_from_level(level) / 2) ** 2
    half = (n_x + n_y) / 2 - 1

    def excess(t):
        # > 0 outside the interval: the squared distance beats z^2 times the variance at t.
        v = t * (1 - t) * (1 + half * ((1 - t) / (2 - t) + t / (1 + t))) / (n_x * n_y)
        return (theta - t) ** 2 - z2 * v

    lo_out, lo_in = np.zeros_like(theta), theta.copy()
    hi_in, hi_out = theta.copy(), np.ones_like(theta)
    for _ in range(iterations):
        mid = (lo_out + lo_in) / 2
        outside = excess(mid) > 0
        lo_out, lo_in = np.where(outside, mid, lo_out), np.where(outside, lo_in, mid)
        mid = (hi_in + hi_out) / 2
        outside = excess(mid) > 0
        hi_in, hi_out = np.where(outside, hi_in, mid), np.where(outside, mid, hi_out)
    return (lo_out + lo_in) / 2, (hi_in + hi_out) / 2


#: ``Estimate.method`` of the calibrated P(improvement) intervals.
P_IMPROVEMENT_METHODS = {True: "Wilson score (seeds won)", False: "Newcombe score (Mann-Whitney)"}


def probability_of_improvement(
    x: np.ndarray,
    y: np.ndarray,
    *,
    paired: bool = False,
    level: float = 0.95,
    method: str = "auto",
    n_resamples: int = 10_000,
    seed: Seed = 0,
) -> Estimate:
    """``P(X > Y)`` (ties count 1/2) with a confidence interval.

    Independent samples: over all pairs (``U / (n_x n_y)`` of Mann-Whitney), with Newcombe's score
    interval (:func:`newcombe_interval`). Paired samples (``x[i]``, ``y[i]`` share seed i): the
    fraction of seeds where x beats y, a binomial proportion, with the Wilson interval. The
    simulation (docs/statistics.md) chose both; the interval is withheld below
    ``MIN_SEEDS["p_improvement"]`` seeds per architecture.

    Args:
        x, y: scores ``(n_x,)``, ``(n_y,)``; aligned by seed when paired.
        paired: per-seed comparison instead of all pairs.
        level: confidence level.
        method: "auto" (the above) or a bootstrap method of
            :func:`~analysis.distributions.bootstrap_ci` ("BCa", "percentile", "basic"; seeds
            are resampled, too narrow at small n).
        n_resamples, seed: bootstrap only.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if method.lower() != CALIBRATED:
        if paired:
            return bootstrap_ci(
                x - y,
                _prob_positive,
                level=level,
                method=method,
                n_resamples=n_resamples,
                seed=seed,
            )
        return bootstrap_ci(
            (x, y), _prob_greater, level=level, method=method, n_resamples=n_resamples, seed=seed
        )
    name = P_IMPROVEMENT_METHODS[bool(paired)]
    nan = float("nan")
    if x.size == 0 or y.size == 0:
        return Estimate(nan, nan, nan, level, name)
    point = float(_prob_positive(x - y) if paired else _prob_greater(x, y))
    if min(x.size, y.size) < MIN_SEEDS["p_improvement"]:
        note = f"withheld: needs >= {MIN_SEEDS['p_improvement']} seeds"
        return Estimate(point, nan, nan, level, name, note)
    if paired:
        low, high = wilson_interval(point * x.size, x.size, level)
    else:
        low, high = newcombe_interval(point, x.size, y.size, level)
    return Estimate(point, float(low), float(high), level, name)


# -------------------------------------------------------------------------- permutation test
@dataclass(frozen=True)
class PermutationResult:
    """Permutation test of the difference of means ``mean(x) - mean(y)``."""

    statistic: float
    pvalue: float
    exact: bool
    n_permutations: int
    alternative: str


def n_distinct_permutations(n_x: int, n_y: int, paired: bool) -> int:
    """Distinct relabelings: ``2**n`` sign flips when paired, else ``C(n_x + n_y, n_x)``."""
    return 2**n_x if paired else math.comb(n_x + n_y, n_x)


def permutation_test(
    x: np.ndarray,
    y: np.ndarray,
    *,
    paired: bool = False,
    n_resamples: int = 10_000,
    seed: Seed = 0,
    alternative: str = "two-sided",
    exact_limit: int = 100_000,
) -> PermutationResult:
    """Permutation test on ``mean(x) - mean(y)``.

    Enumerates every relabeling when there are at most ``max(exact_limit, n_resamples)`` of them,
    otherwise draws ``n_resamples`` random ones. The p-value equals that of
    ``scipy.stats.permutation_test((x, y), statistic, permutation_type="independent"`` (or
    ``"samples"`` when paired), ``n_resamples=..., rng=seed)`` with the statistic
    ``mean(x) - mean(y)`` (``mean(x - y)`` when paired); in the exact case scipy needs
    ``n_resamples=np.inf``. This implementation is batched (see :func:`permutation_pvalues`).

    Args:
        x, y: scores, shape ``(n_x,)`` and ``(n_y,)``; equal length and aligned by seed when paired.
        paired: permute within pairs (sign flips of the differences) instead of across samples.
        n_resamples: random relabelings when not enumerating.
        seed: int or Generator.
        alternative: "two-sided", "greater" (mean x > mean y) or "less".
        exact_limit: enumerate when the number of relabelings is at most this.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    n_max = n_distinct_permutations(x.size, y.size, paired)
    exact = n_max <= max(exact_limit, n_resamples)
    stat, p = permutation_pvalues(
        x,
        y,
        paired=paired,
        n_resamples=n_resamples,
        seed=seed,
        alternative=alternative,
        exact=exact,
    )
    return PermutationResult(
        float(stat), float(p), exact, int(n_max if exact else n_resamples), alternative
    )


def permutation_pvalues(
    x: np.ndarray,
    y: np.ndarray,
    *,
    paired: bool = False,
    n_resamples: int = 10_000,
    seed: Seed = 0,
    alternative: str = "two-sided",
    exact: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Batched permutation test on the difference of means, scipy's algorithm in numpy.

    Args:
        x, y: shape ``(..., n_x)`` and ``(..., n_y)`` with equal leading (batch) shapes; each batch
            element is one experiment with its own random relabelings.
        paired: sign flips of ``x - y`` (``n_x == n_y``) instead of permutations of the pooled data.
        n_resamples: random relabelings per experiment (ignored when ``exact``).
        seed: int or Generator. For a single experiment (1-D inputs) the random stream is consumed
            exactly as :func:`scipy.stats.permutation_test` consumes it, so p-values agree.
        alternative: "two-sided", "greater" or "less".
        exact: enumerate every relabeling (the same set for all experiments).

    Returns:
        ``(statistic, pvalue)``, each of the batch shape.
    """
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    null = _null_distribution(x, y, paired, n_resamples, seed, exact)
    return null.observed, null.pvalue(alternative)


@dataclass(frozen=True, eq=False)
class _Null:
    """Relabeled statistics of a batch of permutation tests, as functions of a shift of ``x``.

    Testing ``mean(x) - mean(y) = delta`` means testing zero on ``(x - delta, y)``. Every
    relabeling's statistic is then linear in ``delta``: ``null - delta * slope`` against the
    observed ``observed - delta``. ``slope`` is ``mean(signs)`` for sign flips, and
    ``k / n_x - (n_x - k) / n_y`` when a relabeling keeps ``k`` of the x values in the x group;
    it is 1 exactly for relabelings that keep x together (the identity), whose statistic moves
    with the observed one.
    """

    null: np.ndarray  # (..., N)
    observed: np.ndarray  # (...)
    slope: np.ndarray  # (..., N)
    adjustment: int  # 1 for random relabelings (the observed labeling is counted), 0 if exact

    @property
    def size(self) -> int:
        return self.null.shape[-1]

    def sides(self) -> tuple[np.ndarray, np.ndarray]:
        """Relabelings ``<=`` and ``>=`` the observed statistic (at ``delta = 0``)."""
        # Relative tolerance for numerically distinct but theoretically equal values (as scipy).
        gamma = np.abs(np.finfo(float).eps * 100 * self.observed)[..., None]
        obs = self.observed[..., None]
        return self.null <= obs + gamma, self.null >= obs - gamma

    def pvalue(self, alternative: str = "two-sided") -> np.ndarray:
        less, greater = self.sides()
        p_less = _tail_pvalue(np.count_nonzero(less, axis=-1), self.size, self.adjustment)
        p_greater = _tail_pvalue(np.count_nonzero(greater, axis=-1), self.size, self.adjustment)
        p = {"less": p_less, "greater": p_greater, "two-sided": 2 * np.minimum(p_less, p_greater)}
        return np.clip(p[alternative], 0.0, 1.0)

    def breakpoints(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each relabeling crosses the observed statistic as ``delta`` grows.

        Relabeling ``i`` counts towards ``p_greater(delta)`` exactly for ``delta >= t_i`` and
        towards ``p_less(delta)`` for ``delta <= t_i`` (the slope is below 1), so both tail counts
        are monotone and the accepted shifts form an interval. Ties at ``delta = 0`` within
        scipy's tolerance are put at exactly 0, so the counts at 0 equal those of the p-value.

        Returns:
            ``(t, fixed_greater, fixed_less)``: ``t`` sorted ascending, shape ``(..., N)``, NaN
            (sorted last) for the slope-1 relabelings, which count in a tail for every delta;
            ``fixed_*`` count those per tail.
        """
        less, greater = self.sides()
        fixed = self.slope >= 1
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.observed[..., None] - self.null) / (1 - self.slope)
        t = np.where(fixed, np.nan, np.where(less & greater, 0.0, t))
        return (
            np.sort(t, axis=-1),
            np.count_nonzero(fixed & greater, axis=-1),
            np.count_nonzero(fixed & less, axis=-1),
        )


def _tail_pvalue(count, n: int, adjustment: int):
    # One place for the tail p-value, so the interval's acceptance rule is the same arithmetic.
    return (count + adjustment) / (n + adjustment)


def _null_distribution(x, y, paired, n_resamples, seed, exact) -> _Null:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape[-1] < 2 or y.shape[-1] < 2:
        raise ValueError("each sample needs at least two observations")
    build = _null_paired if paired else _null_independent
    null, observed, slope = build(x, y, n_resamples, seed, exact)
    return _Null(null, observed, slope, 0 if exact else 1)


def _null_independent(x, y, n_resamples, seed, exact):
    n_x, n_y = x.shape[-1], y.shape[-1]
    data = np.concatenate([x, y], axis=-1)
    n = data.shape[-1]
    if exact:
        combos = np.array(list(itertools.combinations(range(n), n_x)), dtype=np.intp)
        chosen = np.zeros((len(combos), n), dtype=bool)
        np.put_along_axis(chosen, combos, True, axis=1)
        # each row: the chosen indices in order, then the others in order
        order = np.argsort(~chosen, axis=1, kind="stable")
        index = np.broadcast_to(order, (*data.shape[:-1], len(combos), n))
    else:
        # scipy draws rng.permutation(n) once per resample; permuted() on rows consumes the
        # stream identically, and extra leading axes give each experiment its own draws.
        rng = as_generator(seed)
        index = rng.permuted(
            np.broadcast_to(np.arange(n), (*data.shape[:-1], n_resamples, n)), axis=-1
        )
    permuted = np.take_along_axis(data[..., None, :], index, axis=-1)
    null = permuted[..., :n_x].mean(axis=-1) - permuted[..., n_x:].mean(axis=-1)
    kept = np.count_nonzero(index[..., :n_x] < n_x, axis=-1)
    slope = kept / n_x - (n_x - kept) / n_y
    return null, x.mean(axis=-1) - y.mean(axis=-1), slope


def _null_paired(x, y, n_resamples, seed, exact):
    if x.shape != y.shape:
        raise ValueError(f"paired samples need equal shapes, got {x.shape} and {y.shape}")
    d = x - y
    n = d.shape[-1]
    if exact:
        flip = ((np.arange(2**n)[:, None] >> np.arange(n)[::-1]) & 1).astype(bool)
        flip = np.broadcast_to(flip, (*d.shape[:-1], 2**n, n))
    else:
        # scipy ("samples") permutes the two members of each pair: one permutation of (0, 1) per
        # pair and resample; the pair is swapped when index 1 comes first.
        rng = as_generator(seed)
        pairs = np.broadcast_to(np.arange(2), (*d.shape[:-1], n_resamples, n, 2))
        flip = rng.permuted(pairs, axis=-1)[..., 0] == 1
    null = np.where(flip, -d[..., None, :], d[..., None, :]).mean(axis=-1)
    slope = (n - 2 * np.count_nonzero(flip, axis=-1)) / n
    return null, d.mean(axis=-1), slope


def _accepting_count(n: int, adjustment: int, accept) -> int:
    """Smallest tail count whose two-sided p-value ``accept`` keeps (``n + 1``: none).

    ``accept`` maps p-values to booleans with the same arithmetic as the decision it mirrors
    (``p >= alpha``, Holm's ``p * k >= alpha``, BH's ``p / (R / m) >= alpha``), so an interval
    excludes 0 exactly when that decision rejects.
    """
    counts = np.arange(n + 1)
    p = np.clip(2 * _tail_pvalue(counts, n, adjustment), 0.0, 1.0)
    ok = np.asarray(accept(p), dtype=bool)
    return int(np.argmax(ok)) if ok.any() else n + 1


def permutation_interval(
    x: np.ndarray,
    y: np.ndarray,
    *,
    paired: bool = False,
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: Seed = 0,
    exact: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Confidence interval of the mean difference that inverts the permutation test, batched.

    The interval holds every shift ``delta`` for which the two-sided permutation test of
    ``(x - delta, y)`` (sign flips of ``x - y - delta`` when paired), run on one fixed set of
    relabelings, gives ``p >= 1 - level``. It therefore excludes 0 exactly when
    :func:`permutation_pvalues` with the same seed rejects at ``1 - level``, and its coverage is
    that of the test: exact when ``y`` is ``x`` shifted (any distribution; for paired data, when
    the per-seed differences are symmetric about their mean). It is unbounded when no shift can
    be rejected (e.g. 5 pairs: 32 sign flips, smallest p = 2/32 > 0.05).

    Args:
        x, y: shape ``(..., n_x)`` and ``(..., n_y)``, equal leading (batch) shapes.
        paired, n_resamples, seed, exact: as :func:`permutation_pvalues` (same relabelings).
        level: confidence level.

    Returns:
        ``(low, high)``, each of the batch shape.
    """
    null = _null_distribution(x, y, paired, n_resamples, seed, exact)
    alpha = alpha_from_level(level)
    count = _accepting_count(null.size, null.adjustment, lambda p: p >= alpha)
    return _interval_from_breakpoints(*null.breakpoints(), count)


def _interval_from_breakpoints(t, fixed_greater, fixed_less, count):
    # Lower end: the shift where p_greater's count reaches ``count``; upper: p_less's.
    t = np.asarray(t, float)
    finite = np.count_nonzero(~np.isnan(t), axis=-1)
    need_low = count - np.asarray(fixed_greater)
    need_high = count - np.asarray(fixed_less)
    if t.shape[-1] == 0:
        pick_low = pick_high = np.full(finite.shape, np.nan)
    else:
        last = t.shape[-1] - 1
        pick_low = np.take_along_axis(t, np.clip(need_low - 1, 0, last)[..., None], -1)[..., 0]
        pick_high = np.take_along_axis(t, np.clip(finite - need_high, 0, last)[..., None], -1)[
            ..., 0
        ]
    low = np.where(need_low <= 0, -np.inf, np.where(need_low <= finite, pick_low, np.nan))
    high = np.where(need_high <= 0, np.inf, np.where(need_high <= finite, pick_high, np.nan))
    return low, high


@dataclass(frozen=True, eq=False)
class ShiftCurve:
    """The permutation test's verdict on every hypothesized difference, for later intervals.

    Keeps the tails of the sorted breakpoints (:meth:`_Null.breakpoints`) of one comparison, enough
    to invert the test at any level ``alpha <= max_alpha`` (a family-wise adjusted level included)
    without rerunning it.
    """

    low_tail: np.ndarray  # smallest breakpoints, ascending
    high_tail: np.ndarray  # largest breakpoints, descending
    fixed_greater: int
    fixed_less: int
    n_relabelings: int
    adjustment: int
    max_alpha: float

    @classmethod
    def from_null(cls, null: _Null, max_alpha: float) -> ShiftCurve:
        t, fixed_greater, fixed_less = null.breakpoints()
        t = t[~np.isnan(t)]
        keep = min(t.size, math.ceil(max_alpha * (null.size + null.adjustment) / 2) + 2)
        return cls(
            t[:keep].copy(),
            t[::-1][:keep].copy(),
            int(fixed_greater),
            int(fixed_less),
            null.size,
            null.adjustment,
            max_alpha,
        )

    def interval(self, accept) -> tuple[float, float]:
        """The shifts whose two-sided p-value ``p`` satisfies ``accept(p)`` (see
        :func:`_accepting_count`); ``accept`` must not keep less than ``p >= max_alpha`` does."""
        count = _accepting_count(self.n_relabelings, self.adjustment, accept)
        low = (
            -math.inf
            if count <= self.fixed_greater
            else self._pick(self.low_tail, count - self.fixed_greater)
        )
        high = (
            math.inf
            if count <= self.fixed_less
            else self._pick(self.high_tail, count - self.fixed_less)
        )
        return low, high

    @staticmethod
    def _pick(tail: np.ndarray, need: int) -> float:
        if need > tail.size:
            return float("nan")
        return float(tail[need - 1])

    @property
    def min_pvalue(self) -> float:
        """The smallest two-sided p-value any shift can get: how far this design can go."""
        count = min(self.fixed_greater, self.fixed_less)
        return float(min(1.0, 2 * _tail_pvalue(count, self.n_relabelings, self.adjustment)))


# ----------------------------------------------------------------------- family-wise control
def _correction_method(correction: str) -> str | None:
    try:
        return CORRECTIONS[correction.lower()]
    except KeyError:
        raise ValueError(
            f"unknown correction {correction!r}; use one of {', '.join(CORRECTIONS)}"
        ) from None


def adjust_pvalues(pvalues: Sequence[float], correction: str = "holm") -> np.ndarray:
    """Family-wise adjusted p-values via :func:`statsmodels.stats.multitest.multipletests`.

    ``correction``: "holm" (default), "bh" (Benjamini-Hochberg FDR), "bonferroni" or "none".
    NaN p-values (tests that could not be run) stay NaN and are not counted in the family.
    """
    method = _correction_method(correction)
    p = np.asarray(pvalues, dtype=float)
    out = p.copy()
    ok = ~np.isnan(p)
    if method is None or not ok.any():
        return out
    from statsmodels.stats.multitest import multipletests

    # statsmodels' Holm branch calls gc.collect(), a full-heap walk that takes ~0.15 s once torch
    # is loaded; freezing the existing objects for the call makes it scan only new ones.
    gc.freeze()
    try:
        out[ok] = multipletests(p[ok], method=method)[1]
    finally:
        gc.unfreeze()
    return out


# ------------------------------------------------------------------------------- comparisons
@dataclass(frozen=True)
class TestResult:
    """A classical test: its name, statistic and two-sided p-value (NaN when undefined)."""

    name: str
    statistic: float
    pvalue: float


@dataclass(frozen=True)
class Comparison:
    """Architecture ``a`` against ``b`` on one metric; differences are ``a - b``.

    ``n_a``/``n_b`` are the instances with a score; when ``paired`` only the ``n_pairs`` seeds
    present in both are used by every statistic. ``permutation`` is the primary test; its p-value
    is adjusted over the family (``p_adjusted``, ``correction``, ``family_size``).

    ``difference`` is the unadjusted interval (at ``level``) that inverts the permutation test.
    ``verdict_interval`` inverts the same test at the level of the family-wise decision (Holm:
    ``1 - alpha / k`` with ``k`` the step's divisor; BH: ``1 - R alpha / m``; Bonferroni:
    ``1 - alpha / m``), so it excludes 0 exactly when the comparison is :attr:`significant`; the
    verdict line prints it. ``shift_curve`` keeps what re-inverting the test needs.

    ``higher_is_better`` is the metric's direction (False for a loss or a distance): differences
    stay ``a - b`` in the metric's units, ``p_improvement`` is ``P(a better than b)`` (``P(a < b)``
    when lower is better) and :attr:`better` names the winner.
    """

    a: str
    b: str
    metric: str
    paired: bool
    n_a: int
    n_b: int
    n_pairs: int
    mean_a: float
    mean_b: float
    difference: Estimate
    permutation: PermutationResult
    rank_test: TestResult
    t_test: TestResult
    hedges_g: float
    d_z: float
    cliffs_delta: float
    p_improvement: Estimate
    correction: str = "none"
    p_adjusted: float = float("nan")
    family_size: int = 1
    alpha: float = 0.05
    higher_is_better: bool = True
    verdict_interval: Estimate | None = None
    shift_curve: ShiftCurve | None = field(default=None, repr=False, compare=False)

    @property
    def pvalue(self) -> float:
        """Raw p-value of the primary (permutation) test."""
        return self.permutation.pvalue

    @property
    def significant(self) -> bool:
        """Adjusted p-value below ``alpha`` (raw p-value when uncorrected)."""
        p = (
            self.pvalue
            if self.correction == "none" or np.isnan(self.p_adjusted)
            else self.p_adjusted
        )
        return bool(p < self.alpha)

    @property
    def better(self) -> str | None:
        """The architecture the verdict favours (``a`` or ``b``); None when not significant."""
        point = self.difference.point
        if not self.significant or not np.isfinite(point) or point == 0:
            return None
        return self.a if (point > 0) == self.higher_is_better else self.b

    @property
    def min_pvalue(self) -> float:
        """Smallest raw p-value the permutation test can give with these seeds (NaN if untested)."""
        return float("nan") if self.shift_curve is None else self.shift_curve.min_pvalue

    def verdict(self, digits: int = 3) -> str:
        """One line, e.g. ``A > B: +0.031, 98.3 % CI [0.018, 0.044], p(Holm) = 0.002, g = 1.4``.

        The interval is :attr:`verdict_interval`: it excludes 0 exactly when the sign is ``>`` or
        ``<``. When the design cannot reach significance at all it is unbounded, and the line
        says so. When lower is better the line ends with ``(lower is better: B better)``.
        """
        d = self.verdict_interval or self.difference
        sign = (
            ("~" if not self.significant else ">" if d.point > 0 else "<")
            if np.isfinite(d.point)
            else "?"
        )
        label = _CORRECTION_LABELS.get(self.correction, self.correction)
        p = self.p_adjusted if label else self.pvalue
        p_name = f"p{f'({label})' if label else ''}"
        text = (
            f"{self.a} {sign} {self.b}: {_format_num(d.point, digits, signed=True)}"
            f"{_format_ci(d, digits)}, {p_name} {_format_p(p)}, g = {_format_num(self.hedges_g, 1)}"
        )
        if sign == "~":
            reasons = ["no detectable difference"]
            if np.isinf(d.low) and np.isinf(d.high):
                n = f"{self.n_pairs} pairs" if self.paired else f"{self.n_a}+{self.n_b} seeds"
                reasons.append(f"{n} cannot reach {p_name} < {self.alpha:g}")
            text += f" ({'; '.join(reasons)})"
        elif not self.higher_is_better and self.better is not None:
            text += f" (lower is better: {self.better} better)"
        return text

    def as_row(self) -> dict[str, object]:
        """Flat dict for tables and CSV."""
        v = self.verdict_interval or self.difference
        return {
            "a": self.a,
            "b": self.b,
            "metric": self.metric,
            "paired": self.paired,
            "n_a": self.n_a,
            "n_b": self.n_b,
            "n_pairs": self.n_pairs,
            "mean_a": self.mean_a,
            "mean_b": self.mean_b,
            "difference": self.difference.point,
            "difference_low": self.difference.low,
            "difference_high": self.difference.high,
            "level": self.difference.level,
            "ci_method": self.difference.method,
            "verdict_low": v.low,
            "verdict_high": v.high,
            "verdict_level": v.level,
            "verdict_ci_method": v.method,
            "p_permutation": self.permutation.pvalue,
            "permutation_exact": self.permutation.exact,
            "n_permutations": self.permutation.n_permutations,
            "min_p_permutation": self.min_pvalue,
            "p_adjusted": self.p_adjusted,
            "correction": self.correction,
            "family_size": self.family_size,
            "significant": self.significant,
            "higher_is_better": self.higher_is_better,
            "better": self.better,
            "rank_test": self.rank_test.name,
            "rank_statistic": self.rank_test.statistic,
            "p_rank": self.rank_test.pvalue,
            "t_test": self.t_test.name,
            "t_statistic": self.t_test.statistic,
            "p_t": self.t_test.pvalue,
            "hedges_g": self.hedges_g,
            "d_z": self.d_z,
            "cliffs_delta": self.cliffs_delta,
            "p_improvement": self.p_improvement.point,
            "p_improvement_low": self.p_improvement.low,
            "p_improvement_high": self.p_improvement.high,
            "p_improvement_method": self.p_improvement.method,
            "verdict": self.verdict(),
        }

    def to_dict(self) -> dict[str, object]:
        """Nested dict of every field but ``shift_curve`` (for JSON) plus the verdict."""
        out = {
            f.name: asdict(v) if is_dataclass(v := getattr(self, f.name)) else v
            for f in fields(self)
            if f.name != "shift_curve"
        }
        return {
            **out,
            "min_p_permutation": self.min_pvalue,
            "significant": self.significant,
            "better": self.better,
            "verdict": self.verdict(),
        }


def _format_ci(est: Estimate, digits: int) -> str:
    """``", 98.3 % CI [0.018, 0.044]"``, ``", 95 % CI unbounded"``, or nothing."""
    if np.isnan(est.low) or np.isnan(est.high):
        return ""
    level = f"{100 * est.level:.3g} % CI"
    if np.isinf(est.low) and np.isinf(est.high):
        return f", {level} unbounded"
    return f", {level} [{_endpoint(est.low, digits)}, {_endpoint(est.high, digits)}]"


def _endpoint(v: float, digits: int) -> str:
    # An end that rounds to 0.000 but is not 0 keeps two significant digits: "[0.00021, ...]"
    # must not read as touching 0 next to a significant test.
    if np.isinf(v):
        return "-inf" if v < 0 else "inf"
    if v != 0 and round(v, digits) == 0:
        return np.format_float_positional(v, precision=2, unique=False, fractional=False)
    return f"{v:.{digits}f}"


def _format_p(p: float) -> str:
    if not np.isfinite(p):
        return "= n/a"
    if p < 0.001:
        return "< 0.001"
    return f"= {p:.2g}" if p >= 0.01 else f"= {p:.1g}"


def _format_num(v: float, digits: int, signed: bool = False) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def align(
    a: pd.Series | np.ndarray, b: pd.Series | np.ndarray, paired: bool | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Scores of two architectures, aligned by seed when paired.

    Args:
        a, b: Series indexed by seed, or plain arrays (paired by position only when
            ``paired=True``).
        paired: None decides: paired when both are seed-indexed Series sharing at least 3 seeds
            that cover at least half of the smaller sample.

    Returns:
        ``(x, y, paired)``; when paired, ``x[i]`` and ``y[i]`` share a seed (intersection only).
    """
    indexed = isinstance(a, pd.Series) and isinstance(b, pd.Series)
    if indexed:
        common = np.intersect1d(a.index.to_numpy(), b.index.to_numpy())
        if paired is None:
            paired = len(common) >= max(3, 0.5 * min(len(a), len(b)))
        if paired:
            return a.loc[common].to_numpy(float), b.loc[common].to_numpy(float), True
        return a.to_numpy(float), b.to_numpy(float), False
    x, y = np.asarray(a, float), np.asarray(b, float)
    if paired and x.shape != y.shape:
        raise ValueError(f"paired arrays need equal lengths, got {x.size} and {y.size}")
    return x, y, bool(paired)


def compare_pair(
    a_scores: pd.Series | np.ndarray,
    b_scores: pd.Series | np.ndarray,
    *,
    a: str = "A",
    b: str = "B",
    metric: str = "",
    paired: bool | None = None,
    n_resamples: int = 10_000,
    seed: Seed = 0,
    level: float = 0.95,
    ci_method: str = "auto",
    exact_limit: int = 100_000,
    alpha: float = 0.05,
    higher_is_better: bool = True,
) -> Comparison:
    """Every statistic of ``a`` against ``b`` (uncorrected; see :func:`apply_correction`).

    Args:
        a_scores, b_scores: scores per instance; seed-indexed Series allow pairing (see
            :func:`align`).
        a, b, metric: names for the report.
        paired: force paired/independent; None decides from the seeds.
        n_resamples: permutation (and bootstrap) resamples.
        seed: int or Generator; the permutation test and the bootstrap of P(improvement) (only
            for a bootstrap ``ci_method``) use independent streams spawned from it.
        level: confidence level of the intervals.
        ci_method: interval of P(improvement): "auto" (Wilson / Newcombe, see
            :func:`probability_of_improvement`) or a bootstrap method. The interval of the
            difference always inverts the permutation test (:func:`permutation_interval`), so it
            agrees with the test.
        exact_limit: see :func:`permutation_test`.
        alpha: significance level for :attr:`Comparison.significant`.
        higher_is_better: the metric's direction; False makes ``p_improvement`` ``P(a < b)`` and
            :attr:`Comparison.better` the lower one (differences stay ``a - b``).
    """
    n_a, n_b = len(a_scores), len(b_scores)
    x, y, paired = align(a_scores, b_scores, paired)
    r_perm, _, r_prob = as_generator(seed).spawn(3)  # the middle stream was the old bootstrap's
    nan = float("nan")
    point = float(x.mean() - y.mean()) if x.size and y.size else nan
    name = f"permutation test inverted ({'sign flips' if paired else 'relabelings'})"
    curve = None
    if min(x.size, y.size) >= 2:
        n_max = n_distinct_permutations(x.size, y.size, paired)
        exact = n_max <= max(exact_limit, n_resamples)
        null = _null_distribution(x, y, paired, n_resamples, r_perm, exact)
        perm = PermutationResult(
            float(null.observed), float(null.pvalue()), exact, int(null.size), "two-sided"
        )
        curve = ShiftCurve.from_null(null, max(alpha, alpha_from_level(level)))
        name += f", {'exact' if exact else f'{null.size:,} random'}"
        unadjusted = alpha_from_level(level)
        diff = Estimate(point, *curve.interval(lambda p: p >= unadjusted), level, name)
        verdict = Estimate(point, *curve.interval(lambda p: p >= alpha), 1 - alpha, name)
    else:
        perm = PermutationResult(nan, nan, False, 0, "two-sided")
        diff = verdict = Estimate(point, nan, nan, level, name)
    if paired:
        d = x - y
        rank = _run_test("Wilcoxon signed-rank", stats.wilcoxon, x, y)
        t = _run_test("paired t", stats.ttest_rel, x, y)
        sd = d.std(ddof=1) if d.size > 1 else nan
        d_z = float(d.mean() / sd) if sd and np.isfinite(sd) else nan
    else:
        rank = _run_test("Mann-Whitney U", stats.mannwhitneyu, x, y)
        t = _run_test("Welch t", lambda u, v: stats.ttest_ind(u, v, equal_var=False), x, y)
        d_z = nan
    return Comparison(
        a=a,
        b=b,
        metric=metric,
        paired=paired,
        n_a=n_a,
        n_b=n_b,
        n_pairs=x.size if paired else 0,
        mean_a=float(x.mean()) if x.size else nan,
        mean_b=float(y.mean()) if y.size else nan,
        difference=diff,
        permutation=perm,
        rank_test=rank,
        t_test=t,
        hedges_g=hedges_g(x, y),
        d_z=d_z,
        cliffs_delta=cliffs_delta(x, y),
        p_improvement=probability_of_improvement(
            x if higher_is_better else -x,
            y if higher_is_better else -y,
            paired=paired,
            level=level,
            method=ci_method,
            n_resamples=n_resamples,
            seed=r_prob,
        ),  # fmt: skip
        p_adjusted=perm.pvalue,
        alpha=alpha,
        higher_is_better=higher_is_better,
        verdict_interval=verdict,
        shift_curve=curve,
    )


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _run_test(name: str, test, x: np.ndarray, y: np.ndarray) -> TestResult:
    if min(x.size, y.size) < 2:
        return TestResult(name, float("nan"), float("nan"))
    try:
        with warnings.catch_warnings():
            # Constant samples or all-zero differences: the test is undefined, reported as NaN.
            warnings.simplefilter("ignore")
            res = test(x, y)
        return TestResult(name, float(res.statistic), float(res.pvalue))
    except ValueError:
        return TestResult(name, float("nan"), float("nan"))


def apply_correction(
    comparisons: Sequence[Comparison], correction: str = "holm"
) -> tuple[Comparison, ...]:
    """The comparisons with permutation p-values adjusted over the whole sequence (one family).

    Each comparison's ``verdict_interval`` is re-inverted at the level its adjusted decision used
    (see :class:`Comparison`), so the verdict's interval never contradicts ``p_adjusted``.
    """
    adjusted = adjust_pvalues([c.pvalue for c in comparisons], correction)
    size = int(sum(np.isfinite(c.pvalue) for c in comparisons))
    out = [
        replace(c, p_adjusted=float(p), correction=correction.lower(), family_size=size)
        for c, p in zip(comparisons, adjusted)
    ]
    return tuple(_with_verdict_interval(c, out, correction.lower()) for c in out)


def _with_verdict_interval(c: Comparison, family: Sequence[Comparison], correction: str):
    if c.shift_curve is None or not np.isfinite(c.pvalue):
        return c
    accept, level, how = _family_acceptance(c, family, correction)
    low, high = c.shift_curve.interval(accept)
    base = c.difference.method
    return replace(c, verdict_interval=Estimate(c.difference.point, low, high, level, base + how))


def _family_acceptance(c: Comparison, family: Sequence[Comparison], correction: str):
    """The rule "shift delta is not rejected", mirroring statsmodels' arithmetic for ``c``.

    Holm rejects a prefix of the sorted p-values; a rejected comparison whose p-value has ``r``
    smaller ones passed the step ``p * (m - r) < alpha``, and the first comparison not rejected
    failed ``p * (m - s) >= alpha`` with ``s`` rejections, as does everything after it. Inverting
    each comparison's test at its own step gives intervals that exclude 0 exactly for the
    rejected ones (each covers at least as often as a 95 % interval: ``alpha / k <= alpha``). BH
    rejects the ``R`` smallest p-values, all with ``p / (R / m) < alpha``, and every other one has
    ``p / (R / m) >= alpha`` (Benjamini-Yekutieli's FCR-adjusted level ``1 - R alpha / m``).
    """
    alpha = c.alpha
    p = np.array([f.pvalue for f in family if np.isfinite(f.pvalue)])
    m = p.size
    method = CORRECTIONS[correction]
    if method is None or m <= 1:
        return (lambda q: q >= alpha), 1 - alpha, ""
    if method == "bonferroni":
        return (lambda q: q * m >= alpha), 1 - alpha / m, f", Bonferroni over {m}"
    n_significant = sum(f.significant for f in family if np.isfinite(f.pvalue))
    if method == "holm":
        k = m - int(np.count_nonzero(p < c.pvalue)) if c.significant else m - n_significant
        return (lambda q: q * k >= alpha), 1 - alpha / k, f", Holm step alpha/{k}"
    rejected = max(n_significant, 1)
    factor = rejected / m  # statsmodels divides by the ecdf factor R / m
    return (lambda q: q / factor >= alpha), 1 - alpha * factor, f", BH level {rejected}alpha/{m}"


def compare_to_reference(
    scores: Mapping[str, pd.Series | np.ndarray],
    reference: str,
    *,
    correction: str = "holm",
    seed: Seed = 0,
    **options,
) -> tuple[Comparison, ...]:
    """The reference against each other architecture (an ablation family), corrected as a family.

    Args:
        scores: ``{architecture: scores}``; Series indexed by seed allow pairing.
        reference: key of ``scores``.
        correction: see :func:`adjust_pvalues`.
        seed: int or Generator; each pair gets a stream derived from ``(seed, a, b, metric)``.
        **options: passed to :func:`compare_pair` (``metric``, ``paired``, ``n_resamples``, ...).
    """
    if reference not in scores:
        raise ValueError(f"unknown reference {reference!r}; architectures: {', '.join(scores)}")
    pairs = [(reference, other) for other in scores if other != reference]
    return _compare_family(scores, pairs, correction, seed, options)


def compare_all_pairs(
    scores: Mapping[str, pd.Series | np.ndarray],
    *,
    correction: str = "holm",
    seed: Seed = 0,
    **options,
) -> tuple[Comparison, ...]:
    """Every unordered pair ``(a, b)`` with ``a`` before ``b`` in ``scores``, corrected as one family."""
    return _compare_family(
        scores, list(itertools.combinations(scores, 2)), correction, seed, options
    )


def _compare_family(scores, pairs, correction, seed, options) -> tuple[Comparison, ...]:
    _correction_method(correction)
    metric = options.get("metric", "")
    comps = [
        compare_pair(
            scores[a], scores[b], a=a, b=b, seed=derive(seed, "compare", a, b, metric), **options
        )
        for a, b in pairs
    ]
    return apply_correction(comps, correction)


def comparisons_frame(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """One row per comparison (see :meth:`Comparison.as_row`)."""
    return pd.DataFrame([c.as_row() for c in comparisons])
