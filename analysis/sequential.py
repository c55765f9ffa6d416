"""Spend seeds only until the answer is known: group-sequential comparisons with a reference.

Seeds are trained in rounds (the first look after ``min_seeds``, then every ``round_size`` seeds,
up to ``max_seeds``). After each round the reference is compared with every other architecture by a
group-sequential t test whose type-I error is controlled under optional stopping:

- **Boundaries** come from a Lan-DeMets alpha-spending function (Hwang-Shih-DeCani by default)
  over the information fractions ``n_k / max_seeds``, computed by the recursive numerical
  integration of Armitage, McPherson and Rowe (Jennison & Turnbull 2000, ch. 19). Looks with fewer
  pairs than planned (failed seeds) simply get their own fraction.
- **Unknown variance**: each look's t statistic (paired t, or Welch) is mapped to the z scale
  through its p-value, and the z boundary back to a t critical value with that look's degrees of
  freedom (the "significance level" approach of Jennison & Turnbull 2000 for unknown variance).
- **Repeated confidence intervals** (Jennison & Turnbull 2000, ch. 9) hold simultaneously over all
  looks; a comparison is *futile* when its interval lies inside ``(-min_effect, min_effect)``.
- **Repeated p-values** (the smallest alpha at which the design would have rejected by that look)
  are valid under any stopping rule and never increase. Several comparisons share alpha by Holm's
  step-down on them, i.e. the closed procedure with weighted Bonferroni group-sequential tests of
  Maurer & Bretz (2013); intervals and futility use the Bonferroni level ``alpha / m``.

Decisions are final once reached, and every result is a pure function of the observed scores, so a
killed and resumed run recomputes exactly the same decisions. Differences are always
``reference - other``; "better" means a higher score. docs/sequential.md has the calibration.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from analysis._seeding import Seed, as_generator, derive

__all__ = [
    "DECISIONS",
    "SPENDING_FAMILIES",
    "ComparisonPath",
    "FamilyState",
    "Look",
    "SeedPlan",
    "SequentialDesign",
    "Simulation",
    "calibrate",
    "crossing_probabilities",
    "fixed_power",
    "plan_seeds",
    "sequential_family",
    "sequential_path",
    "simulate",
    "spending",
    "spending_boundaries",
    "wang_tsiatis_boundaries",
]

#: Decision codes (index) and names. "undecided" after the last look means inconclusive.
DECISIONS: tuple[str, ...] = ("undecided", "reference_better", "other_better", "futile")
_UNDECIDED, _REF, _OTHER, _FUTILE = range(4)

#: Spending families: name -> meaning of ``parameter``.
SPENDING_FAMILIES: dict[str, str] = {
    "hsd": "Hwang-Shih-DeCani gamma (-4 ~ O'Brien-Fleming, 1 ~ Pocock; 0 is linear)",
    "power": "Kim-DeMets rho: alpha * t**rho",
    "obf": "Lan-DeMets O'Brien-Fleming type (parameter unused)",
    "pocock": "Lan-DeMets Pocock type (parameter unused)",
}

_CORRECTIONS = ("holm", "bonferroni")
#: Half-width (in sd) of the integration grid around the mean of Z_k; the density beyond is < 1e-22.
_WIDTH = 10.0
#: Largest boundary tried; beyond it the crossing probability is below double precision anyway.
_ZMAX = 38.0
#: Smallest repeated p-value resolved (reported as this value when smaller).
_PMIN = 1e-12


# ------------------------------------------------------------------------------------ design
@dataclass(frozen=True)
class SequentialDesign:
    """What a sequential comparison is; with the scores it determines every decision.

    Attributes:
        alpha: family-wise two-sided level (one-sided when ``two_sided`` is False) over the
            reference's comparisons; each comparison alone is tested at ``alpha`` when it is the
            only one.
        min_seeds: seeds per architecture at the first look (>= 2).
        max_seeds: seeds per architecture at the last look; information fractions are
            ``n / max_seeds``.
        round_size: seeds added per round between looks.
        spending: alpha-spending family, a key of :data:`SPENDING_FAMILIES`.
        parameter: the family's parameter (gamma for "hsd", rho for "power").
        min_effect: futility margin in score units: a comparison whose repeated interval lies inside
            ``(-min_effect, min_effect)`` is decided "futile" (no difference that large). None: no
            futility stop.
        paired: seed i of every architecture shares data order and init (paired t on the per-seed
            differences); False compares independent samples (Welch).
        two_sided: test both directions; False tests only "reference better" (H1: mean of
            ``reference - other`` > 0) and futility means "the reference is not better by
            ``min_effect``".
        correction: how the comparisons of one reference share ``alpha``: "holm" (step-down on the
            repeated p-values; Maurer & Bretz 2013) or "bonferroni" (``alpha / m`` each).
    """

    alpha: float = 0.05
    min_seeds: int = 5
    max_seeds: int = 26
    round_size: int = 3
    spending: str = "hsd"
    parameter: float = -2.5
    min_effect: float | None = None
    paired: bool = True
    two_sided: bool = True
    correction: str = "holm"

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not 2 <= self.min_seeds <= self.max_seeds:
            raise ValueError(
                f"need 2 <= min_seeds <= max_seeds, got {self.min_seeds} and {self.max_seeds}"
            )
        if self.round_size < 1:
            raise ValueError(f"round_size must be >= 1, got {self.round_size}")
        if self.spending not in SPENDING_FAMILIES:
            raise ValueError(
                f"unknown spending {self.spending!r}; use one of {', '.join(SPENDING_FAMILIES)}"
            )
        if self.spending == "power" and not self.parameter > 0:
            raise ValueError(f"power spending needs rho > 0, got {self.parameter}")
        if self.min_effect is not None and not self.min_effect > 0:
            raise ValueError(f"min_effect must be positive or None, got {self.min_effect}")
        if self.correction not in _CORRECTIONS:
            raise ValueError(
                f"unknown correction {self.correction!r}; use one of {', '.join(_CORRECTIONS)}"
            )

    @property
    def looks(self) -> tuple[int, ...]:
        """Seeds per architecture at each look: ``min_seeds``, every ``round_size``, ``max_seeds``."""
        seeds = list(range(self.min_seeds, self.max_seeds + 1, self.round_size))
        if seeds[-1] != self.max_seeds:
            seeds.append(self.max_seeds)
        return tuple(seeds)

    def spent(self, t: np.ndarray | float, alpha: float | None = None) -> np.ndarray:
        """Cumulative alpha (both sides together when two-sided) spent by information fraction t."""
        a = self.alpha if alpha is None else alpha
        side = spending(t, a / 2 if self.two_sided else a, self.spending, self.parameter)
        return 2 * side if self.two_sided else side

    def boundaries(
        self, n: Sequence[float] | None = None, alpha: float | None = None
    ) -> np.ndarray:
        """z-scale boundaries at the looks (reject when ``|z| >= c``; ``z >= c`` one-sided).

        Args:
            n: information per look in seeds (pairs; the harmonic mean of the two sample sizes when
                unpaired), increasing; default the planned :attr:`looks`. The last value is the
                final look (fraction 1) only when it equals ``max_seeds``.
            alpha: level (default :attr:`alpha`; pass ``alpha / m`` for one of m comparisons).

        Returns:
            Shape ``(len(n),)``.
        """
        n = self.looks if n is None else tuple(float(v) for v in n)
        t = tuple(min(v / self.max_seeds, 1.0) for v in n)
        return spending_boundaries(
            t, self.alpha if alpha is None else alpha, self.spending, self.parameter,
            two_sided=self.two_sided,
        )  # fmt: skip


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


# ------------------------------------------------------------------- per-look statistics
def _t_to_z(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    # Same tail probability on the z scale; -ndtri(p) keeps precision for tiny p.
    with np.errstate(invalid="ignore"):
        return np.sign(t) * -special.ndtri(special.stdtr(df, -np.abs(t)))


def _z_to_t(c: np.ndarray, df: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return -special.stdtrit(df, special.ndtr(-np.asarray(c, float)))


def _moments(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Mean, variance (ddof 1) and count over the last axis, ignoring NaN (failed seeds).
    n = np.sum(~np.isnan(a), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(a, axis=-1) / n
        var = np.nansum((a - mean[..., None]) ** 2, axis=-1) / (n - 1)
    return mean, var, n


def _statistics(x: np.ndarray, y: np.ndarray, paired: bool) -> dict[str, np.ndarray]:
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
        df=np.where(ok, df, np.nan), t=t, z=_t_to_z(t, df), info=np.where(ok, info, 0.0),
        n_x=n_x, n_y=n_y,
    )  # fmt: skip


def _interval(estimate, se, critical) -> tuple[np.ndarray, np.ndarray]:
    # estimate -+ critical * se, where an infinite critical value (no test at that look) gives the
    # whole line even when se is 0.
    with np.errstate(invalid="ignore"):
        half = np.where(np.isinf(critical), np.inf, critical * se)
    return estimate - half, estimate + half


def _decide(z, low, high, boundary, min_effect, two_sided) -> np.ndarray:
    """Decision code at one look: efficacy first, then futility (vectorized)."""
    code = np.full(np.shape(z), _UNDECIDED, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        code[z >= boundary] = _REF
        if two_sided:
            code[z <= -boundary] = _OTHER
        if min_effect is not None:
            inside = high < min_effect
            if two_sided:
                inside &= low > -min_effect
            code[(code == _UNDECIDED) & inside] = _FUTILE
    return code


# ----------------------------------------------------------------------- path of one pair
@dataclass(frozen=True)
class Look:
    """One look of one comparison (differences are ``reference - other``).

    Attributes:
        look: 1-based index into :attr:`SequentialDesign.looks`.
        seeds: planned seeds per architecture at this look.
        n_reference, n_other: scores used (pairs present in both when paired).
        information: pairs (paired) or the harmonic mean of the two counts; fraction is
            ``information / max_seeds`` (1 at the last look).
        estimate: mean difference; se, df: its standard error and t degrees of freedom.
        statistic: the t statistic; z: the same tail probability on the z scale.
        level: the alpha this comparison was tested at (Holm: grows as others are rejected).
        boundary: z boundary at ``level`` (``inf``: no test at this look); critical: the same on
            the t scale with ``df``.
        low, high: repeated confidence interval at the Bonferroni level ``alpha / m``; the
            intervals of all looks hold simultaneously with probability ``1 - alpha / m``.
        p_repeated: repeated p-value (smallest alpha rejecting by this look); p_adjusted: Holm (or
            Bonferroni) over the reference's comparisons at this look.
        decision: the comparison's decision after this look (one of :data:`DECISIONS`).
    """

    look: int
    seeds: int
    n_reference: int
    n_other: int
    information: float
    fraction: float
    estimate: float
    se: float
    df: float
    statistic: float
    z: float
    level: float
    boundary: float
    critical: float
    low: float
    high: float
    p_repeated: float
    p_adjusted: float
    decision: str


@dataclass(frozen=True)
class ComparisonPath:
    """The reference against one other architecture, look by look.

    Attributes:
        reference, other: names.
        design: the design.
        looks: one :class:`Look` per evaluated look, ending at the decision.
        decision: final once not "undecided" (one of :data:`DECISIONS`).
        decided_at: 1-based look of the decision, None while undecided.
        finished: decided, or the last look (``max_seeds``) was evaluated.
    """

    reference: str
    other: str
    design: SequentialDesign
    looks: tuple[Look, ...]
    decision: str
    decided_at: int | None
    finished: bool

    @property
    def needs_seeds(self) -> bool:
        """Whether this comparison wants the next round."""
        return not self.finished

    @property
    def last(self) -> Look | None:
        return self.looks[-1] if self.looks else None

    def frame(self) -> pd.DataFrame:
        """One row per look, with ``reference`` and ``other`` columns."""
        rows = [dict(reference=self.reference, other=self.other, **asdict(lk)) for lk in self.looks]
        return pd.DataFrame(rows, columns=["reference", "other", *Look.__dataclass_fields__])

    def verdict(self, digits: int = 3) -> str:
        """One line, e.g. ``A > B after 11 seeds: +0.031 [0.012, 0.050], p(seq) = 0.004``."""
        lk = self.last
        if lk is None:
            return f"{self.reference} ? {self.other}: no look yet"
        sign = {"reference_better": ">", "other_better": "<", "futile": "~", "undecided": "?"}[
            self.decision
        ]
        when = f"after {lk.seeds} seeds" if self.finished else f"{lk.seeds} seeds so far"
        text = (
            f"{self.reference} {sign} {self.other} {when}: {lk.estimate:+.{digits}f} "
            f"[{lk.low:.{digits}f}, {lk.high:.{digits}f}], p(seq) = {lk.p_adjusted:.2g}"
        )
        if self.decision == "futile":
            text += f" (no difference as large as {self.design.min_effect:g})"
        elif self.decision == "undecided" and self.finished:
            text += " (inconclusive at max seeds)"
        return text


@dataclass(frozen=True)
class FamilyState:
    """The reference against every other architecture after the rounds observed so far.

    Attributes:
        reference: name; others: the other names (input order).
        design: the design.
        paths: one :class:`ComparisonPath` per other architecture (same order).
        looks_done: complete looks evaluated (0 before ``min_seeds``).
        needs_seeds: architectures to train in the next round (reference first, when it needs any).
        next_seeds: seeds per architecture the next look needs (train the ``needs_seeds``
            architectures up to it); None when finished.
        finished: every comparison is decided or the last look was evaluated.
    """

    reference: str
    others: tuple[str, ...]
    design: SequentialDesign
    paths: tuple[ComparisonPath, ...]
    looks_done: int
    needs_seeds: tuple[str, ...]
    next_seeds: int | None
    finished: bool

    def path(self, other: str) -> ComparisonPath:
        return self.paths[self.others.index(other)]

    @property
    def decisions(self) -> dict[str, str]:
        return {p.other: p.decision for p in self.paths}

    def frame(self) -> pd.DataFrame:
        """Every comparison's looks in one long table."""
        frames = [p.frame() for p in self.paths]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _as_scores(scores: Mapping | pd.Series | np.ndarray | Sequence[float]) -> dict:
    """``{seed: score}``; arrays are keyed by position (seed order). NaN marks a failed seed."""
    if isinstance(scores, pd.Series):
        return {k: float(v) for k, v in scores.items()}
    if isinstance(scores, Mapping):
        return {k: float(v) for k, v in scores.items()}
    return {i: float(v) for i, v in enumerate(np.asarray(scores, float).ravel())}


def _look_data(
    ref: dict, other: dict, seeds: int, order: Sequence | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The look's score arrays, or None when some seed of the look is not in yet.

    Paired: the first ``seeds`` of the common seed ``order``, aligned (NaN kept: dropped as a
    pair). Unpaired: each architecture's first ``seeds`` seeds in sorted order.
    """
    if order is not None:
        if len(order) < seeds:
            return None
        look = order[:seeds]
        if any(s not in ref or s not in other for s in look):
            return None
        return np.array([ref[s] for s in look]), np.array([other[s] for s in look])
    if len(ref) < seeds or len(other) < seeds:
        return None
    return (
        np.array([ref[s] for s in sorted(ref)[:seeds]]),
        np.array([other[s] for s in sorted(other)[:seeds]]),
    )


class _Comparison:
    """Mutable bookkeeping of one comparison while the looks are replayed (private)."""

    def __init__(self, other: str, design: SequentialDesign) -> None:
        self.other, self.design = other, design
        self.fractions: list[float] = []  # effective looks only: those with a test
        self.z: list[float] = []
        self.p_repeated = 1.0
        self.code = _UNDECIDED
        self.decided_at: int | None = None
        self.rows: list[Look] = []
        self.look: dict[str, float] = {}  # statistics of the look being evaluated
        self.tested = False
        self.level = design.alpha

    def observe(self, x: np.ndarray, y: np.ndarray, final: bool) -> None:
        """Statistics of a new look; it is a test when it adds information."""
        s = {key: float(v) for key, v in _statistics(x, y, self.design.paired).items()}
        s["fraction"] = 1.0 if final else min(s["info"] / self.design.max_seeds, 1.0)
        self.look = s
        self.tested = (
            s["info"] > 0
            and not np.isnan(s["z"])
            and (not self.fractions or s["fraction"] > self.fractions[-1])
        )
        if self.tested:
            self.fractions.append(s["fraction"])
            self.z.append(s["z"])
            self.p_repeated = min(self.p_repeated, self._pvalue())

    def bounds(self, level: float) -> np.ndarray:
        """Boundaries of this comparison's effective looks at ``level``."""
        d = self.design
        return spending_boundaries(
            tuple(self.fractions), level, d.spending, d.parameter, two_sided=d.two_sided
        )

    def crossing(self, level: float) -> int | None:
        """First effective look whose z is beyond its boundary at ``level``, or None."""
        if not self.fractions:
            return None
        z = np.asarray(self.z)
        hit = (np.abs(z) if self.design.two_sided else z) >= self.bounds(level)
        return int(np.argmax(hit)) if hit.any() else None

    def _pvalue(self) -> float:
        """Smallest alpha whose boundary at the newest look is at most its z."""
        z = abs(self.z[-1]) if self.design.two_sided else self.z[-1]
        if z == math.inf:
            return 0.0
        prefix, d = tuple(self.fractions), self.design

        def excess(log_alpha: float) -> float:
            c = spending_boundaries(
                prefix, math.exp(log_alpha), d.spending, d.parameter, two_sided=d.two_sided
            )
            return c[-1] - z

        lo = math.log(_PMIN)
        if z <= 0 or excess(0.0) > 0:
            return 1.0
        if excess(lo) <= 0:
            return _PMIN
        return math.exp(optimize.brentq(excess, lo, 0.0, xtol=1e-4))

    def record(self, number: int, seeds: int, ci_level: float, p_adjusted: float) -> None:
        """Futility on the repeated interval at ``ci_level``, then the look's row."""
        s, d = self.look, self.design
        boundary = float(self.bounds(self.level)[-1]) if self.tested else math.inf
        ci_boundary = float(self.bounds(ci_level)[-1]) if self.tested else math.inf
        low, high = _interval(s["estimate"], s["se"], _z_to_t(ci_boundary, s["df"]))
        if self.code == _UNDECIDED:
            self.code = int(_decide(np.nan, low, high, np.inf, d.min_effect, d.two_sided))
            self.decided_at = number if self.code != _UNDECIDED else None
        self.rows.append(
            Look(
                look=number, seeds=seeds, n_reference=int(s["n_x"]), n_other=int(s["n_y"]),
                information=s["info"], fraction=s["fraction"], estimate=s["estimate"],
                se=s["se"], df=s["df"], statistic=s["t"], z=s["z"], level=self.level,
                boundary=boundary, critical=float(_z_to_t(boundary, s["df"])), low=float(low),
                high=float(high), p_repeated=self.p_repeated, p_adjusted=p_adjusted,
                decision=DECISIONS[self.code],
            )
        )  # fmt: skip


def _reject(comparisons: list[_Comparison], design: SequentialDesign, number: int) -> None:
    """Efficacy at one look for the undecided comparisons.

    Holm step-down as a closed procedure with Bonferroni group-sequential tests (Maurer & Bretz
    2013): with r comparisons rejected, the rest are tested at ``alpha / (m - r)`` on all their
    looks so far (a rejection frees its alpha for the others). "bonferroni": ``alpha / m`` once.
    A comparison already decided futile keeps that decision, but counts as rejected once its looks
    cross the current level, as in Holm's procedure on the repeated p-values (``p_adjusted``).
    """
    m = len(comparisons)
    holm = design.correction == "holm"
    rejected = {id(c) for c in comparisons if c.code in (_REF, _OTHER)}
    changed = True
    while changed and len(rejected) < m:
        changed = False
        level = design.alpha / (m - len(rejected)) if holm else design.alpha / m
        for c in comparisons:
            if id(c) in rejected or c.code not in (_UNDECIDED, _FUTILE):
                continue
            hit = c.crossing(level)
            if c.code == _UNDECIDED:
                c.level = level
                if hit is not None:
                    c.code = _REF if c.z[hit] > 0 else _OTHER
                    c.decided_at = number
            if hit is not None:
                rejected.add(id(c))
                changed = holm


def _adjusted(comparisons: list[_Comparison], design: SequentialDesign) -> np.ndarray:
    p = np.array([c.p_repeated for c in comparisons])
    return _holm(p) if design.correction == "holm" else np.minimum(p * p.size, 1.0)


def _holm(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate((p.size - np.arange(p.size)) * p[order])
    out = np.empty(p.size)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def sequential_family(
    scores: Mapping[str, Mapping | pd.Series | np.ndarray],
    reference: str,
    design: SequentialDesign,
    *,
    seed_order: Sequence | None = None,
) -> FamilyState:
    """The reference against every other architecture, after every complete round so far.

    The looks are replayed from the first: a look is evaluated when every comparison still
    undecided has a score (NaN for a failed seed) for each of the look's seeds in both
    architectures; the first incomplete look ends the replay, so a half-finished round changes
    nothing until it completes. At each look, efficacy first (Holm step-down over the comparisons,
    see :func:`_reject`), then futility on the repeated interval at ``alpha / m``. A decision is
    final, and a decided comparison takes no further looks.

    Args:
        scores: ``{architecture: scores}``, each a ``{seed: score}`` mapping, a seed-indexed
            Series, or an array in seed order (NaN: failed seed).
        reference: key of ``scores``.
        design: the design (``design.paired`` decides the test).
        seed_order: paired only: the order in which seeds join rounds; default the sorted seeds
            of all architectures. Unpaired designs use each architecture's own sorted seeds.

    Returns:
        A :class:`FamilyState`. The same scores always give the same state, and the state from
        the first k rounds is a prefix of the state from more rounds.
    """
    if reference not in scores:
        raise ValueError(f"unknown reference {reference!r}; architectures: {', '.join(scores)}")
    data = {name: _as_scores(s) for name, s in scores.items()}
    comparisons = [_Comparison(name, design) for name in data if name != reference]
    if not comparisons:
        raise ValueError("need at least one architecture besides the reference")
    order = None
    if design.paired:
        order = list(seed_order) if seed_order is not None else sorted(set().union(*data.values()))
    looks_done = 0
    for number, seeds in enumerate(design.looks, start=1):
        active = [c for c in comparisons if c.code == _UNDECIDED]
        arrays = [_look_data(data[reference], data[c.other], seeds, order) for c in active]
        if not active or any(a is None for a in arrays):
            break
        looks_done = number
        for c, (x, y) in zip(active, arrays):
            c.observe(x, y, final=seeds == design.max_seeds)
        _reject(comparisons, design, number)
        adjusted = dict(zip((c.other for c in comparisons), _adjusted(comparisons, design)))
        for c in active:
            c.record(number, seeds, design.alpha / len(comparisons), float(adjusted[c.other]))
    return _state(reference, comparisons, design, looks_done)


def _state(
    reference: str, comparisons: list[_Comparison], design: SequentialDesign, looks_done: int
) -> FamilyState:
    last_done = looks_done == len(design.looks)
    paths = tuple(
        ComparisonPath(
            reference=reference, other=c.other, design=design, looks=tuple(c.rows),
            decision=DECISIONS[c.code], decided_at=c.decided_at,
            finished=c.code != _UNDECIDED or last_done,
        )
        for c in comparisons
    )  # fmt: skip
    wanting = tuple(p.other for p in paths if p.needs_seeds)
    return FamilyState(
        reference=reference,
        others=tuple(c.other for c in comparisons),
        design=design,
        paths=paths,
        looks_done=looks_done,
        needs_seeds=(reference, *wanting) if wanting else (),
        next_seeds=design.looks[looks_done] if wanting else None,
        finished=not wanting,
    )


def sequential_path(
    reference_scores: Mapping | pd.Series | np.ndarray,
    other_scores: Mapping | pd.Series | np.ndarray,
    design: SequentialDesign,
    *,
    reference: str = "reference",
    other: str = "other",
    seed_order: Sequence | None = None,
) -> ComparisonPath:
    """One comparison at level ``design.alpha`` (see :func:`sequential_family` for the rules).

    Args:
        reference_scores, other_scores: ``{seed: score}``, seed-indexed Series, or arrays in seed
            order (NaN: failed seed).
        design: the design.
        reference, other: names for the result.
        seed_order: see :func:`sequential_family`.
    """
    if reference == other:
        raise ValueError("reference and other need different names")
    state = sequential_family(
        {reference: reference_scores, other: other_scores}, reference, design, seed_order=seed_order
    )
    return state.paths[0]


# ------------------------------------------------------------------------------ simulation
@dataclass(frozen=True, eq=False)
class Simulation:
    """Simulated sweeps of one comparison under a design (arrays of shape ``(n_sweeps,)``).

    Attributes:
        decision: code per sweep (index into :data:`DECISIONS`).
        decided_at: 0-based look of the decision, -1 when undecided at the end.
        seeds: seeds per architecture spent (the last look's when undecided).
        covered: the repeated intervals contained ``truth`` at every look up to the stop.
        fixed_significant: the fixed-sample test on all ``max_seeds`` seeds (paired t or Welch,
            same level and sidedness) rejected in the direction of ``truth`` (either direction
            when ``truth`` is 0).
        truth: the true ``mean(reference) - mean(other)``.
    """

    decision: np.ndarray
    decided_at: np.ndarray
    seeds: np.ndarray
    covered: np.ndarray
    fixed_significant: np.ndarray
    truth: float

    def rate(self, decision: str) -> float:
        return float(np.mean(self.decision == DECISIONS.index(decision)))

    @property
    def significant(self) -> float:
        """Fraction of sweeps with an efficacy verdict (either direction)."""
        return float(np.mean((self.decision == _REF) | (self.decision == _OTHER)))

    @property
    def power(self) -> float:
        """Efficacy in the true direction (``nan`` when ``truth`` is 0)."""
        if self.truth == 0:
            return float("nan")
        return self.rate("reference_better" if self.truth > 0 else "other_better")


def simulate(
    design: SequentialDesign,
    reference: np.ndarray,
    other: np.ndarray,
    *,
    truth: float = 0.0,
    alpha: float | None = None,
) -> Simulation:
    """Run the design on many simulated sweeps at once (the same rules as :func:`sequential_path`).

    Args:
        design: the design; its planned looks and fractions ``looks / max_seeds`` are used.
        reference, other: scores, shape ``(n_sweeps, max_seeds)`` (more columns are ignored),
            column i is seed i (paired when ``design.paired``); no NaN.
        truth: the true mean difference ``reference - other``, for coverage and power.
        alpha: level of this comparison (default ``design.alpha``; ``alpha / m`` for Bonferroni).

    Returns:
        A :class:`Simulation`.
    """
    a = design.alpha if alpha is None else alpha
    x, y = np.asarray(reference, float), np.asarray(other, float)
    if x.ndim != 2 or y.ndim != 2 or min(x.shape[1], y.shape[1]) < design.max_seeds:
        raise ValueError(f"need (n_sweeps, >= {design.max_seeds}) arrays, got {x.shape}, {y.shape}")
    looks = design.looks
    boundary = design.boundaries(alpha=a)
    b = x.shape[0]
    code = np.zeros((b, len(looks)), np.int8)
    inside = np.ones((b, len(looks)), bool)
    for k, seeds in enumerate(looks):
        s = _statistics(x[:, :seeds], y[:, :seeds], design.paired)
        low, high = _interval(s["estimate"], s["se"], _z_to_t(boundary[k], s["df"]))
        code[:, k] = _decide(s["z"], low, high, boundary[k], design.min_effect, design.two_sided)
        inside[:, k] = (low <= truth) & (truth <= high)
    stopped = code != _UNDECIDED
    any_stop = stopped.any(axis=1)
    first = np.where(any_stop, stopped.argmax(axis=1), len(looks) - 1)
    rows = np.arange(b)
    decision = np.where(any_stop, code[rows, first], _UNDECIDED).astype(np.int8)
    covered = np.cumsum(~inside, axis=1)[rows, first] == 0
    s = _statistics(x[:, : design.max_seeds], y[:, : design.max_seeds], design.paired)
    p_one = special.stdtr(s["df"], -np.abs(s["t"]))
    if design.two_sided:
        fixed = 2 * p_one <= a
        if truth != 0:
            fixed &= np.sign(s["t"]) == np.sign(truth)
    else:
        fixed = (p_one <= a) & (s["t"] > 0)
    return Simulation(
        decision=decision,
        decided_at=np.where(any_stop, first, -1),
        seeds=np.asarray(looks)[first],
        covered=covered,
        fixed_significant=fixed,
        truth=float(truth),
    )


def _draw(
    rng: np.random.Generator, shape: tuple[int, int], distribution: str, sd: float
) -> np.ndarray:
    """Centred noise with standard deviation ``sd``.

    "normal"; "lognormal": a reflected log-normal (log-sd 1, skewness -6.2: a long lower tail, as
    seeds that train badly give); "collapse": normal, except that 10 % of seeds fall 10 sd to a
    floor (a bimodal, left-skewed mixture).
    """
    if distribution == "normal":
        return rng.normal(0.0, sd, shape)
    if distribution == "lognormal":
        s2 = 1.0
        raw = -rng.lognormal(0.0, math.sqrt(s2), shape)
        mean, var = -math.exp(s2 / 2), (math.exp(s2) - 1) * math.exp(s2)
        return (raw - mean) / math.sqrt(var) * sd
    if distribution == "collapse":
        p, drop = 0.1, 10.0
        raw = rng.normal(0.0, 1.0, shape) - drop * (rng.random(shape) < p)
        return (raw + drop * p) / math.sqrt(1 + drop**2 * p * (1 - p)) * sd
    raise ValueError(f"unknown distribution {distribution!r}")


def calibrate(
    design: SequentialDesign,
    *,
    effects: Sequence[float] = (0.0, 0.5, 1.0),
    pairings: Sequence[bool] = (True, False),
    distributions: Sequence[str] = ("normal", "lognormal"),
    n_sweeps: int = 2000,
    seed: Seed = 0,
) -> pd.DataFrame:
    """Operating characteristics of one comparison by simulation, one row per scenario.

    Scores are ``0.6 + noise`` (noise sd 0.02) per architecture; the other architecture's mean is
    lower by ``d`` sd of the differences ``reference - other`` (``0.02 sqrt 2``), so ``d`` means
    the same paired and unpaired (no shared seed effect). Every scenario has its own stream derived
    from ``(seed, pairing, distribution, d)``.

    Args:
        design: the design (``paired`` is replaced by each pairing).
        effects: standardized effects d.
        pairings: paired (True) and/or unpaired (False).
        distributions: see :func:`_draw` ("normal", "lognormal", "collapse").
        n_sweeps: simulated sweeps per scenario.
        seed: int or Generator.

    Returns:
        Columns: paired, distribution, d, n_sweeps, significant (either direction), power (true
        direction), wrong_direction, futile, undecided, coverage (simultaneous until stop),
        mean_seeds, median_seeds, seed_fraction (mean / max_seeds), fixed_power (fixed
        ``max_seeds`` test on the same sweeps; its false-positive rate when d = 0).
    """
    rows = []
    sd = 0.02
    for paired in pairings:
        dsg = replace(design, paired=paired)
        for dist in distributions:
            for d in effects:
                rng = derive(seed, "calibrate", paired, dist, d)
                shape = (n_sweeps, dsg.max_seeds)
                delta = d * sd * math.sqrt(2)
                x = 0.6 + _draw(rng, shape, dist, sd)
                y = 0.6 - delta + _draw(rng, shape, dist, sd)
                sim = simulate(dsg, x, y, truth=delta)
                wrong = "other_better" if delta > 0 else "reference_better"
                rows.append(
                    dict(
                        paired=paired, distribution=dist, d=d, n_sweeps=n_sweeps,
                        significant=sim.significant, power=sim.power,
                        wrong_direction=sim.rate(wrong) if delta else float("nan"),
                        futile=sim.rate("futile"), undecided=sim.rate("undecided"),
                        coverage=float(sim.covered.mean()), mean_seeds=float(sim.seeds.mean()),
                        median_seeds=float(np.median(sim.seeds)),
                        seed_fraction=float(sim.seeds.mean() / dsg.max_seeds),
                        fixed_power=float(sim.fixed_significant.mean()),
                    )
                )  # fmt: skip
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- planning
def fixed_power(
    effect: float,
    sd: float,
    n: int,
    *,
    paired: bool = True,
    alpha: float = 0.05,
    two_sided: bool = True,
) -> float:
    """Power of the fixed-sample t test with ``n`` seeds per architecture (noncentral t).

    Paired: one-sample t on differences with sd ``sd``; unpaired: pooled two-sample t with each
    architecture's sd ``sd``. Two-sided power counts the true direction only.
    """  # fmt: skip
    if n < 2 or sd <= 0:
        return float("nan")
    df = n - 1 if paired else 2 * n - 2
    ncp = abs(effect) / sd * (math.sqrt(n) if paired else math.sqrt(n / 2))
    crit = stats.t.isf(alpha / 2 if two_sided else alpha, df)
    return float(stats.nct.sf(crit, df, ncp))


def _fixed_seeds(power: float, effect, sd, paired, alpha, two_sided, cap: int = 10_000) -> float:
    # Smallest n whose fixed-sample power reaches ``power`` (power grows with n: bisection).
    if not power > 0 or effect == 0:
        return float("nan")

    def reaches(n: int) -> bool:
        return fixed_power(effect, sd, n, paired=paired, alpha=alpha, two_sided=two_sided) >= power

    if not reaches(cap):
        return float("inf")
    lo, hi = 2, cap
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid + 1, hi)
    return float(lo)


@dataclass(frozen=True)
class SeedPlan:
    """Expected seeds of one comparison under a sequential design and the equivalent fixed design.

    Attributes:
        effect, sd: the planning values (score units; sd of the differences when paired, of each
            architecture's scores when not).
        n_comparisons: comparisons sharing alpha (Bonferroni ``alpha / m`` in the plan).
        alpha: level of this comparison.
        power: probability of the correct efficacy verdict (with a zero effect: of any efficacy
            verdict, the false-positive rate); p_futile, p_undecided: of the other outcomes.
        expected_seeds: mean seeds per architecture of the comparison at its stop.
        quantiles: ``((q, seeds), ...)``.
        fixed_seeds: seeds of the fixed-sample t test with the same power (at most
            ``1 - 1 / n_simulations``) and level (NaN for a zero effect, ``inf`` beyond 10,000).
        fixed_power_at_max: power of the fixed test with ``max_seeds``.
        max_seeds: the design's maximum.
        n_simulations: simulated sweeps.
    """

    effect: float
    sd: float
    n_comparisons: int
    alpha: float
    power: float
    p_futile: float
    p_undecided: float
    expected_seeds: float
    quantiles: tuple[tuple[float, float], ...]
    fixed_seeds: float
    fixed_power_at_max: float
    max_seeds: int
    n_simulations: int

    @property
    def ratio_to_fixed(self) -> float:
        """``expected_seeds / fixed_seeds``: below 1 the sequential design saves seeds."""
        return self.expected_seeds / self.fixed_seeds if self.fixed_seeds else float("nan")

    def as_row(self) -> dict[str, object]:
        row = asdict(self)
        row.pop("quantiles")
        row.update({f"seeds_q{q:g}": v for q, v in self.quantiles})
        row["ratio_to_fixed"] = self.ratio_to_fixed
        return row


def plan_seeds(
    sd: float,
    effect: float,
    design: SequentialDesign,
    *,
    n_comparisons: int = 1,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    n_simulations: int = 20_000,
    seed: Seed = 0,
) -> SeedPlan:
    """Expected seeds to a decision for a true difference ``effect``, by simulation.

    Normal scores with the given sd go through exactly the rules of :func:`simulate` (t statistics,
    futility at ``design.min_effect``). Multiply ``expected_seeds`` by the time per instance for
    GPU-hours; a family of m comparisons costs about the sum over the others plus the largest for
    the reference.

    Args:
        sd: sd of the paired differences (paired design) or of each architecture's scores.
        effect: true mean difference ``reference - other`` (score units).
        design: the design.
        n_comparisons: m; each comparison is planned at ``alpha / m`` (Bonferroni: Holm can only
            decide sooner).
        quantiles: of the seeds spent.
        n_simulations: sweeps.
        seed: int or Generator.
    """
    if not sd > 0:
        raise ValueError(f"sd must be positive, got {sd}")
    if n_comparisons < 1:
        raise ValueError(f"n_comparisons must be >= 1, got {n_comparisons}")
    alpha = design.alpha / n_comparisons
    rng = as_generator(seed)
    shape = (n_simulations, design.max_seeds)
    if design.paired:
        x, y = rng.normal(effect, sd, shape), np.zeros(shape)
    else:
        x, y = rng.normal(effect, sd, shape), rng.normal(0.0, sd, shape)
    sim = simulate(design, x, y, truth=effect, alpha=alpha)
    power = sim.power if effect else sim.significant
    return SeedPlan(
        effect=float(effect),
        sd=float(sd),
        n_comparisons=n_comparisons,
        alpha=alpha,
        power=power,
        p_futile=sim.rate("futile"),
        p_undecided=sim.rate("undecided"),
        expected_seeds=float(sim.seeds.mean()),
        quantiles=tuple((float(q), float(np.quantile(sim.seeds, q))) for q in quantiles),
        # A simulated power of 1 only means "above 1 - 1/n_simulations"; match that, not 1.0.
        fixed_seeds=_fixed_seeds(
            min(power, 1 - 1 / n_simulations), effect, sd, design.paired, alpha, design.two_sided
        ),
        fixed_power_at_max=fixed_power(
            effect,
            sd,
            design.max_seeds,
            paired=design.paired,
            alpha=alpha,
            two_sided=design.two_sided,
        ),  # fmt: skip
        max_seeds=design.max_seeds,
        n_simulations=n_simulations,
    )
