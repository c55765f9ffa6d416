"""How many seeds would it take? The power of the comparisons.

Two answers to "how many seeds per architecture for 80 % power at alpha 0.05":

* analytic: statsmodels' t-test power on the observed effect size (Hedges' g for independent
  samples, ``d_z`` of the per-seed differences when paired);
* simulated: resample ``n`` instances from each observed distribution (``n`` pairs when paired),
  run the t test (Welch / paired) and find the smallest ``n`` on a grid whose rejection rate, in
  the observed direction, reaches the target.

The expected best of ``k`` instances ("train many, keep best") is in :mod:`analysis.best_of_k`;
its names are importable from here too.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import special

from analysis._seeding import Seed, as_generator
from analysis.best_of_k import (
    JACKKNIFE_BAND,
    BestOfK,
    band_k_max,
    best_of_k,
    best_of_k_frame,
    expected_max_of_k,
    jackknife_band,
)
from analysis.compare import Comparison, align

__all__ = [
    "DEFAULT_GRID",
    "JACKKNIFE_BAND",
    "BestOfK",
    "PowerResult",
    "band_k_max",
    "best_of_k",
    "best_of_k_frame",
    "expected_max_of_k",
    "jackknife_band",
    "minimal_detectable_effect",
    "power_analysis",
    "power_frame",
    "seeds_for_power",
    "simulated_power",
    "simulated_seeds_for_power",
]

#: Sample sizes (seeds per architecture) tried by the simulation.
DEFAULT_GRID: tuple[int, ...] = (
    *range(2, 21),
    *range(22, 41, 2),
    45, 50, 60, 70, 80, 90, 100, 125, 150, 175, 200, 250, 300, 350, 400, 450, 500,
)  # fmt: skip


def _solver(paired: bool):
    # statsmodels imports sm_exceptions lazily, and that import puts an "always" filter for
    # ConvergenceWarning in front of the caller's filters; importing it first lets
    # ``warnings.catch_warnings`` below silence solver warnings (failures are returned as NaN).
    import statsmodels.tools.sm_exceptions  # noqa: F401
    from statsmodels.stats.power import TTestIndPower, TTestPower

    return TTestPower() if paired else TTestIndPower()


def _size_key(paired: bool) -> str:
    return "nobs" if paired else "nobs1"


def seeds_for_power(
    effect_size: float, *, paired: bool = False, power: float = 0.8, alpha: float = 0.05
) -> float:
    """Seeds per architecture (pairs when paired) for ``power`` with a two-sided t test.

    Uses ``TTestIndPower`` (equal group sizes) or ``TTestPower`` (one-sample t on the paired
    differences) from statsmodels. Returns 2 when two seeds already suffice (the solver has no
    root below the smallest testable sample), ``inf`` for a zero effect and NaN for an undefined one.
    """
    if not np.isfinite(effect_size):
        return float("nan")
    if effect_size == 0:
        return float("inf")
    solver = _solver(paired)
    effect = abs(effect_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if solver.power(effect, **{_size_key(paired): 2}, alpha=alpha) >= power:
            return 2.0
        for n in range(3, 8):
            # statsmodels' noncentral t returns NaN at 1 df for large effects (d_z > ~5), and its
            # solver then fails: the first whole n that reaches the power is the answer there.
            if np.isfinite(solver.power(effect, **{_size_key(paired): n - 1}, alpha=alpha)):
                break
            if solver.power(effect, **{_size_key(paired): n}, alpha=alpha) >= power:
                return float(n)
        try:
            n = solver.solve_power(
                effect_size=effect, alpha=alpha, power=power, alternative="two-sided"
            )
        except (ValueError, RuntimeError):
            return float("nan")
    n = float(np.squeeze(n))
    return n if np.isfinite(n) and n > 0 else float("nan")


def minimal_detectable_effect(
    n: int, *, paired: bool = False, power: float = 0.8, alpha: float = 0.05
) -> float:
    """Smallest standardized effect (g, or d_z when paired) detected with ``power`` at ``n`` seeds."""
    if n < 2:
        return float("nan")
    solver = _solver(paired)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            effect = solver.solve_power(
                **{_size_key(paired): n}, alpha=alpha, power=power, alternative="two-sided"
            )
        return float(np.squeeze(effect))
    except (ValueError, RuntimeError):
        return float("nan")


def simulated_power(
    x: np.ndarray,
    y: np.ndarray,
    n: int,
    *,
    paired: bool = False,
    alpha: float = 0.05,
    n_simulations: int = 1000,
    seed: Seed = 0,
) -> float:
    """Fraction of simulated experiments with ``n`` seeds that detect the observed direction.

    Each experiment resamples ``n`` scores with replacement from ``x`` and from ``y`` (``n`` seeds
    of the paired differences ``x - y`` when paired) and runs a two-sided Welch t test (one-sample t
    on the differences when paired); it counts when ``p < alpha`` and the sign matches the observed
    mean difference.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    rng = as_generator(seed)
    if paired:
        d = x - y
        t, p = _t_test(d[rng.integers(0, d.size, size=(n_simulations, n))])
        observed = d.mean()
    else:
        xs = x[rng.integers(0, x.size, size=(n_simulations, n))]
        ys = y[rng.integers(0, y.size, size=(n_simulations, n))]
        t, p = _t_test(xs, ys)
        observed = x.mean() - y.mean()
    # NaN p-values (constant resamples) compare False: not detected.
    hit = (p < alpha) & (np.sign(t) == np.sign(observed))
    return float(hit.mean())


def _t_test(x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided one-sample t (``y`` None) or Welch t along the last axis.

    The same statistics as ``scipy.stats.ttest_1samp`` / ``ttest_ind(equal_var=False)`` without
    their per-call overhead (the simulation runs thousands of small batches).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        n_x = x.shape[-1]
        v_x = x.var(axis=-1, ddof=1) / n_x
        if y is None:
            t = x.mean(axis=-1) / np.sqrt(v_x)
            df = np.full_like(t, n_x - 1.0)
        else:
            n_y = y.shape[-1]
            v_y = y.var(axis=-1, ddof=1) / n_y
            t = (x.mean(axis=-1) - y.mean(axis=-1)) / np.sqrt(v_x + v_y)
            df = (v_x + v_y) ** 2 / (v_x**2 / (n_x - 1) + v_y**2 / (n_y - 1))
        p = 2 * special.stdtr(df, -np.abs(t))
    return t, p


def simulated_seeds_for_power(
    x: np.ndarray,
    y: np.ndarray,
    *,
    paired: bool = False,
    power: float = 0.8,
    alpha: float = 0.05,
    n_simulations: int = 1000,
    grid: Sequence[int] = DEFAULT_GRID,
    seed: Seed = 0,
) -> int | None:
    """Smallest ``n`` in ``grid`` whose :func:`simulated_power` reaches ``power``; None beyond the grid.

    Power grows with ``n``, so the grid is bisected (the largest value first, so an effect that
    cannot be detected costs one evaluation). Every evaluation uses its own stream from ``seed``.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    grid = sorted(set(int(g) for g in grid if g >= 2))
    if not grid or x.mean() == y.mean():
        return None
    rng = as_generator(seed)

    def reaches(i: int) -> bool:
        return (
            simulated_power(
                x, y, grid[i], paired=paired, alpha=alpha, n_simulations=n_simulations, seed=rng
            )
            >= power
        )

    if not reaches(len(grid) - 1):
        return None
    lo, hi = 0, len(grid) - 1  # invariant: grid[hi] reaches the target
    while lo < hi:
        mid = (lo + hi) // 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid + 1
    return grid[hi]


@dataclass(frozen=True)
class PowerResult:
    """Seeds needed to detect one observed difference with ``target_power`` at ``alpha``.

    ``effect_size`` is Hedges' g (independent) or d_z (paired). ``n_analytic`` is the (unrounded)
    statsmodels answer; ``n_simulated`` is None when even ``cap`` seeds are not enough.
    ``power_now`` is the simulated power with the current number of seeds ``n_now``, and
    ``mde_now`` the smallest effect size detectable with ``target_power`` at ``n_now``.
    """

    a: str
    b: str
    metric: str
    paired: bool
    difference: float
    effect_size: float
    effect_name: str
    n_now: int
    power_now: float
    mde_now: float
    n_analytic: float
    n_simulated: int | None
    cap: int
    target_power: float
    alpha: float
    test: str

    @property
    def n_analytic_seeds(self) -> int | None:
        """``ceil(n_analytic)``, or None when infinite/undefined."""
        return math.ceil(self.n_analytic) if np.isfinite(self.n_analytic) else None

    def simulated_label(self) -> str:
        """``"37"`` or ``">500"``."""
        return str(self.n_simulated) if self.n_simulated is not None else f">{self.cap}"

    def as_row(self) -> dict[str, object]:
        row = asdict(self)
        row["n_analytic_seeds"] = self.n_analytic_seeds
        row["n_simulated_label"] = self.simulated_label()
        return row


def power_analysis(
    comparison: Comparison,
    a_scores: pd.Series | np.ndarray,
    b_scores: pd.Series | np.ndarray,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    n_simulations: int = 1000,
    cap: int = 500,
    grid: Sequence[int] = DEFAULT_GRID,
    seed: Seed = 0,
) -> PowerResult:
    """Analytic and simulated seeds-for-power for one :class:`~analysis.compare.Comparison`.

    ``a_scores``/``b_scores`` are the same scores the comparison was made from; they are aligned
    the same way (``comparison.paired``).
    """
    x, y, paired = align(a_scores, b_scores, comparison.paired)
    effect = comparison.d_z if paired else comparison.hedges_g
    n_now = x.size if paired else min(x.size, y.size)
    grid = [g for g in grid if g <= cap]
    r_now, r_search = as_generator(seed).spawn(2)
    ok = min(x.size, y.size) >= 2
    return PowerResult(
        a=comparison.a,
        b=comparison.b,
        metric=comparison.metric,
        paired=paired,
        difference=comparison.difference.point,
        effect_size=effect,
        effect_name="d_z" if paired else "hedges_g",
        n_now=n_now,
        power_now=simulated_power(
            x, y, n_now, paired=paired, alpha=alpha, n_simulations=n_simulations, seed=r_now
        )
        if ok
        else float("nan"),
        mde_now=minimal_detectable_effect(n_now, paired=paired, power=power, alpha=alpha),
        n_analytic=seeds_for_power(effect, paired=paired, power=power, alpha=alpha),
        n_simulated=simulated_seeds_for_power(
            x,
            y,
            paired=paired,
            power=power,
            alpha=alpha,
            n_simulations=n_simulations,
            grid=grid,
            seed=r_search,
        )
        if ok
        else None,
        cap=cap,
        target_power=power,
        alpha=alpha,
        test="paired t" if paired else "Welch t",
    )


def power_frame(results: Sequence[PowerResult]) -> pd.DataFrame:
    """One row per :class:`PowerResult`."""
    return pd.DataFrame([r.as_row() for r in results])
