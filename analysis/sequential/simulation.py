"""Operating characteristics by simulation: many sweeps at once, calibration, seed plans.

:func:`simulate` runs a design on simulated sweeps with the rules of
:func:`~analysis.sequential.sequential_path`; :func:`calibrate` measures error rates, power,
coverage and seeds spent over scenarios (docs/sequential.md); :func:`plan_seeds` gives the
expected seeds of one comparison against the fixed-sample design of the same power.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis._seeding import Seed, as_generator, derive
from analysis.sequential.design import (
    DECISIONS,
    OTHER_BETTER,
    REFERENCE_BETTER,
    UNDECIDED,
    SequentialDesign,
)
from analysis.sequential.look_statistics import decide, look_statistics, repeated_interval, z_to_t

__all__ = ["SeedPlan", "Simulation", "calibrate", "fixed_power", "plan_seeds", "simulate"]


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
        return float(np.mean((self.decision == REFERENCE_BETTER) | (self.decision == OTHER_BETTER)))

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
    """Run the design on many simulated sweeps at once (the rules of :func:`~analysis.sequential.sequential_path`).

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
        s = look_statistics(x[:, :seeds], y[:, :seeds], design.paired)
        low, high = repeated_interval(s["estimate"], s["se"], z_to_t(boundary[k], s["df"]))
        code[:, k] = decide(s["z"], low, high, boundary[k], design.min_effect, design.two_sided)
        inside[:, k] = (low <= truth) & (truth <= high)
    stopped = code != UNDECIDED
    any_stop = stopped.any(axis=1)
    first = np.where(any_stop, stopped.argmax(axis=1), len(looks) - 1)
    rows = np.arange(b)
    decision = np.where(any_stop, code[rows, first], UNDECIDED).astype(np.int8)
    covered = np.cumsum(~inside, axis=1)[rows, first] == 0
    s = look_statistics(x[:, : design.max_seeds], y[:, : design.max_seeds], design.paired)
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
