"""Group-sequential boundaries: alpha-spending functions and the recursive integration.

Lan-DeMets alpha spending (Hwang-Shih-DeCani, Kim-DeMets power, O'Brien-Fleming and Pocock types)
gives each look's share of alpha; the boundary that spends exactly that share comes from the
recursive numerical integration of Armitage, McPherson and Rowe (Jennison & Turnbull 2000,
ch. 19): the sub-density of ``Z_k`` on the continuation region is carried from look to look on a
Simpson grid. Everything here is on the z scale and knows nothing of scores or seeds.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, special

__all__ = [
    "SPENDING_FAMILIES",
    "crossing_probabilities",
    "spending",
    "spending_boundaries",
    "wang_tsiatis_boundaries",
]

#: Spending families: name -> meaning of ``parameter``.
SPENDING_FAMILIES: dict[str, str] = {
    "hsd": "Hwang-Shih-DeCani gamma (-4 ~ O'Brien-Fleming, 1 ~ Pocock; 0 is linear)",
    "power": "Kim-DeMets rho: alpha * t**rho",
    "obf": "Lan-DeMets O'Brien-Fleming type (parameter unused)",
    "pocock": "Lan-DeMets Pocock type (parameter unused)",
}

#: Half-width (in sd) of the integration grid around the mean of Z_k; the density beyond is < 1e-22.
_WIDTH = 10.0
#: Largest boundary tried; beyond it the crossing probability is below double precision anyway.
_ZMAX = 38.0


def spending(
    t: np.ndarray | float, alpha: float, family: str, parameter: float = 0.0
) -> np.ndarray:
    """Cumulative one-sided alpha spent by information fraction ``t`` (clipped to [0, 1]).

    Lan & DeMets (1983): "obf" ``2 - 2 Phi(z_{1-alpha/2} / sqrt t)``, "pocock"
    ``alpha log(1 + (e - 1) t)``; Hwang, Shih & DeCani (1990): "hsd"
    ``alpha (1 - exp(-gamma t)) / (1 - exp(-gamma))``; Kim & DeMets (1987): "power"
    ``alpha t**rho``. All equal ``alpha`` at ``t = 1``. A two-sided symmetric design spends
    ``alpha / 2`` per side.
    """
    t = np.clip(np.asarray(t, float), 0.0, 1.0)
    if family == "obf":
        with np.errstate(divide="ignore"):
            return 2 - 2 * special.ndtr(special.ndtri(1 - alpha / 2) / np.sqrt(t))
    if family == "pocock":
        return alpha * np.log1p((math.e - 1) * t)
    if family == "hsd":
        if parameter == 0:
            return alpha * t
        return alpha * -np.expm1(-parameter * t) / -math.expm1(-parameter)
    if family == "power":
        return alpha * t**parameter
    raise ValueError(f"unknown spending {family!r}; use one of {', '.join(SPENDING_FAMILIES)}")


# ------------------------------------------------------------------- numerical integration
def _grid_step(t: np.ndarray) -> float:
    # Simpson's rule is accurate when the step is a small fraction of the transition kernel's sd
    # (in the z units of either look); 0.05 alone gives ~1e-7 on Jennison & Turnbull's tables.
    if t.size < 2:
        return 0.05
    dt = np.diff(t)
    kernel = np.sqrt(dt / np.maximum(t[1:], t[:-1]))
    return float(min(0.05, kernel.min() / 5))


def _simpson(lo: float, hi: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    n = max(2, math.ceil((hi - lo) / step))
    n += n % 2
    z = np.linspace(lo, hi, n + 1)
    w = np.ones(n + 1)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return z, w * (hi - lo) / (3 * n)


class _Recursion:
    """Sub-density of ``Z_k`` on the continuation region, carried look by look (J&T ch. 19).

    ``Z_k = S_k / sqrt(t_k)`` where ``S`` is Brownian motion with drift ``drift`` in information
    time t (so ``E Z_k = drift sqrt(t_k)``). Private and mutable; callers own one per computation.
    """

    def __init__(self, drift: float, step: float) -> None:
        self.drift, self.step = drift, step
        self.t = 0.0
        self.z: np.ndarray | None = None  # grid on the last look's continuation region
        self.wf: np.ndarray | None = None  # Simpson weight x sub-density at the grid

    def _moments(self, t: float) -> tuple[np.ndarray | float, float]:
        # Mean and sd of Z at information t given Z at the previous look (or from 0 at the first).
        if self.z is None:
            return self.drift * math.sqrt(t), 1.0
        dt = t - self.t
        mean = (self.z * math.sqrt(self.t) + self.drift * dt) / math.sqrt(t)
        return mean, math.sqrt(dt / t)

    def exits(self, t: float, upper: float, lower: float) -> tuple[float, float]:
        """P(continue to this look and end at or above ``upper``), same below ``lower``."""
        mean, sd = self._moments(t)
        up = special.ndtr((mean - upper) / sd)
        low = special.ndtr((lower - mean) / sd)
        if self.z is None:
            return float(up), float(low)
        return float(self.wf @ up), float(self.wf @ low)

    def advance(self, t: float, upper: float, lower: float) -> None:
        """Move to the look at ``t`` and keep the paths that continue (``lower < Z < upper``)."""
        centre = self.drift * math.sqrt(t)
        lo, hi = max(lower, centre - _WIDTH), min(upper, centre + _WIDTH)
        mean, sd = self._moments(t)
        if hi <= lo:
            z, wf = np.array([centre, centre, centre]), np.zeros(3)
        else:
            z, w = _simpson(lo, hi, self.step)
            if self.z is None:
                f = np.exp(-0.5 * (z - mean) ** 2) / math.sqrt(2 * math.pi)
            else:
                kernel = np.exp(-0.5 * ((z[:, None] - mean[None, :]) / sd) ** 2)
                f = kernel @ self.wf / (sd * math.sqrt(2 * math.pi))
            wf = w * f
        self.z, self.wf, self.t = z, wf, t


def crossing_probabilities(
    fractions: Sequence[float],
    upper: Sequence[float],
    lower: Sequence[float] | None = None,
    drift: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of stopping at each look through the upper and the lower boundary.

    Args:
        fractions: information fractions ``t_k``, increasing, shape ``(K,)``.
        upper: z boundaries, shape ``(K,)`` (``inf``: no upper stop at that look).
        lower: z boundaries, shape ``(K,)``; default ``-upper`` (symmetric two-sided); ``-inf``
            for none.
        drift: ``E Z_k = drift * sqrt(t_k)`` (0 under the null; ``theta sqrt(I_max)`` otherwise).

    Returns:
        ``(p_upper, p_lower)``, each shape ``(K,)``: first exit at look k through that boundary.
    """
    t = np.asarray(fractions, float)
    b = np.asarray(upper, float)
    a = -b if lower is None else np.asarray(lower, float)
    rec = _Recursion(drift, _grid_step(t))
    p_up, p_low = np.zeros(t.size), np.zeros(t.size)
    for k in range(t.size):
        p_up[k], p_low[k] = rec.exits(t[k], b[k], a[k])
        rec.advance(t[k], b[k], a[k])
    return p_up, p_low


def _solve_boundary(rec: _Recursion, t: float, target: float, two_sided: bool) -> float:
    if target <= 0:
        return math.inf

    def excess(c: float) -> float:
        up, low = rec.exits(t, c, -c if two_sided else -math.inf)
        return up + low - target

    if excess(0.0) <= 0:  # even c = 0 spends less than allowed (only for huge alpha)
        return 0.0
    if excess(_ZMAX) >= 0:
        return _ZMAX
    return optimize.brentq(excess, 0.0, _ZMAX, xtol=1e-9)


@functools.lru_cache(maxsize=4096)
def spending_boundaries(
    fractions: tuple[float, ...],
    alpha: float,
    family: str,
    parameter: float = 0.0,
    *,
    two_sided: bool = True,
) -> np.ndarray:
    """z boundaries of a Lan-DeMets group-sequential test at the given information fractions.

    Look k's boundary ``c_k`` makes the null probability of stopping exactly at look k equal the
    alpha spent between ``t_{k-1}`` and ``t_k`` (per side when two-sided; the boundaries are
    symmetric). A look that adds no information gets ``inf``. Cached (the arguments are hashable).

    Args:
        fractions: ``t_k`` in (0, 1], increasing (a tuple, for the cache).
        alpha: total level (two-sided: both sides together).
        family, parameter: see :func:`spending`.
        two_sided: symmetric two-sided (reject when ``|Z_k| >= c_k``) or upper only.

    Returns:
        Shape ``(K,)``, read-only.
    """
    t = np.asarray(fractions, float)
    if t.size and (t[0] <= 0 or np.any(np.diff(t) <= 0) or t[-1] > 1):
        raise ValueError(f"fractions must increase within (0, 1], got {fractions}")
    side = alpha / 2 if two_sided else alpha
    increments = np.diff(spending(np.r_[0.0, t], side, family, parameter))
    rec = _Recursion(0.0, _grid_step(t))
    c = np.empty(t.size)
    for k in range(t.size):
        target = increments[k] * (2 if two_sided else 1)
        c[k] = _solve_boundary(rec, t[k], target, two_sided)
        rec.advance(t[k], c[k], -c[k] if two_sided else -math.inf)
    c.flags.writeable = False
    return c


def wang_tsiatis_boundaries(
    fractions: Sequence[float], alpha: float = 0.05, delta: float = 0.5, *, two_sided: bool = True
) -> np.ndarray:
    """Classical boundaries ``C * t_k**(delta - 1/2)`` with ``C`` giving total level ``alpha``.

    ``delta = 0.5``: Pocock (1977), a constant boundary; ``delta = 0``: O'Brien & Fleming (1979),
    ``C / sqrt(t_k)``. For K equally spaced looks at two-sided 0.05, ``C`` is 2.413 (Pocock) and
    2.040 (O'Brien-Fleming) at K = 5 (Jennison & Turnbull 2000, Table 2.1). These need the looks
    fixed in advance; the sequential comparisons here use :func:`spending_boundaries`.

    Returns:
        Shape ``(K,)``.
    """
    t = np.asarray(fractions, float)
    shape = t ** (delta - 0.5)

    def excess(scale: float) -> float:
        c = scale * shape
        up, low = crossing_probabilities(t, c, -c if two_sided else np.full(t.size, -np.inf))
        return up.sum() + low.sum() - alpha

    return optimize.brentq(excess, 0.1, 20.0, xtol=1e-10) * shape
