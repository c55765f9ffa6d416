"""Per-architecture score distributions: summaries, bootstrap intervals and KDEs.

All functions take a 1-D array of scores (one per instance/seed) of one architecture. Intervals come
from :func:`scipy.stats.bootstrap` with an explicit seed; the global random state is never used.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis._seeding import Seed, as_generator

__all__ = [
    "KDE",
    "Estimate",
    "Summary",
    "bootstrap_ci",
    "iqm",
    "kde",
    "summaries_frame",
    "summarize",
]

Statistic = Callable[..., np.ndarray]

_METHODS = {"bca": "BCa", "percentile": "percentile", "basic": "basic"}


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided confidence interval.

    ``low``/``high`` are NaN when no interval can be computed (fewer than two observations).
    ``method`` says how the interval was made, e.g. ``"bootstrap BCa"``.
    """

    point: float
    low: float
    high: float
    level: float
    method: str

    def format(self, digits: int = 3, signed: bool = False) -> str:
        """``0.812 [0.801, 0.823]``."""
        p = f"{self.point:+.{digits}f}" if signed else f"{self.point:.{digits}f}"
        if np.isnan(self.low) or np.isnan(self.high):
            return p
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
    are bootstrap intervals.
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
        row["level"], row["ci_method"] = self.mean_ci.level, self.mean_ci.method
        return row


def summarize(
    x: np.ndarray,
    *,
    architecture: str = "",
    metric: str = "",
    level: float = 0.95,
    method: str = "BCa",
    n_resamples: int = 10_000,
    seed: Seed = 0,
) -> Summary:
    """Summary of one sample of scores, shape ``(n,)``; NaNs must be removed beforehand.

    The three intervals use independent streams spawned from ``seed``.
    """
    x = np.asarray(x, dtype=float)
    if np.isnan(x).any():
        raise ValueError(
            f"{architecture or 'sample'}: scores contain NaN; exclude those rows first"
        )
    n = x.size
    rngs = _spawn(seed, 3)
    cis = {
        name: bootstrap_ci(
            x, STATISTICS[name], level=level, method=method, n_resamples=n_resamples, seed=r
        )
        for name, r in zip(("mean", "median", "iqm"), rngs)
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
