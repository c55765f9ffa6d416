"""What a search is asked to do (``SearchSettings``), what it returns, and its objectives."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "OBJECTIVES",
    "SCORE",
    "SearchResult",
    "SearchSettings",
    "lower_confidence_bound",
    "objective_value",
    "parse_objectives",
]


#: objective name -> Optuna direction.
OBJECTIVES: dict[str, str] = {
    "miou": "maximize",
    "lcb": "maximize",
    "params": "minimize",
    "step_time": "minimize",
}
#: the per-seed score the objectives and the racing use.
SCORE = "eval_miou_all"


def parse_objectives(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"miou"``, ``"lcb"``, ``"miou,params"``, ``"miou,step_time"`` -> a tuple of names.

    The first objective scores segmentation (``miou`` or ``lcb``); the optional second is a cost.
    """
    names = tuple(
        n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()
    )
    if not names or names[0] not in ("miou", "lcb"):
        raise ValueError(
            f"the first objective must be miou or lcb, got {','.join(names) or 'nothing'}"
        )
    if len(names) > 2 or (len(names) == 2 and names[1] not in ("params", "step_time")):
        raise ValueError(
            f"objectives are miou|lcb optionally followed by params or step_time, got {','.join(names)}"
        )
    return names


def lower_confidence_bound(scores: Sequence[float], level: float = 0.9) -> float:
    """One-sided ``level`` lower confidence bound of the mean: ``mean - t_{level,n-1} sd/sqrt(n)``.

    NaN with fewer than two scores.
    """
    from scipy import stats

    x = np.asarray(scores, float)
    if x.size < 2:
        return float("nan")
    return float(x.mean() - stats.t.ppf(level, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))


def objective_value(scores: Sequence[float], kind: str = "miou", level: float = 0.9) -> float:
    """The segmentation objective of a candidate from its per-seed scores (NaN when undefined)."""
    x = np.asarray(scores, float)
    if x.size == 0:
        return float("nan")
    if kind == "lcb":
        return lower_confidence_bound(x, level)
    return float(x.mean())


@dataclass(frozen=True)
class SearchSettings:
    """What a search is (persisted in ``search.json``; a resumed search keeps these).

    Attributes:
        space: registered search space (``2d3d``).
        trials: candidates in the study (a resumed search may raise it).
        seeds_per_candidate: K, seeds 0..K-1 of every candidate.
        max_seeds: seeds a close contender may get (default K: no extra seeds).
        objectives: see :func:`parse_objectives`.
        lcb_level: confidence level of the ``lcb`` objective.
        race: stop candidates significantly worse than the incumbent (single objective).
        race_alpha: threshold of the racing tests.
        race_min_seeds: shared seeds needed before racing decides.
        sampler: ``auto`` (TPE, NSGA-II for several objectives), ``tpe``, ``nsga2`` or ``random``.
        sampler_seed: seed of the sampler (combined with the invocation count).
        startup_trials: random candidates before TPE models (default ``min(10, max(3, trials // 4))``).
        enqueue_reference: evaluate the space's reference (the paper's net) as candidate 0.
        profile: training profile (``quick``, ``paper``, ``auto``).
        train_overrides: TrainConfig fields for every candidate (not the searched ones).
        arch_overrides: builder options for every candidate (not the searched ones).
        plugins: modules registering architectures or spaces.
        export: candidates written as specs.
    """

    space: str = "2d3d"
    trials: int = 20
    seeds_per_candidate: int = 2
    max_seeds: int | None = None
    objectives: tuple[str, ...] = ("miou",)
    lcb_level: float = 0.9
    race: bool = True
    race_alpha: float = 0.05
    race_min_seeds: int = 2
    sampler: str = "auto"
    sampler_seed: int = 0
    startup_trials: int | None = None
    enqueue_reference: bool = False
    profile: str = "auto"
    train_overrides: dict[str, Any] = field(default_factory=dict)
    arch_overrides: dict[str, Any] = field(default_factory=dict)
    plugins: tuple[str, ...] = ()
    export: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "objectives", parse_objectives(self.objectives))
        if self.trials < 0:
            raise ValueError(f"trials must be non-negative, got {self.trials}")
        if self.seeds_per_candidate < 1:
            raise ValueError(
                f"seeds per candidate must be at least 1, got {self.seeds_per_candidate}"
            )
        if self.max_seeds is not None and self.max_seeds < self.seeds_per_candidate:
            raise ValueError(
                f"max seeds ({self.max_seeds}) is below seeds per candidate ({self.seeds_per_candidate})"
            )
        if self.objectives[0] == "lcb" and self.seeds_per_candidate < 2:
            raise ValueError("the lcb objective needs at least 2 seeds per candidate")
        if not 0 < self.race_alpha < 1 or not 0.5 <= self.lcb_level < 1:
            raise ValueError("race_alpha must be in (0, 1) and lcb_level in [0.5, 1)")
        if self.sampler not in ("auto", "tpe", "nsga2", "random"):
            raise ValueError(f"unknown sampler {self.sampler!r}; choose auto, tpe, nsga2 or random")

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    @property
    def seed_cap(self) -> int:
        return self.max_seeds or self.seeds_per_candidate

    @property
    def racing(self) -> bool:
        return self.race and not self.multi

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["objectives"] = list(self.objectives)
        d["plugins"] = list(self.plugins)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchSettings:
        d = dict(d)
        d["objectives"] = tuple(d.get("objectives", ("miou",)))
        d["plugins"] = tuple(d.get("plugins", ()))
        return cls(**d)


@dataclass
class SearchResult:
    """Outcome of :func:`run_search`.

    Attributes:
        search_dir: the search folder.
        candidates: ``candidates.parquet`` (one row per candidate).
        seeds: ``seeds.parquet`` (one row per candidate x seed).
        best: numbers of the exported candidates (best first; the Pareto front when multi-objective).
        exported: spec files written; ``suite``: the suite file (None when nothing was exported).
        report: ``search-report.html`` (None when not written).
        complete: every candidate of the study is finished and none is running.
        wall_time_s: this invocation's wall time.
        trained_seeds: seeds trained by this invocation.
    """

    search_dir: Path
    candidates: pd.DataFrame
    seeds: pd.DataFrame
    best: list[int]
    exported: list[Path]
    suite: Path | None
    report: Path | None
    complete: bool
    wall_time_s: float
    trained_seeds: int = 0
