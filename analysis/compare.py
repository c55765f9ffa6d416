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
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis._seeding import Seed, as_generator, derive
from analysis.distributions import Estimate, bootstrap_ci

__all__ = [
    "CORRECTIONS",
    "Comparison",
    "PermutationResult",
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
    "permutation_pvalues",
    "permutation_test",
    "probability_of_improvement",
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


def probability_of_improvement(
    x: np.ndarray,
    y: np.ndarray,
    *,
    paired: bool = False,
    level: float = 0.95,
    method: str = "BCa",
    n_resamples: int = 10_000,
    seed: Seed = 0,
) -> Estimate:
    """``P(X > Y)`` (ties count 1/2) with a bootstrap interval.

    Independent samples: over all pairs (``U / (n_x n_y)`` of Mann-Whitney). Paired samples
    (``x[i]``, ``y[i]`` share seed i): the fraction of seeds where x beats y, and the bootstrap
    resamples seeds.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if paired:
        return bootstrap_ci(
            x - y, _prob_positive, level=level, method=method, n_resamples=n_resamples, seed=seed
        )
    return bootstrap_ci(
        (x, y), _prob_greater, level=level, method=method, n_resamples=n_resamples, seed=seed
    )


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
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape[-1] < 2 or y.shape[-1] < 2:
        raise ValueError("each sample needs at least two observations")
    if paired:
        null, observed = _null_paired(x, y, n_resamples, seed, exact)
    else:
        null, observed = _null_independent(x, y, n_resamples, seed, exact)
    adjustment = 0 if exact else 1
    n = null.shape[-1]
    # Relative tolerance for numerically distinct but theoretically equal values (as scipy).
    gamma = np.abs(np.finfo(float).eps * 100 * observed)[..., None]
    obs = observed[..., None]
    p_less = (np.count_nonzero(null <= obs + gamma, axis=-1) + adjustment) / (n + adjustment)
    p_greater = (np.count_nonzero(null >= obs - gamma, axis=-1) + adjustment) / (n + adjustment)
    p = {"less": p_less, "greater": p_greater, "two-sided": 2 * np.minimum(p_less, p_greater)}[
        alternative
    ]
    return observed, np.clip(p, 0.0, 1.0)


def _null_independent(x, y, n_resamples, seed, exact):
    n_x = x.shape[-1]
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
    return null, x.mean(axis=-1) - y.mean(axis=-1)


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
    return null, d.mean(axis=-1)


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

    def verdict(self, digits: int = 3) -> str:
        """One line, e.g. ``A > B: +0.031 [0.018, 0.044], p(Holm) = 0.002, g = 1.4``."""
        d = self.difference
        sign = (
            ("~" if not self.significant else ">" if d.point > 0 else "<")
            if np.isfinite(d.point)
            else "?"
        )
        label = _CORRECTION_LABELS.get(self.correction, self.correction)
        p = self.p_adjusted if label else self.pvalue
        text = (
            f"{self.a} {sign} {self.b}: {d.format(digits, signed=True)}, "
            f"p{f'({label})' if label else ''} {_format_p(p)}, g = {_format_num(self.hedges_g, 1)}"
        )
        if sign == "~":
            text += " (no detectable difference)"
        return text

    def as_row(self) -> dict[str, object]:
        """Flat dict for tables and CSV."""
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
            "p_permutation": self.permutation.pvalue,
            "permutation_exact": self.permutation.exact,
            "n_permutations": self.permutation.n_permutations,
            "p_adjusted": self.p_adjusted,
            "correction": self.correction,
            "family_size": self.family_size,
            "significant": self.significant,
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
            "verdict": self.verdict(),
        }

    def to_dict(self) -> dict[str, object]:
        """Nested dict of every field (for JSON) plus the verdict."""
        return {**asdict(self), "significant": self.significant, "verdict": self.verdict()}


def _format_p(p: float) -> str:
    if not np.isfinite(p):
        return "= n/a"
    if p < 0.001:
        return "< 0.001"
    return f"= {p:.2g}" if p >= 0.01 else f"= {p:.1g}"


def _format_num(v: float, digits: int) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.{digits}f}"


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
    ci_method: str = "BCa",
    exact_limit: int = 100_000,
    alpha: float = 0.05,
) -> Comparison:
    """Every statistic of ``a`` against ``b`` (uncorrected; see :func:`apply_correction`).

    Args:
        a_scores, b_scores: scores per instance; seed-indexed Series allow pairing (see
            :func:`align`).
        a, b, metric: names for the report.
        paired: force paired/independent; None decides from the seeds.
        n_resamples: permutation and bootstrap resamples.
        seed: int or Generator; the permutation test and the two bootstrap intervals use
            independent streams spawned from it.
        level: confidence level of the intervals.
        ci_method: bootstrap method for the intervals ("BCa" or "percentile").
        exact_limit: see :func:`permutation_test`.
        alpha: significance level for :attr:`Comparison.significant`.
    """
    n_a, n_b = len(a_scores), len(b_scores)
    x, y, paired = align(a_scores, b_scores, paired)
    r_perm, r_diff, r_prob = as_generator(seed).spawn(3)
    boot = dict(level=level, method=ci_method, n_resamples=n_resamples)
    nan = float("nan")
    if min(x.size, y.size) >= 2:
        perm = permutation_test(
            x, y, paired=paired, n_resamples=n_resamples, seed=r_perm, exact_limit=exact_limit
        )
    else:
        perm = PermutationResult(nan, nan, False, 0, "two-sided")
    if paired:
        d = x - y
        diff = bootstrap_ci(d, _mean, seed=r_diff, **boot)
        rank = _run_test("Wilcoxon signed-rank", stats.wilcoxon, x, y)
        t = _run_test("paired t", stats.ttest_rel, x, y)
        sd = d.std(ddof=1) if d.size > 1 else nan
        d_z = float(d.mean() / sd) if sd and np.isfinite(sd) else nan
    else:
        diff = bootstrap_ci((x, y), _mean_difference, seed=r_diff, **boot)
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
        p_improvement=probability_of_improvement(x, y, paired=paired, seed=r_prob, **boot),
        p_adjusted=perm.pvalue,
        alpha=alpha,
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
    """The comparisons with permutation p-values adjusted over the whole sequence (one family)."""
    adjusted = adjust_pvalues([c.pvalue for c in comparisons], correction)
    size = int(sum(np.isfinite(c.pvalue) for c in comparisons))
    return tuple(
        replace(c, p_adjusted=float(p), correction=correction.lower(), family_size=size)
        for c, p in zip(comparisons, adjusted)
    )


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
