"""The sequential procedure on observed scores: the looks of each comparison and its decision.

:func:`sequential_family` replays the looks of the reference against every other architecture
from the scores observed so far (efficacy by Holm's step-down over the comparisons, then futility
on the repeated intervals); :func:`sequential_path` is one comparison alone. The results
(:class:`FamilyState`, :class:`ComparisonPath`, :class:`Look`) are pure functions of the scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from analysis.sequential.boundaries import spending_boundaries
from analysis.sequential.design import (
    DECISIONS,
    FUTILE,
    OTHER_BETTER,
    REFERENCE_BETTER,
    UNDECIDED,
    SequentialDesign,
)
from analysis.sequential.look_statistics import decide, look_statistics, repeated_interval, z_to_t

__all__ = ["ComparisonPath", "FamilyState", "Look", "sequential_family", "sequential_path"]

#: Smallest repeated p-value resolved (reported as this value when smaller).
_PMIN = 1e-12


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
        self.code = UNDECIDED
        self.decided_at: int | None = None
        self.rows: list[Look] = []
        self.look: dict[str, float] = {}  # statistics of the look being evaluated
        self.tested = False
        self.level = design.alpha

    def observe(self, x: np.ndarray, y: np.ndarray, final: bool) -> None:
        """Statistics of a new look; it is a test when it adds information."""
        s = {key: float(v) for key, v in look_statistics(x, y, self.design.paired).items()}
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
        low, high = repeated_interval(s["estimate"], s["se"], z_to_t(ci_boundary, s["df"]))
        if self.code == UNDECIDED:
            self.code = int(decide(np.nan, low, high, np.inf, d.min_effect, d.two_sided))
            self.decided_at = number if self.code != UNDECIDED else None
        self.rows.append(
            Look(
                look=number, seeds=seeds, n_reference=int(s["n_x"]), n_other=int(s["n_y"]),
                information=s["info"], fraction=s["fraction"], estimate=s["estimate"],
                se=s["se"], df=s["df"], statistic=s["t"], z=s["z"], level=self.level,
                boundary=boundary, critical=float(z_to_t(boundary, s["df"])), low=float(low),
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
    rejected = {id(c) for c in comparisons if c.code in (REFERENCE_BETTER, OTHER_BETTER)}
    changed = True
    while changed and len(rejected) < m:
        changed = False
        level = design.alpha / (m - len(rejected)) if holm else design.alpha / m
        for c in comparisons:
            if id(c) in rejected or c.code not in (UNDECIDED, FUTILE):
                continue
            hit = c.crossing(level)
            if c.code == UNDECIDED:
                c.level = level
                if hit is not None:
                    c.code = REFERENCE_BETTER if c.z[hit] > 0 else OTHER_BETTER
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
        active = [c for c in comparisons if c.code == UNDECIDED]
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
            finished=c.code != UNDECIDED or last_done,
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
