"""Racing between seeds: is a candidate already worse than the incumbent on the seeds both have?"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["RaceResult", "race"]


@dataclass(frozen=True)
class RaceResult:
    """A candidate against the incumbent on their shared seeds.

    Attributes:
        n_shared: seeds both have finished.
        mean_difference: mean over shared seeds of ``candidate - incumbent``.
        p_worse: one-sided paired t test p-value of ``H1: candidate < incumbent``.
        p_better: the same for ``H1: candidate > incumbent``.
        verdict: ``worse`` (p_worse < alpha), ``better``, ``undecided`` or ``too_few`` (fewer
            than ``min_shared`` shared seeds).
    """

    n_shared: int
    mean_difference: float
    p_worse: float
    p_better: float
    verdict: str


def race(
    candidate: Mapping[int, float],
    incumbent: Mapping[int, float],
    alpha: float = 0.05,
    min_shared: int = 2,
) -> RaceResult:
    """One-sided paired t tests of a candidate's per-seed scores against the incumbent's.

    Args:
        candidate, incumbent: ``{seed: score}``; only seeds in both count (paired by seed).
        alpha: significance threshold of each one-sided test.
        min_shared: shared seeds needed before any verdict (at least 2).
    """
    shared = sorted(set(candidate) & set(incumbent))
    d = np.array([candidate[s] - incumbent[s] for s in shared], float)
    d = d[np.isfinite(d)]
    n = d.size
    mean = float(d.mean()) if n else float("nan")
    if n < max(2, min_shared):
        return RaceResult(n, mean, float("nan"), float("nan"), "too_few")
    from scipy import stats

    sd = float(d.std(ddof=1))
    if sd == 0.0:
        # Identical differences: the t statistic is +-inf (or undefined when all are zero).
        p_worse = 0.0 if mean < 0 else 1.0
        p_better = 0.0 if mean > 0 else 1.0
    else:
        t = mean / (sd / math.sqrt(n))
        p_worse = float(stats.t.cdf(t, n - 1))
        p_better = float(stats.t.sf(t, n - 1))
    verdict = "worse" if p_worse < alpha else "better" if p_better < alpha else "undecided"
    return RaceResult(n, mean, p_worse, p_better, verdict)
