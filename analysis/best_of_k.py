"""The value of "train many, keep best": the expected best score among ``k`` instances.

``E[max of k drawn without replacement]`` from the order statistics of the observed scores, for
every ``k`` up to the number of seeds, with a jackknife band where it keeps its level
(``(k + 1)^2 <= n``; docs/statistics.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import special

from analysis._seeding import Seed, as_generator
from analysis.distributions import MIN_SEEDS, hall_t_interval

__all__ = [
    "JACKKNIFE_BAND",
    "BestOfK",
    "band_k_max",
    "best_of_k",
    "best_of_k_frame",
    "expected_max_of_k",
    "jackknife_band",
]


def _max_weights(n: int) -> np.ndarray:
    """``W[k-1, i-1] = C(i-1, k-1) / C(n, k)``: P(the i-th smallest of n is the max of k drawn)."""
    i = np.arange(1, n + 1)[None, :]
    k = np.arange(1, n + 1)[:, None]
    valid = i >= k
    with np.errstate(invalid="ignore"):
        log_w = (
            special.gammaln(i) - special.gammaln(k) - special.gammaln(np.maximum(i - k, 0) + 1)
            - (special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1))
        )  # fmt: skip
    return np.where(valid, np.exp(np.where(valid, log_w, 0.0)), 0.0)


def expected_max_of_k(x: np.ndarray) -> np.ndarray:
    """Expected best of ``k`` instances drawn without replacement from the observed ``n``.

    ``E[max] = sum_i x_(i) C(i-1, k-1) / C(n, k)`` with ``x_(1) <= ... <= x_(n)``.

    Args:
        x: scores, shape ``(..., n)``; leading axes are batches (e.g. bootstrap resamples).

    Returns:
        Shape ``(..., n)``: entry ``k - 1`` is the expectation for ``k = 1 .. n`` (``k = 1`` is
        the mean, ``k = n`` the maximum).
    """
    x = np.sort(np.asarray(x, float), axis=-1)
    return x @ _max_weights(x.shape[-1]).T


@dataclass(frozen=True, eq=False)
class BestOfK:
    """Expected best-of-k score for ``k = 1 .. n`` with a confidence band.

    Arrays have shape ``(n,)``, entry ``k - 1`` for k. ``expected`` (the average maximum over all
    k-subsets of the n instances) is unbiased for the expected best of k fresh seeds. The band
    (``method``) is NaN beyond ``k_max``: the expected best of k seeds is an extrapolation into
    the upper tail once k nears n, and no interval the simulation tried kept 93 % coverage there
    (docs/statistics.md). ``note`` says why when the band is cut or withheld. When
    ``higher_is_better`` is False (a loss, a distance) "best" is the lowest: ``expected`` is the
    expected minimum of k.
    """

    architecture: str
    metric: str
    k: np.ndarray
    expected: np.ndarray
    low: np.ndarray
    high: np.ndarray
    level: float
    method: str = ""
    k_max: int = 0
    note: str = ""
    higher_is_better: bool = True

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "architecture": self.architecture,
                "metric": self.metric,
                "k": self.k,
                "expected_best": self.expected,
                "low": self.low,
                "high": self.high,
                "level": self.level,
                "method": self.method,
                "higher_is_better": self.higher_is_better,
            }
        )


#: ``method`` of :func:`best_of_k`'s default band.
JACKKNIFE_BAND = "jackknife t, Hall skewness-corrected"


def band_k_max(n: int) -> int:
    """Largest k whose best-of-k band is reported with ``n`` seeds: ``(k + 1)^2 <= n``, none below
    ``MIN_SEEDS["mean"]`` (k = 1 is the mean). From the simulation: the jackknife band covers
    93 % or more up to there with normal and skewed scores at 6-26 seeds (26 seeds: k <= 4;
    k = 5 covers 0.930 for skewed scores), less beyond (docs/statistics.md)."""
    return math.isqrt(n) - 1 if n >= MIN_SEEDS["mean"] else 0


def jackknife_band(x: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Jackknife t band of the expected best of k, ``k = 1 .. n - 1``, batched over ``(..., n)``.

    Leave-one-out estimates give pseudo-values ``n E_k - (n - 1) E_k^(-i)`` (for k = 1, the
    scores themselves); :func:`~analysis.distributions.hall_t_interval` of them, centred on the
    estimate, is the interval (so k = 1 is exactly the mean's interval).

    Returns:
        ``(low, high)``, each ``(..., n - 1)`` for ``k = 1 .. n - 1``.
    """
    x = np.asarray(x, float)
    n = x.shape[-1]
    estimate = expected_max_of_k(x)[..., : n - 1]
    drop_one = np.array([np.delete(np.arange(n), i) for i in range(n)])
    loo = expected_max_of_k(x[..., drop_one])  # (..., n, n - 1)
    pseudo = n * estimate[..., None, :] - (n - 1) * loo
    return hall_t_interval(np.moveaxis(pseudo, -2, -1), center=estimate, level=level)


def best_of_k(
    x: np.ndarray,
    *,
    architecture: str = "",
    metric: str = "",
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: Seed = 0,
    method: str = "jackknife",
    higher_is_better: bool = True,
) -> BestOfK:
    """Expected best of k (:func:`expected_max_of_k`) with a confidence band.

    Args:
        x: scores ``(n,)``.
        architecture, metric: names for the report.
        level: confidence level.
        n_resamples, seed: resamples and stream of the "percentile" band only.
        method: "jackknife" (default: :func:`jackknife_band` for ``k <= band_k_max(n)``, NaN
            beyond) or "percentile" (the bootstrap band over every k; it covered 46-93 % in the
            simulation, kept for comparison).
        higher_is_better: False: the best of k is the lowest (the expected minimum, its band).
    """
    if not higher_is_better:
        # min of k = -(max of k of -x); the band flips with it.
        flipped = best_of_k(
            -np.asarray(x, float), architecture=architecture, metric=metric, level=level,
            n_resamples=n_resamples, seed=seed, method=method,
        )  # fmt: skip
        return replace(
            flipped, expected=-flipped.expected, low=-flipped.high, high=-flipped.low,
            higher_is_better=False,
        )  # fmt: skip
    x = np.asarray(x, float)
    n = x.size
    k = np.arange(1, n + 1)
    if method not in ("jackknife", "percentile"):
        raise ValueError(f"unknown best-of-k band {method!r}; use 'jackknife' or 'percentile'")
    if n == 0:
        empty = np.empty(0)
        return BestOfK(architecture, metric, k, empty, empty, empty, level)
    expected = expected_max_of_k(x)
    nan_band = np.full(n, np.nan)
    if n < 2:
        return BestOfK(architecture, metric, k, expected, nan_band, nan_band.copy(), level)
    if method == "percentile":
        low, high = _percentile_band(x, level, n_resamples, seed)
        return BestOfK(
            architecture, metric, k, expected, low, high, level, "bootstrap percentile", n
        )
    k_max = band_k_max(n)
    low, high = nan_band, nan_band.copy()
    if k_max:
        jl, jh = jackknife_band(x, level)
        low[:k_max], high[:k_max] = jl[:k_max], jh[:k_max]
    note = (
        f"band for k <= {k_max} only ((k + 1)^2 <= n)"
        if k_max
        else f"band withheld: needs >= {MIN_SEEDS['mean']} seeds"
    )
    return BestOfK(architecture, metric, k, expected, low, high, level, JACKKNIFE_BAND, k_max, note)


def _percentile_band(x, level, n_resamples, seed):
    rng = as_generator(seed)
    n = x.size
    weights = _max_weights(n).T.copy()
    boot = np.empty((n_resamples, n))
    chunk = max(1, 4_000_000 // n)  # bounds the memory of one batch of resamples
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        boot[start:stop] = np.sort(x[rng.integers(0, n, size=(stop - start, n))], axis=-1) @ weights
    tail = (1 - level) / 2
    return np.quantile(boot, [tail, 1 - tail], axis=0)


def best_of_k_frame(curves: Sequence[BestOfK]) -> pd.DataFrame:
    """Long table: one row per architecture and k."""
    frames = [c.frame() for c in curves]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
