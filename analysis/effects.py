"""How large is a difference: standardized effect sizes and the probability of improvement.

Hedges' g (bias-corrected standardized mean difference), Cliff's delta (all-pairs dominance) and
``P(X > Y)``, the probability that an instance of one architecture beats one of the other, with
the confidence intervals the simulation chose (docs/statistics.md): Wilson's for paired seeds (a
proportion of seeds won), Newcombe's score interval for independent samples (Mann-Whitney).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from analysis._seeding import Seed
from analysis.distributions import CALIBRATED, MIN_SEEDS, Estimate, alpha_from_level, bootstrap_ci

__all__ = [
    "P_IMPROVEMENT_METHODS",
    "cliffs_delta",
    "hedges_g",
    "newcombe_interval",
    "probability_of_improvement",
    "wilson_interval",
]


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
