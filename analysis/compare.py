"""Is architecture A better than B, or did it get lucky seeds?

Two samples of scores (one per instance) are compared by a permutation test on the difference of
means (the primary test, corrected for multiple comparisons), a rank test and a t test, with the
interval of the difference that inverts the permutation test, effect sizes (Hedges' g, Cliff's
delta) and the probability of improvement. When both architectures were trained with the same
seeds the instances are paired (seed i shares data order and initialization) and the paired
versions are used: sign-flip permutations, Wilcoxon signed-rank, paired t, per-seed differences.

This module makes the :class:`Comparison` of a pair and corrects families of them; the parts live
in :mod:`analysis.permutation` (tests and inverted intervals), :mod:`analysis.effects` (effect
sizes, P(improvement)) and :mod:`analysis.corrections` (adjusted p-values), whose public names are
importable from here too.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from analysis._seeding import Seed, as_generator, derive
from analysis.corrections import CORRECTION_LABELS, CORRECTIONS, adjust_pvalues, correction_method
from analysis.distributions import Estimate, alpha_from_level
from analysis.effects import (
    cliffs_delta,
    hedges_g,
    newcombe_interval,
    probability_of_improvement,
    wilson_interval,
)
from analysis.permutation import (
    PermutationResult,
    ShiftCurve,
    n_distinct_permutations,
    permutation_interval,
    permutation_pvalues,
    permutation_test,
    permutation_test_with_curve,
)

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
        label = CORRECTION_LABELS.get(self.correction, self.correction)
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
        perm, curve = permutation_test_with_curve(
            x, y, paired=paired, n_resamples=n_resamples, seed=r_perm, exact_limit=exact_limit,
            max_alpha=max(alpha, alpha_from_level(level)),
        )  # fmt: skip
        name += f", {'exact' if perm.exact else f'{perm.n_permutations:,} random'}"
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
    correction_method(correction)
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
