"""Permutation tests of a difference of means, and the confidence intervals that invert them.

A permutation test relabels the scores (sign flips of the per-seed differences when paired,
reassignments of the pooled scores otherwise), exactly when the relabelings are few and by random
draws otherwise, with scipy's algorithm batched in numpy. Every relabeled statistic is linear in a
hypothesized shift of ``x``, so the same relabelings also give the interval of shifts the test
accepts (:func:`permutation_interval`), and a :class:`ShiftCurve` keeps enough of them to invert
the test again at a family-wise adjusted level.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from analysis._seeding import Seed, as_generator
from analysis.distributions import alpha_from_level

__all__ = [
    "PermutationResult",
    "ShiftCurve",
    "n_distinct_permutations",
    "permutation_interval",
    "permutation_pvalues",
    "permutation_test",
    "permutation_test_with_curve",
]

_ALTERNATIVES = ("two-sided", "greater", "less")


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


def _use_exact(
    n_x: int, n_y: int, paired: bool, exact_limit: int, n_resamples: int
) -> tuple[bool, int]:
    # Enumerate when there are at most max(exact_limit, n_resamples) relabelings; also their number.
    n_max = n_distinct_permutations(n_x, n_y, paired)
    return n_max <= max(exact_limit, n_resamples), n_max


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
    exact, n_max = _use_exact(x.size, y.size, paired, exact_limit, n_resamples)
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


def permutation_test_with_curve(
    x: np.ndarray,
    y: np.ndarray,
    *,
    paired: bool = False,
    n_resamples: int = 10_000,
    seed: Seed = 0,
    exact_limit: int = 100_000,
    max_alpha: float = 0.05,
) -> tuple[PermutationResult, ShiftCurve]:
    """The two-sided :func:`permutation_test` and its :class:`ShiftCurve`, from one set of
    relabelings (so every interval the curve gives agrees with the test's p-value).

    Args:
        x, y, paired, n_resamples, seed, exact_limit: as :func:`permutation_test`.
        max_alpha: the largest level the curve must invert.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    exact, _ = _use_exact(x.size, y.size, paired, exact_limit, n_resamples)
    null = _null_distribution(x, y, paired, n_resamples, seed, exact)
    result = PermutationResult(
        float(null.observed), float(null.pvalue()), exact, int(null.size), "two-sided"
    )
    return result, ShiftCurve.from_null(null, max_alpha)
