"""Per-architecture score distributions: summaries, confidence intervals and KDEs.

All functions take a 1-D array of scores (one per instance/seed) of one architecture. The intervals
of :func:`summarize` were chosen by simulation at 5, 10 and 26 seeds (docs/statistics.md; the test
suite tests/analysis/test_calibration.py re-measures them):

* mean: Student t interval with Hall's (1992) skewness correction (:func:`hall_t_interval`);
* median: order-statistic interval, Hettmansperger-Sheather interpolated (:func:`median_interval`);
* IQM: Tukey-McLaughlin / Yuen trimmed-mean t interval (:func:`iqm_interval`).

Below :data:`MIN_SEEDS` an interval is withheld (NaN bounds, the reason in ``Estimate.note``)
because none of the methods reaches 93 % coverage there. BCa / percentile bootstrap intervals
(:func:`bootstrap_ci`, via :func:`scipy.stats.bootstrap`) remain available on request; they are
too narrow at these sample sizes. Random streams are explicit; the global state is never used.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis._seeding import Seed, as_generator

__all__ = [
    "CALIBRATED",
    "KDE",
    "METHOD_NAMES",
    "MIN_SEEDS",
    "Estimate",
    "Summary",
    "alpha_from_level",
    "bootstrap_ci",
    "calibrated_ci",
    "hall_t_interval",
    "iqm",
    "iqm_interval",
    "kde",
    "mean_interval",
    "median_interval",
    "summaries_frame",
    "summarize",
]

Statistic = Callable[..., np.ndarray]

_METHODS = {"bca": "BCa", "percentile": "percentile", "basic": "basic"}

#: ``method`` value selecting the simulation-calibrated interval of each statistic.
CALIBRATED = "auto"

#: Fewest scores for which an interval is reported. Chosen from the coverage simulation
#: (docs/statistics.md): the smallest n from which the 95 % interval covers at least 93 % of the
#: time for normal and for skewed (log-normal, skewness 1.75) scores. ``mean`` also gates the
#: best-of-k band, ``p_improvement`` the intervals of P(improvement) (analysis.compare; Newcombe's
#: dips to 0.90 at 3 + 3 seeds, and Wilson's coverage depends on P more than on n).
MIN_SEEDS: dict[str, int] = {"mean": 6, "median": 5, "iqm": 5, "p_improvement": 5}

#: Human-readable names of the calibrated methods (``Estimate.method``).
METHOD_NAMES: dict[str, str] = {
    "mean": "t, Hall skewness-corrected",
    "median": "order statistics, Hettmansperger-Sheather",
    "iqm": "trimmed-mean t (Tukey-McLaughlin/Yuen)",
}


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided confidence interval.

    ``low``/``high`` are NaN when no interval can be computed (fewer than two observations) or
    when it is withheld (too few seeds for the method to keep its level); ``note`` then says why.
    An interval may be unbounded (``-inf``/``inf``) when the data cannot exclude any value, e.g. a
    permutation test that cannot reach the significance level. ``method`` says how the interval
    was made, e.g. ``"t, Hall skewness-corrected"``; ``level`` is its confidence level (the exact
    level where a discrete method cannot reach the one asked for, e.g. 0.9375 for the median of 5).
    """

    point: float
    low: float
    high: float
    level: float
    method: str
    note: str = ""

    @property
    def withheld(self) -> bool:
        """True when the interval is missing although the point estimate exists."""
        return bool(np.isfinite(self.point) and (np.isnan(self.low) or np.isnan(self.high)))

    def format(self, digits: int = 3, signed: bool = False) -> str:
        """``0.812 [0.801, 0.823]``; ``0.812 [unbounded]``; ``0.812`` when withheld."""
        p = f"{self.point:+.{digits}f}" if signed else f"{self.point:.{digits}f}"
        if np.isnan(self.low) or np.isnan(self.high):
            return p
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            return f"{p} [unbounded]"
        return f"{p} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """Interquartile mean (rliable): the mean of the middle 50 %.

    Equals ``scipy.stats.trim_mean(x, 0.25, axis=axis)``: ``int(0.25 n)`` values are cut from each
    end. Sorting once is faster than trim_mean's partitions on bootstrap batches ``(..., n)``.
    """
    x = np.moveaxis(np.asarray(x, dtype=float), axis, -1)
    n = x.shape[-1]
    cut = int(0.25 * n)
    middle = np.sort(x, axis=-1)[..., cut : n - cut]
    out = middle.mean(axis=-1)
    return float(out) if out.ndim == 0 else out


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _median(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(x, axis=axis)


STATISTICS: dict[str, Statistic] = {"mean": _mean, "median": _median, "iqm": iqm}


# ------------------------------------------------------------------ calibrated intervals
def alpha_from_level(level: float) -> float:
    """``1 - level``, rounded to 12 decimals; ValueError outside (0, 1).

    ``1 - 0.95`` is 0.050000000000000044 in floating point; rounding keeps "p < alpha" decisions
    at p = 0.05 exactly the same as a literal 0.05.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(np.round(1.0 - level, 12))


def hall_t_interval(
    values: np.ndarray, center: np.ndarray | None = None, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Student t interval with Hall's (1992) skewness correction, batched.

    With ``T = (center - theta) / se``, ``se = sd(values) / sqrt(n)`` (``ddof=1``) and the sample
    skewness ``g`` of ``values`` (biased moments), Hall's monotone cubic
    ``f(T) = T + g T^2 / (3 sqrt n) + g^2 T^3 / (27 n) + g / (6 sqrt n)`` removes the skewness
    of ``T``; the interval inverts ``|f(T)| <= t_{n-1, 1 - alpha/2}``. Student quantiles (not
    normal ones, as in Hall's paper) keep it exact for normal data at n = 5; for g = 0 it is the
    ordinary t interval. The simulation (docs/statistics.md) found it closer to 95 % than the t
    interval and the bootstrap-t for skewed scores at 5-26 seeds.

    Args:
        values: shape ``(..., n)``, the sample (or jackknife pseudo-values of an estimator).
        center: the point estimate, shape ``(...)``; default the mean of ``values``.
        level: confidence level.

    Returns:
        ``(low, high)``, each of shape ``(...)``; the point when the values are constant, NaN
        when ``n < 2``.
    """
    v = np.asarray(values, dtype=float)
    n = v.shape[-1]
    mean = v.mean(axis=-1)
    c = mean if center is None else np.asarray(center, dtype=float)
    if n < 2:
        nan = np.full(np.shape(c), np.nan)
        return nan, nan.copy()
    dev = v - mean[..., None]
    m2 = (dev**2).mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(m2 > 0, (dev**3).mean(axis=-1) / m2**1.5, 0.0)
    se = np.sqrt(m2 * n / (n - 1) / n)
    q = stats.t.ppf(1 - alpha_from_level(level) / 2, n - 1)
    u = skew / (3 * math.sqrt(n))
    shift = skew / (6 * math.sqrt(n))

    def inverse(y: float) -> np.ndarray:
        # f(T) = ((1 + u T)^3 - 1) / (3 u) + shift is monotone; invert in closed form.
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (np.cbrt(1 + 3 * u * (y - shift)) - 1) / u
        return np.where(np.abs(u) < 1e-12, y - shift, t)

    return c - se * inverse(q), c - se * inverse(-q)


def mean_interval(x: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Interval of the mean of ``x`` ``(..., n)``: :func:`hall_t_interval` of the sample."""
    return hall_t_interval(x, level=level)


def _order_statistic_coverage(n: int) -> np.ndarray:
    # Coverage of [x_(d), x_(n-d+1)] for the median, d = 1 .. n // 2 (entry d - 1).
    d = np.arange(1, n // 2 + 1)
    return 1 - 2 * stats.binom.cdf(d - 1, n, 0.5)


def median_interval(x: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, float]:
    """Distribution-free interval of the median, batched over leading axes of ``x`` ``(..., n)``.

    The order-statistic interval ``[x_(d), x_(n-d+1)]`` covers the median with the binomial
    probability ``1 - 2 P(Bin(n, 1/2) <= d - 1)`` for any continuous distribution. That jumps
    (n = 10: 97.9 % or 89.1 %), so the Hettmansperger-Sheather (1986) interpolation between
    ``d`` and ``d + 1`` brings it to ``level``. When even ``[x_(1), x_(n)]`` covers less than
    ``level`` (n <= 5 at 95 %), that interval is returned with its exact level.

    Returns:
        ``(low, high, achieved_level)``; NaN bounds when ``n < 2``.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    if n < 2:
        nan = np.full(x.shape[:-1], np.nan)
        return nan, nan.copy(), float("nan")
    s = np.sort(x, axis=-1)
    cover = _order_statistic_coverage(n)
    target = 1 - alpha_from_level(level)
    ok = np.nonzero(cover >= target)[0]
    if ok.size == 0:
        return s[..., 0], s[..., -1], float(cover[0])
    d = int(ok[-1]) + 1  # the narrowest order-statistic interval still covering >= level
    if d == cover.size or cover[d - 1] == target:
        return s[..., d - 1], s[..., n - d], float(cover[d - 1])
    share = (cover[d - 1] - target) / (cover[d - 1] - cover[d])
    lam = (n - d) * share / (d + (n - 2 * d) * share)
    low = (1 - lam) * s[..., d - 1] + lam * s[..., d]
    high = (1 - lam) * s[..., n - d] + lam * s[..., n - d - 1]
    return low, high, target


def iqm_interval(x: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Tukey-McLaughlin interval of the IQM (the 25 % trimmed mean), batched over ``(..., n)``.

    With ``g = int(0.25 n)`` values cut from each end (as :func:`iqm`), ``h = n - 2 g`` kept and
    the Winsorized sample ``w``, Yuen's (1974) standard error is
    ``sqrt(sum((w - mean w)^2) / (h (h - 1)))`` with ``h - 1`` degrees of freedom (the one-sample
    form of ``scipy.stats.ttest_ind(..., trim=0.25)``).

    Returns:
        ``(low, high)``; NaN when fewer than two values remain after trimming.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    g = int(0.25 * n)
    h = n - 2 * g
    if h < 2:
        nan = np.full(x.shape[:-1], np.nan)
        return nan, nan.copy()
    s = np.sort(x, axis=-1)
    trimmed = s[..., g : n - g].mean(axis=-1)
    w = np.clip(s, s[..., g : g + 1], s[..., n - g - 1 : n - g])  # Winsorized
    se = np.sqrt(((w - w.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1) / (h * (h - 1)))
    q = stats.t.ppf(1 - alpha_from_level(level) / 2, h - 1)
    return trimmed - q * se, trimmed + q * se


def _method_name(method: str) -> str:
    try:
        return _METHODS[method.lower()]
    except KeyError:
        raise ValueError(
            f"unknown bootstrap method {method!r}; use one of {sorted(_METHODS.values())}"
        ) from None


def bootstrap_ci(
    data: np.ndarray | tuple[np.ndarray, ...],
    statistic: Statistic,
    *,
    level: float = 0.95,
    method: str = "BCa",
    n_resamples: int = 10_000,
    seed: Seed = 0,
    paired: bool = False,
) -> Estimate:
    """Bootstrap confidence interval of ``statistic`` via :func:`scipy.stats.bootstrap`.

    Args:
        data: one 1-D sample, or a tuple of samples for multi-sample statistics (resampled
            independently unless ``paired``).
        statistic: vectorized ``f(*samples, axis=-1)``.
        level: confidence level.
        method: "BCa", "percentile" or "basic". When BCa is undefined (e.g. every resample gives
            the same value) the percentile interval is used and ``method`` says so.
        n_resamples: bootstrap resamples.
        seed: int or Generator, passed as scipy's ``rng``.
        paired: resample the samples together (same indices).

    Returns:
        :class:`Estimate` with the statistic on the data as ``point``.
    """
    samples = data if isinstance(data, tuple) else (data,)
    samples = tuple(np.asarray(s, dtype=float) for s in samples)
    name = _method_name(method)
    if min(s.size for s in samples) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), level, f"bootstrap {name}")
    point = float(statistic(*samples, axis=-1))
    if min(s.size for s in samples) < 2:
        return Estimate(point, np.nan, np.nan, level, f"bootstrap {name}")
    if all(np.ptp(s) == 0 for s in samples):
        # Every resample gives the point value; scipy's BCa would divide by zero.
        return Estimate(point, point, point, level, f"bootstrap {name}")
    rng = as_generator(seed)
    state = rng.bit_generator.state
    low, high = _scipy_bootstrap(samples, statistic, level, name, n_resamples, rng, paired)
    if name == "BCa" and not (np.isfinite(low) and np.isfinite(high)):
        rng.bit_generator.state = state  # same resamples, percentile interval
        low, high = _scipy_bootstrap(
            samples, statistic, level, "percentile", n_resamples, rng, paired
        )
        name = "percentile (BCa undefined)"
    return Estimate(point, low, high, level, f"bootstrap {name}")


def _scipy_bootstrap(
    samples, statistic, level, method, n_resamples, rng, paired
) -> tuple[float, float]:
    with warnings.catch_warnings():
        # DegenerateDataWarning / divide warnings when BCa is undefined: handled by the caller.
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            samples,
            statistic,
            n_resamples=n_resamples,
            vectorized=True,
            paired=paired,
            confidence_level=level,
            method=method,
            rng=rng,
        )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass(frozen=True)
class Summary:
    """Distribution of one metric over the instances of one architecture.

    ``q05 .. q95`` are linear-interpolation quantiles; ``mean_ci``, ``median_ci`` and ``iqm_ci``
    are the intervals of :func:`summarize` (each names its method; withheld ones have NaN bounds
    and a ``note``).
    """

    architecture: str
    metric: str
    n: int
    mean: float
    sd: float
    median: float
    iqm: float
    min: float
    max: float
    q05: float
    q25: float
    q75: float
    q95: float
    mean_ci: Estimate
    median_ci: Estimate
    iqm_ci: Estimate

    def as_row(self) -> dict[str, object]:
        """Flat dict: the scalar fields plus ``<stat>_low`` / ``<stat>_high`` for the intervals."""
        row = {k: v for k, v in asdict(self).items() if not k.endswith("_ci")}
        for name in ("mean", "median", "iqm"):
            est: Estimate = getattr(self, f"{name}_ci")
            row[f"{name}_low"], row[f"{name}_high"] = est.low, est.high
            row[f"{name}_level"], row[f"{name}_method"] = est.level, est.method
            row[f"{name}_note"] = est.note
        row["level"], row["ci_method"] = self.mean_ci.level, self.mean_ci.method
        return row


def calibrated_ci(x: np.ndarray, statistic: str, *, level: float = 0.95) -> Estimate:
    """The simulation-calibrated interval of ``statistic`` ("mean", "median" or "iqm") of ``x``.

    Withheld (NaN bounds, ``note`` saying why) below :data:`MIN_SEEDS`; degenerate like
    :func:`bootstrap_ci` (no interval for one value, the point for constant values).
    """
    x = np.asarray(x, dtype=float)
    if statistic not in METHOD_NAMES:
        raise ValueError(f"unknown statistic {statistic!r}; use one of {sorted(METHOD_NAMES)}")
    method = METHOD_NAMES[statistic]
    n = x.size
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), level, method)
    point = float(STATISTICS[statistic](x, axis=-1))
    if n < MIN_SEEDS[statistic]:
        note = f"withheld: needs >= {MIN_SEEDS[statistic]} seeds"
        return Estimate(point, float("nan"), float("nan"), level, method, note)
    if np.ptp(x) == 0:
        return Estimate(point, point, point, level, method)
    if statistic == "median":
        low, high, achieved = median_interval(x, level)
        if achieved < 1 - alpha_from_level(level):
            note = f"exact level {achieved:.1%}: no order-statistic interval reaches {level:.0%}"
            return Estimate(point, float(low), float(high), achieved, "order statistics", note)
        return Estimate(point, float(low), float(high), achieved, method)
    low, high = (mean_interval if statistic == "mean" else iqm_interval)(x, level)
    return Estimate(point, float(low), float(high), level, method)


def summarize(
    x: np.ndarray,
    *,
    architecture: str = "",
    metric: str = "",
    level: float = 0.95,
    method: str = CALIBRATED,
    n_resamples: int = 10_000,
    seed: Seed = 0,
) -> Summary:
    """Summary of one sample of scores, shape ``(n,)``; NaNs must be removed beforehand.

    Args:
        x: scores, shape ``(n,)``.
        architecture, metric: names for the report.
        level: confidence level of the intervals.
        method: "auto" (default): the calibrated interval of each statistic (:func:`calibrated_ci`,
            withheld below :data:`MIN_SEEDS`); or "BCa", "percentile", "basic" for
            :func:`bootstrap_ci` (never withheld, and too narrow at small n).
        n_resamples: bootstrap resamples (bootstrap methods only).
        seed: int or Generator; the three bootstrap intervals use independent streams spawned
            from it. The calibrated intervals are not random.
    """
    x = np.asarray(x, dtype=float)
    if np.isnan(x).any():
        raise ValueError(
            f"{architecture or 'sample'}: scores contain NaN; exclude those rows first"
        )
    n = x.size
    names = ("mean", "median", "iqm")
    if method.lower() == CALIBRATED:
        cis = {name: calibrated_ci(x, name, level=level) for name in names}
    else:
        rngs = _spawn(seed, 3)
        cis = {
            name: bootstrap_ci(
                x, STATISTICS[name], level=level, method=method, n_resamples=n_resamples, seed=r
            )
            for name, r in zip(names, rngs)
        }
    if n == 0:
        nan = float("nan")
        q = [nan] * 4
        return Summary(architecture, metric, 0, nan, nan, nan, nan, nan, nan, *q, *cis.values())
    q = np.quantile(x, [0.05, 0.25, 0.75, 0.95])
    return Summary(
        architecture=architecture,
        metric=metric,
        n=n,
        mean=float(x.mean()),
        sd=float(x.std(ddof=1)) if n > 1 else float("nan"),
        median=float(np.median(x)),
        iqm=float(iqm(x)),
        min=float(x.min()),
        max=float(x.max()),
        q05=float(q[0]),
        q25=float(q[1]),
        q75=float(q[2]),
        q95=float(q[3]),
        mean_ci=cis["mean"],
        median_ci=cis["median"],
        iqm_ci=cis["iqm"],
    )


def _spawn(seed: Seed, n: int) -> list[np.random.Generator]:
    return list(as_generator(seed).spawn(n))


def summaries_frame(summaries: Iterable[Summary]) -> pd.DataFrame:
    """One row per summary (see :meth:`Summary.as_row`)."""
    return pd.DataFrame([s.as_row() for s in summaries])


@dataclass(frozen=True, eq=False)
class KDE:
    """Gaussian kernel density on a grid, for plotting.

    ``density`` is empty when it cannot be estimated (fewer than two distinct values); ``note``
    then says why and the points should be drawn instead.
    """

    grid: np.ndarray
    density: np.ndarray
    bandwidth: float
    note: str = ""


def kde(
    x: np.ndarray, *, n_points: int = 200, bw_method: str | float | None = None, pad: float = 3.0
) -> KDE:
    """Gaussian KDE of scores ``(n,)`` evaluated on ``n_points`` evenly spaced values.

    The grid spans the data extended by ``pad`` kernel bandwidths on each side.
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2 or np.ptp(x) == 0:
        note = "no data" if x.size == 0 else "fewer than two distinct values: no density"
        return KDE(grid=np.unique(x), density=np.empty(0), bandwidth=float("nan"), note=note)
    estimator = stats.gaussian_kde(x, bw_method=bw_method)
    bw = float(np.sqrt(estimator.covariance[0, 0]))
    grid = np.linspace(x.min() - pad * bw, x.max() + pad * bw, n_points)
    return KDE(grid=grid, density=estimator(grid), bandwidth=bw)
