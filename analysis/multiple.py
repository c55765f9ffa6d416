"""Many architectures at once: the Friedman test, a post-hoc comparison and the critical difference.

The seeds every architecture has are the blocks (Demšar 2006 uses data sets; here a seed is one
shared data order and initialization). Within each seed the architectures are ranked, 1 = best
(ties share their average rank); :func:`friedman` tests whether the average ranks differ
(:func:`scipy.stats.friedmanchisquare`, tie-corrected) and compares every pair:

* ``"nemenyi"`` (default): two architectures differ when their average ranks differ by more than
  the critical difference ``CD = q_alpha sqrt(k (k + 1) / (6 N))``, ``q_alpha`` the studentized
  range quantile over ``sqrt 2`` (:data:`scipy.stats.studentized_range` with infinite degrees of
  freedom; 2.343 for k = 3, 2.569 for k = 4 at alpha 0.05, Demšar's Table 5);
* ``"wilcoxon-holm"``: Wilcoxon signed-rank tests of every pair on the same seeds, Holm-corrected
  (Benavoli, Corani & Mangili 2016 prefer these to tests on mean ranks).

The groups are what a critical-difference diagram draws as bars (autorank, Orange): maximal runs
of architectures, consecutive in rank order, no two of which differ significantly.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from analysis.corrections import adjust_pvalues

__all__ = ["POST_HOC", "FriedmanResult", "critical_difference", "friedman", "nemenyi_pvalues"]

#: Post-hoc methods of :func:`friedman`.
POST_HOC: tuple[str, ...] = ("nemenyi", "wilcoxon-holm")


@dataclass(frozen=True)
class FriedmanResult:
    """The Friedman test over k architectures on N shared seeds, with its post-hoc comparison.

    Attributes:
        metric: the score compared; higher_is_better: its direction (rank 1 = best either way).
        architectures: in order of average rank, best first.
        average_ranks: ``{architecture: mean rank over the seeds}``, 1 = best, k = worst.
        statistic, pvalue: Friedman's chi-square (tie-corrected, k - 1 df) and its p-value.
        n_blocks: seeds every architecture has (the blocks); seeds: those seeds.
        method: post-hoc comparison, "nemenyi" or "wilcoxon-holm".
        alpha: level of the test and of the post-hoc comparison.
        critical_difference: Nemenyi's CD in average-rank units (NaN for "wilcoxon-holm");
            two architectures differ when their average ranks differ by more.
        groups: maximal sets of architectures (in rank order, best first) no two of which
            differ significantly; the bars of a critical-difference diagram. Only groups of two
            or more: an architecture in no group differs from every other.
        pairwise: one row per pair, ``a`` ranked better than ``b``: ``rank_difference``
            (positive), ``statistic`` (Nemenyi's q, or Wilcoxon's W), ``pvalue``, ``p_adjusted``
            (Nemenyi's p is already family-wise; Holm for Wilcoxon), ``significant``.
        left_out: architectures not in the test (too few scores) with the reason.
    """

    metric: str
    higher_is_better: bool
    architectures: tuple[str, ...]
    average_ranks: dict[str, float]
    statistic: float
    pvalue: float
    n_blocks: int
    seeds: tuple[int, ...]
    method: str
    alpha: float
    critical_difference: float
    groups: list[tuple[str, ...]]
    pairwise: pd.DataFrame = field(repr=False)
    left_out: tuple[str, ...] = ()

    @property
    def significant(self) -> bool:
        """Friedman's test rejects "all architectures rank alike" at ``alpha``."""
        return bool(self.pvalue < self.alpha)

    def ranks_frame(self) -> pd.DataFrame:
        """``architecture, average_rank``, best first (the diagram's axis)."""
        return pd.DataFrame(
            {
                "architecture": list(self.architectures),
                "average_rank": [self.average_ranks[a] for a in self.architectures],
            }
        )

    def to_dict(self) -> dict[str, object]:
        """Plain types for JSON."""
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "architectures": list(self.architectures),
            "average_ranks": dict(self.average_ranks),
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "significant": self.significant,
            "n_blocks": self.n_blocks,
            "seeds": list(self.seeds),
            "method": self.method,
            "alpha": self.alpha,
            "critical_difference": self.critical_difference,
            "groups": [list(g) for g in self.groups],
            "pairwise": self.pairwise.to_dict("records"),
            "left_out": list(self.left_out),
        }


def critical_difference(k: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of average ranks for k architectures on ``n_blocks`` seeds."""
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6 * n_blocks)))


def nemenyi_pvalues(rank_differences: np.ndarray, k: int, n_blocks: int) -> np.ndarray:
    """Family-wise p-values of Nemenyi's test for differences of average ranks (any shape)."""
    q = np.abs(np.asarray(rank_differences, float)) / math.sqrt(k * (k + 1) / (6 * n_blocks))
    return stats.studentized_range.sf(q * math.sqrt(2), k, np.inf)


def friedman(
    scores: Mapping[str, pd.Series],
    *,
    metric: str = "",
    higher_is_better: bool = True,
    method: str = "nemenyi",
    alpha: float = 0.05,
) -> FriedmanResult:
    """The Friedman test and a post-hoc comparison on the seeds every architecture has.

    Args:
        scores: ``{architecture: Series of scores indexed by seed}`` (NaN-free), k >= 3.
        metric: name for the result.
        higher_is_better: direction of the score; rank 1 is the best either way.
        method: "nemenyi" or "wilcoxon-holm" (see the module docstring).
        alpha: level.

    Raises:
        ValueError: fewer than 3 architectures, fewer than 2 shared seeds, or an unknown method.
    """
    if method not in POST_HOC:
        raise ValueError(f"unknown post-hoc method {method!r}; use one of {', '.join(POST_HOC)}")
    names = list(scores)
    if len(names) < 3:
        raise ValueError(f"the Friedman test needs >= 3 architectures, got {len(names)}")
    seeds = sorted(set.intersection(*(set(scores[a].index) for a in names)))
    if len(seeds) < 2:
        raise ValueError(
            f"the Friedman test needs >= 2 seeds shared by every architecture, got {len(seeds)}"
        )
    matrix = np.column_stack([scores[a].loc[seeds].to_numpy(float) for a in names])  # (N, k)
    n, k = matrix.shape
    ranks = stats.rankdata(-matrix if higher_is_better else matrix, axis=1)
    average = ranks.mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-tied blocks: scipy warns, the statistic is NaN
        res = stats.friedmanchisquare(*matrix.T)
    order = np.argsort(average, kind="stable")
    ordered = [names[i] for i in order]
    rows = []
    for i, j in ((order[a], order[b]) for a, b in itertools.combinations(range(k), 2)):
        rows.append({"a": names[i], "b": names[j], "rank_difference": average[j] - average[i]})
    pairwise = pd.DataFrame(rows, columns=["a", "b", "rank_difference"])
    if method == "nemenyi":
        cd = critical_difference(k, n, alpha)
        diff = pairwise["rank_difference"].to_numpy()
        pairwise["statistic"] = diff / math.sqrt(k * (k + 1) / (6 * n))
        pairwise["pvalue"] = nemenyi_pvalues(diff, k, n)
        pairwise["p_adjusted"] = pairwise["pvalue"]
        pairwise["significant"] = diff > cd
    else:
        cd = float("nan")
        column = {a: matrix[:, names.index(a)] for a in names}
        tests = [_wilcoxon(column[r.a], column[r.b]) for r in pairwise.itertuples()]
        pairwise["statistic"] = [t[0] for t in tests]
        pairwise["pvalue"] = [t[1] for t in tests]
        pairwise["p_adjusted"] = adjust_pvalues(pairwise["pvalue"].to_numpy(), "holm")
        pairwise["significant"] = pairwise["p_adjusted"] < alpha
    return FriedmanResult(
        metric=metric,
        higher_is_better=higher_is_better,
        architectures=tuple(ordered),
        average_ranks={names[i]: float(average[i]) for i in order},
        statistic=float(res.statistic),
        pvalue=float(res.pvalue),
        n_blocks=n,
        seeds=tuple(int(s) for s in seeds),
        method=method,
        alpha=alpha,
        critical_difference=cd,
        groups=_groups(ordered, pairwise),
        pairwise=pairwise,
    )


def _wilcoxon(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if np.all(x == y):
        return float("nan"), 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.wilcoxon(x, y)
    return float(res.statistic), float(res.pvalue)


def _groups(ordered: list[str], pairwise: pd.DataFrame) -> list[tuple[str, ...]]:
    """Maximal runs of consecutive architectures (rank order) with no significant pair."""
    differ = {frozenset((r.a, r.b)) for r in pairwise.itertuples() if r.significant}
    runs: list[tuple[int, int]] = []
    for i in range(len(ordered)):
        j = i
        while j + 1 < len(ordered) and all(
            frozenset((ordered[m], ordered[j + 1])) not in differ for m in range(i, j + 1)
        ):
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in runs):
            runs.append((i, j))
    return [tuple(ordered[i : j + 1]) for i, j in runs]
