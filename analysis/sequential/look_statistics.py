"""The statistics of one look: paired t or Welch on the scores so far, on the z scale.

Each look's t statistic is mapped to the z scale through its p-value, and a z boundary back to a
t critical value with that look's degrees of freedom (the "significance level" approach of
Jennison & Turnbull 2000 for unknown variance). Everything is vectorized over leading axes, so the
same functions serve one observed comparison and thousands of simulated sweeps.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from analysis.sequential.design import FUTILE, OTHER_BETTER, REFERENCE_BETTER, UNDECIDED

__all__ = ["decide", "look_statistics", "repeated_interval", "t_to_z", "z_to_t"]


def t_to_z(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """The z value with the same tail probability as ``t`` with ``df`` degrees of freedom."""
    # -ndtri(p) keeps precision for tiny p.
    with np.errstate(invalid="ignore"):
        return np.sign(t) * -special.ndtri(special.stdtr(df, -np.abs(t)))


def z_to_t(c: np.ndarray, df: np.ndarray) -> np.ndarray:
    """The t critical value (``df`` degrees of freedom) with the same tail probability as ``c``."""
    with np.errstate(invalid="ignore"):
        return -special.stdtrit(df, special.ndtr(-np.asarray(c, float)))


def _moments(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Mean, variance (ddof 1) and count over the last axis, ignoring NaN (failed seeds).
    n = np.sum(~np.isnan(a), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(a, axis=-1) / n
        var = np.nansum((a - mean[..., None]) ** 2, axis=-1) / (n - 1)
    return mean, var, n


def look_statistics(x: np.ndarray, y: np.ndarray, paired: bool) -> dict[str, np.ndarray]:
    """Estimate, standard error, df, t and z of ``mean(x) - mean(y)`` over the last axis.

    Paired: pairs where both are finite, one-sample t on ``x - y``. Unpaired: Welch. ``info`` is
    the information in seeds (pairs, or the harmonic mean of the sample sizes). Where the standard
    error is 0, t is ``+-inf`` (or 0 when the estimate is 0 too), as the one-sample t is in
    ``benchmark.search.race``.
    """
    if paired:
        mean, var, n = _moments(x - y)
        n_x = n_y = n
        se2, df, info = var / n, n - 1.0, n.astype(float)
    else:
        mean_x, var_x, n_x = _moments(x)
        mean_y, var_y, n_y = _moments(y)
        mean = mean_x - mean_y
        with np.errstate(invalid="ignore", divide="ignore"):
            vx, vy = var_x / n_x, var_y / n_y
            se2 = vx + vy
            df = se2**2 / (vx**2 / (n_x - 1) + vy**2 / (n_y - 1))
            info = 2.0 / (1.0 / n_x + 1.0 / n_y)
        # Both samples constant: Welch's df is 0/0; any df gives the same infinite or zero t.
        df = np.where(se2 == 0, n_x + n_y - 2.0, df)
    ok = (n_x >= 2) & (n_y >= 2)
    se = np.sqrt(se2)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(se > 0, mean / se, np.sign(mean) * np.inf)
    t = np.where(ok, np.nan_to_num(t, nan=0.0, posinf=np.inf, neginf=-np.inf), np.nan)
    return dict(
        estimate=np.where(n_x * n_y > 0, mean, np.nan), se=np.where(ok, se, np.nan),
        df=np.where(ok, df, np.nan), t=t, z=t_to_z(t, df), info=np.where(ok, info, 0.0),
        n_x=n_x, n_y=n_y,
    )  # fmt: skip


def repeated_interval(estimate, se, critical) -> tuple[np.ndarray, np.ndarray]:
    """``estimate -+ critical * se``; an infinite critical value (no test at that look) gives the
    whole line even when ``se`` is 0."""
    with np.errstate(invalid="ignore"):
        half = np.where(np.isinf(critical), np.inf, critical * se)
    return estimate - half, estimate + half


def decide(z, low, high, boundary, min_effect, two_sided) -> np.ndarray:
    """Decision code at one look: efficacy first, then futility (vectorized)."""
    code = np.full(np.shape(z), UNDECIDED, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        code[z >= boundary] = REFERENCE_BETTER
        if two_sided:
            code[z <= -boundary] = OTHER_BETTER
        if min_effect is not None:
            inside = high < min_effect
            if two_sided:
                inside &= low > -min_effect
            code[(code == UNDECIDED) & inside] = FUTILE
    return code
