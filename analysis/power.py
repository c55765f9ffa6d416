"""How many seeds would it take? Power of the comparisons and the value of "train many, keep best".

Two answers to "how many seeds per architecture for 80 % power at alpha 0.05":

* analytic: statsmodels' t-test power on the observed effect size (Hedges' g for independent
  samples, ``d_z`` of the per-seed differences when paired);
* simulated: resample ``n`` instances from each observed distribution (``n`` pairs when paired),
  run the t test (Welch / paired) and find the smallest ``n`` on a grid whose rejection rate, in
  the observed direction, reaches the target.

And the expected best score among ``k`` instances, ``E[max of k drawn without replacement]``, from
the order statistics of the observed scores, with a jackknife band where it keeps its level
(``(k + 1)^2 <= n``; docs/statistics.md).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy import special

from analysis._seeding import Seed, as_generator
from analysis.compare import Comparison, align
from analysis.distributions import MIN_SEEDS, hall_t_interval

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


# ------------------------------------------------------------------------------- best of k
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
