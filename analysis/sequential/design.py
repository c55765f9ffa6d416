"""What a sequential comparison is: :class:`SequentialDesign`, and the decisions it can reach."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis.sequential.boundaries import SPENDING_FAMILIES, spending, spending_boundaries

__all__ = [
    "DECISIONS",
    "FUTILE",
    "OTHER_BETTER",
    "REFERENCE_BETTER",
    "UNDECIDED",
    "SequentialDesign",
]

#: Decision codes (index) and names. "undecided" after the last look means inconclusive.
DECISIONS: tuple[str, ...] = ("undecided", "reference_better", "other_better", "futile")
#: Decision codes: indices into :data:`DECISIONS`.
UNDECIDED, REFERENCE_BETTER, OTHER_BETTER, FUTILE = range(4)

_CORRECTIONS = ("holm", "bonferroni")


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
