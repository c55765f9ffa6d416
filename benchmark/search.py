"""Seed-aware architecture search: Optuna proposes candidates, Ray trains their seeds.

``run_search`` searches a registered search space (``architectures.search_space``; the 2D-3D
family declares ``2d3d``) and keeps ``results/search/<name>/`` up to date:

- ``study.journal``: the Optuna study (``JournalStorage`` with a file backend; ``--storage`` takes
  an RDB URL such as ``sqlite:///study.db`` instead);
- ``seeds.parquet``: one row per (candidate, seed): status, the best checkpoint's eval and test
  scores, steps, parameters, wall time, measured train-step time, error;
- ``candidates.parquet``: one row per candidate: Optuna state, drawn parameters, builder options,
  training overrides, seeds, mean / sd / lower confidence bound of eval MIoU(all), objective,
  parameter count, step time, the racing verdict;
- ``events.jsonl``: asks, seed starts and ends, racing decisions, in order;
- ``search.json``: settings, data, storage, every invocation;
- ``best-<i>.toml`` and ``suite.toml``: the exported candidates (architecture specs) and a suite
  that trains them next to ``2d3d_3x3x3`` on 26 fresh paired seeds;
- ``search-report.html``: optimization history, parameter importances, Pareto front, per-seed
  scores (self-contained, plotly.js embedded once);
- ``instances/c<number>-s<seed>/``: each seed's checkpoints (an interrupted seed continues there).

How Optuna and Ray interact
    Optuna's ask/tell interface runs in the driver; Ray tasks train seeds. ``study.ask()`` is called
    only when a worker slot is free and no known candidate has a seed left to run, so the sampler
    (TPE, with the constant liar for pending candidates) always proposes with the most information.
    The space is define-by-run (``SearchSpace.sample(trial)``), so conditional parameters are plain
    Python. ``ray.tune.search.optuna.OptunaSearch`` was not used because one Tune trial is one
    configuration with one objective: scoring a candidate over K paired seeds, stopping a losing
    candidate between its seeds and giving a close contender more seeds are decisions across
    trials that neither a Tune searcher nor a Tune scheduler can make. Resuming is Optuna's
    storage plus ``seeds.parquet``, not ``Tuner.restore``.

Seeds
    Candidate seed ``i`` is instance seed ``i`` of ``train_instance`` (data order and weight seeds
    from ``benchmark.windows.instance_seeds(i)``), the same as seed ``i`` of a ``run`` sweep, so
    candidates are paired with each other and with ``2d3d_3x3x3`` instances of any run.

Objective (single)
    ``miou``: mean over the candidate's seeds of the best checkpoint's eval MIoU(all).
    ``lcb``: the one-sided lower confidence bound ``mean - t_{level, n-1} * sd / sqrt(n)``
    (``level`` = ``lcb_level``, 0.9 by default; needs at least 2 seeds).
    Optuna receives the objective when the candidate is told; ``candidates.parquet`` recomputes it
    from all the candidate's seeds (the incumbent can gain seeds later, see racing).

Racing (single objective only; ``race=False`` turns it off)
    The incumbent is the complete candidate with the best objective. After each finished seed of a
    candidate C, C's scores are compared with the incumbent's on the seeds both have finished
    (paired by seed) by a one-sided paired t test of ``H0: mean(C - incumbent) >= 0`` against
    ``H1: mean(C - incumbent) < 0``; with at least ``race_min_seeds`` (2) shared seeds and
    ``p < race_alpha`` (0.05) C is stopped: its queued and running seeds are cancelled and it is
    told PRUNED (its last intermediate value, the mean so far, ranks it for the sampler).
    Extra seeds (``max_seeds`` > ``seeds_per_candidate``): when C has all its seeds and neither
    one-sided test (worse, better) is significant at ``race_alpha``, C is a close contender: it gets
    the next seed, and the incumbent gets that seed too when it lacks it (so the pair stays
    paired), until the test decides or C has ``max_seeds`` seeds. Then C is told COMPLETE.
    Candidates whose every difference is zero are never stopped.
    The test is deliberately liberal (uncorrected, small n): it saves compute, and the final
    comparison is the 26-seed ``run`` + ``analyze`` of the exported specs.

Multi-objective (``objectives=("miou", "params")`` or ``("miou", "step_time")``)
    NSGA-II (``sampler="auto"``); every candidate gets ``seeds_per_candidate`` seeds (no racing);
    ``params`` is the trainable parameter count (minimized) of the candidate at the profile's
    width; ``step_time`` the median over seeds of the measured train-step time in ms (minimized,
    measured in the worker after training on random windows of the training config: on a shared
    machine it is noisy). The Pareto front is ``study.best_trials``; its members are exported.

Resume
    ``resume=True`` re-attaches to the study: finished candidates are not touched; a candidate that
    was running (Optuna state RUNNING) keeps its finished seeds from ``seeds.parquet``, its missing
    seeds are trained (an interrupted seed continues from its ``last.pt``), and it is told when
    done; a RUNNING trial whose parameters were not all drawn is told FAIL. Then the search asks
    new candidates until the study holds ``trials`` of them. The sampler's seed is derived from
    ``sampler_seed`` and the invocation count, so a resumed search does not replay the random
    start-up proposals. One driver per search: ``driver.pid`` refuses a second live one.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shlex
import socket
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.config import TrainConfig, make_config
from benchmark.dataspec import DataSpec
from benchmark.sweep import connect_ray, write_json, write_table

__all__ = [
    "OBJECTIVES",
    "RaceResult",
    "SearchResult",
    "SearchSettings",
    "export_candidates",
    "lower_confidence_bound",
    "measure_step_ms",
    "objective_value",
    "parse_objectives",
    "race",
    "run_search",
    "train_seed",
    "write_search_report",
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
FINAL_SEED_STATUSES = ("finished", "early_stopped", "failed")
SCORED_STATUSES = ("finished", "early_stopped")


# --------------------------------------------------------------------------------- statistics
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


# ---------------------------------------------------------------------------------- settings
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


# ------------------------------------------------------------------------------ worker side
def measure_step_ms(
    arch: str,
    options: Mapping[str, Any],
    config: TrainConfig,
    n_classes: int,
    *,
    steps: int = 5,
    warmup: int = 2,
    seed: int = 0,
) -> float:
    """Median wall time (ms) of one training step of ``arch`` with ``options`` under ``config``
    (its window, batch size, width and fast path), on random windows; the global random state is
    left alone."""
    import torch

    from architectures import build, get_entry, output_window
    from architectures.summary import window_overrides
    from benchmark.train import autocast_for, make_optimizer, resolve_device, train_step

    device = resolve_device(config.device)
    window = tuple(config.window or get_entry(arch).window)
    build_options = dict(
        width=config.width, in_channels=1, n_classes=n_classes, **window_overrides(arch, window)
    )
    build_options.update(options)
    out = output_window(
        arch, window, **{k: v for k, v in build_options.items() if k != "in_channels"}
    )
    fast = device.type == "cuda"
    amp = torch.bfloat16 if (config.amp == "bf16" or (config.amp == "auto" and fast)) else None
    channels_last = config.channels_last == "on" or (config.channels_last == "auto" and fast)
    with torch.random.fork_rng(devices=[device] if fast else []):
        torch.manual_seed(seed)
        model = build(arch, seed=seed, device=device, **build_options)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn((config.batch_size, 1, *window), generator=g).to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
            x = x.contiguous(memory_format=torch.channels_last_3d)
        labels = torch.randint(0, n_classes, (config.batch_size, *out), generator=g).to(device)
        weights = torch.rand((config.batch_size, *out), generator=g).to(device)
        optimizer = make_optimizer(model, config, device)
        autocast = autocast_for(device, amp)
        model.train()
        times = []
        for i in range(warmup + steps):
            if fast:
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            loss = train_step(model, optimizer, x, labels, weights, config.c_2d, autocast)
            float(loss)  # waits for the step
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def train_seed(job: dict[str, Any]) -> dict[str, Any]:
    """Trains one seed of one candidate (a Ray task, or called inline) and returns its row.

    ``job`` holds plain data: ``number``, ``seed``, ``arch`` (the space's base), ``options``,
    ``train`` (a TrainConfig dict), ``data`` (a DataSpec dict), ``plugins``, ``checkpoint_dir``.
    A training error (divergence, an impossible configuration) is a result with
    ``status = "failed"``, not an exception, so Ray does not retry it.
    """
    from architectures import load_plugin
    from benchmark.dataspec import load_data
    from benchmark.train import train_instance

    started = time.time()
    row: dict[str, Any] = {"number": int(job["number"]), "seed": int(job["seed"])}
    try:
        for plugin in job.get("plugins", []):
            load_plugin(plugin)
        dataset = load_data(
            DataSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in job["data"].items()})
        )
        config = TrainConfig().replace(**job["train"])
        result = train_instance(
            job["arch"],
            int(job["seed"]),
            dataset,
            config,
            arch_overrides=job["options"],
            checkpoint_dir=job.get("checkpoint_dir"),
        )
        row.update(result.row(dataset.class_names))
        row["step_ms"] = (
            measure_step_ms(job["arch"], job["options"], config, dataset.n_classes)
            if job.get("measure_step", True)
            else float("nan")
        )
        row["error"] = None
    except Exception as exc:  # a broken candidate is a finding, not a crash
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
    row.update(
        number=int(job["number"]),
        seed=int(job["seed"]),
        host=socket.gethostname(),
        started=started,
        ended=time.time(),
    )
    row.pop("architecture", None)
    return row


# -------------------------------------------------------------------------------- executors
class _InlineExecutor:
    """Runs jobs one at a time in this process when waited for (tests, debugging)."""

    def __init__(self, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.fn = fn
        self.queue: dict[int, dict[str, Any]] = {}
        self._next = 0

    def slots(self) -> int:
        return 1

    def submit(self, job: dict[str, Any], resources: Mapping[str, float]) -> int:
        self._next += 1
        self.queue[self._next] = job
        return self._next

    def wait(
        self, handles: Sequence[Any]
    ) -> list[tuple[Any, dict[str, Any] | None, BaseException | None]]:
        handle = next(h for h in self.queue if h in set(handles))
        job = self.queue.pop(handle)
        try:
            return [(handle, self.fn(job), None)]
        except Exception as exc:
            return [(handle, None, exc)]

    def cancel(self, handle: Any) -> bool:
        """A queued job is dropped at once (True: no result will come)."""
        return self.queue.pop(handle, None) is not None

    def gpus(self) -> float:
        return 0.0

    def close(self) -> None:
        pass


class _RayExecutor:
    """Ray tasks on a local Ray (started here) or an existing cluster (``address``)."""

    def __init__(
        self,
        fn: Callable[[dict[str, Any]], dict[str, Any]],
        address: str | None,
        cpus_per_job: float,
        max_failures: int,
    ) -> None:
        import ray

        self.ray = ray
        self.own = connect_ray(address)
        self.cpus_per_job = cpus_per_job
        self.max_failures = max_failures
        self.remote = ray.remote(fn)

    def slots(self) -> int:
        return max(
            1, int(self.ray.cluster_resources().get("CPU", 1) // max(self.cpus_per_job, 1e-9))
        )

    def gpus(self) -> float:
        return float(self.ray.cluster_resources().get("GPU", 0))

    def submit(self, job: dict[str, Any], resources: Mapping[str, float]) -> Any:
        options = dict(
            num_cpus=resources.get("cpu", self.cpus_per_job),
            num_gpus=resources.get("gpu", 0),
            max_retries=self.max_failures,
        )
        return self.remote.options(**options).remote(job)

    def wait(
        self, handles: Sequence[Any]
    ) -> list[tuple[Any, dict[str, Any] | None, BaseException | None]]:
        ready, _ = self.ray.wait(list(handles), num_returns=1)
        out = []
        for ref in ready:
            try:
                out.append((ref, self.ray.get(ref), None))
            except Exception as exc:  # worker crash after retries, cancellation
                out.append((ref, None, exc))
        return out

    def cancel(self, handle: Any) -> bool:
        """Asks Ray to cancel (a running task gets KeyboardInterrupt); its end still comes
        through ``wait`` (a result when it had already finished)."""
        self.ray.cancel(handle)
        return False

    def close(self) -> None:
        if self.own:
            self.ray.shutdown()


# --------------------------------------------------------------------------------- candidates
@dataclass
class _Cand:
    """The driver's view of one candidate (one Optuna trial)."""

    number: int
    state: str  # running, complete, pruned, failed
    trial: Any = None  # optuna.trial.Trial while running
    options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    target: list[int] = field(default_factory=list)
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    running: dict[int, Any] = field(default_factory=dict)
    arch_params: int | None = None
    values: list[float] | None = None
    race: RaceResult | None = None
    race_vs: int | None = None
    reason: str = ""

    def scores(self) -> dict[int, float]:
        return {
            s: float(r[SCORE])
            for s, r in self.results.items()
            if r.get("status") in SCORED_STATUSES
            and r.get(SCORE) is not None
            and np.isfinite(r[SCORE])
        }

    def pending(self) -> list[int]:
        return [s for s in self.target if s not in self.results and s not in self.running]

    def step_ms(self) -> float:
        values = [
            float(r["step_ms"])
            for r in self.results.values()
            if r.get("status") in SCORED_STATUSES
            and r.get("step_ms") is not None
            and np.isfinite(r["step_ms"])
        ]
        return float(np.median(values)) if values else float("nan")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


class _Driver:
    """One invocation of a search: study, executor, candidate states, tables."""

    def __init__(
        self,
        settings: SearchSettings,
        search_dir: Path,
        study: Any,
        space: Any,
        base_config: TrainConfig,
        data: DataSpec,
        n_classes: int,
        executor: Any,
        max_concurrent: int,
        gpus_per_job: float | None,
        print_fn: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.dir = search_dir
        self.study = study
        self.space = space
        self.base_config = base_config
        self.data = data
        self.n_classes = n_classes
        self.executor = executor
        self.max_concurrent = max_concurrent
        self.gpus_per_job = gpus_per_job
        self.print = print_fn
        self.cands: dict[int, _Cand] = {}
        self.in_flight: dict[Any, tuple[int, int]] = {}
        self.cancelled: set[Any] = set()
        self.started = time.monotonic()
        self.trained = 0
        self.rows_extra: list[dict[str, Any]] = []  # cancelled seeds, for the record

    # ----------------------------------------------------------------------------- helpers
    def log(self, text: str) -> None:
        self.print(f"[{time.monotonic() - self.started:7.1f} s] {text}")

    def event(self, kind: str, **extra: Any) -> None:
        record = dict(
            time=dt.datetime.now().isoformat(timespec="seconds"), event=kind, **_jsonable(extra)
        )
        with open(self.dir / "events.jsonl", "a") as f:
            f.write(json.dumps(record, default=str) + "\n")

    def objective(self, c: _Cand) -> float:
        return objective_value(
            list(c.scores().values()), self.settings.objectives[0], self.settings.lcb_level
        )

    def incumbent(self, exclude: _Cand | None = None) -> _Cand | None:
        best, best_value = None, -math.inf
        for c in self.cands.values():
            if c.state != "complete" or c is exclude:
                continue
            value = self.objective(c)
            if np.isfinite(value) and value > best_value:
                best, best_value = c, value
        return best

    def asked(self) -> int:
        from optuna.trial import TrialState

        return len(
            [t for t in self.study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
        )

    # ------------------------------------------------------------------------------ resume
    def reattach(self, rows: pd.DataFrame) -> None:
        """Rebuilds the candidates from the study and the seeds table (see the module docstring)."""
        import optuna
        from optuna.trial import TrialState

        by_number: dict[int, dict[int, dict[str, Any]]] = {}
        for row in rows.to_dict("records"):
            if row.get("status") in FINAL_SEED_STATUSES:
                by_number.setdefault(int(row["number"]), {})[int(row["seed"])] = row
        for ft in self.study.get_trials(deepcopy=False):
            if ft.state == TrialState.WAITING:
                continue
            c = _Cand(
                number=ft.number,
                state="running",
                params=dict(ft.params),
                results=by_number.get(ft.number, {}),
            )
            c.options = json.loads(ft.user_attrs.get("options", "{}"))
            c.train = json.loads(ft.user_attrs.get("train", "{}"))
            c.arch_params = ft.user_attrs.get("arch_params")
            c.target = list(
                ft.user_attrs.get("seeds_target", range(self.settings.seeds_per_candidate))
            )
            c.reason = ft.user_attrs.get("reason", "")
            if ft.state == TrialState.COMPLETE:
                c.state, c.values = "complete", list(ft.values)
            elif ft.state == TrialState.PRUNED:
                c.state = "pruned"
            elif ft.state == TrialState.FAIL:
                c.state = "failed"
            else:  # RUNNING: the previous driver died or was interrupted
                c.trial = optuna.trial.Trial(self.study, ft._trial_id)
                self.cands[c.number] = c
                try:
                    prepared = self._prepare(c, self.space.candidate_from_params(ft.params))
                except KeyError as exc:
                    self._fail(c, f"interrupted before its parameters were drawn ({exc})")
                    continue
                if not prepared:
                    continue
                done = len([s for s in c.target if s in c.results])
                self.log(
                    f"candidate {c.number}: re-attached with {done}/{len(c.target)} seed(s) done"
                )
                self.event("reattach", number=c.number, seeds_done=sorted(c.results))
            self.cands[c.number] = c
        for c in list(self.cands.values()):
            self.evaluate(c)

    # -------------------------------------------------------------------------------- asking
    def _prepare(self, c: _Cand, candidate: Any) -> bool:
        """Fills options / train / parameter count; False (and FAIL) when the net cannot be built."""
        from architectures import summarize

        c.options = _jsonable(dict(candidate.options, **self.settings.arch_overrides))
        c.train = _jsonable(dict(candidate.train))
        c.params = dict(candidate.params)
        config = self.config_for(c)
        window = config.window
        try:
            c.arch_params = int(
                summarize(
                    self.space.base,
                    window,
                    width=config.width,
                    n_classes=self.n_classes,
                    **c.options,
                ).params
            )
        except (ValueError, TypeError, RuntimeError) as exc:
            self._fail(c, f"cannot build for window {window}: {exc}")
            return False
        for key, value in (
            ("options", json.dumps(c.options)),
            ("train", json.dumps(c.train)),
            ("arch_params", c.arch_params),
            ("seeds_target", c.target),
        ):
            c.trial.set_user_attr(key, value)
        return True

    def ask(self) -> _Cand:
        trial = self.study.ask()
        c = _Cand(
            number=trial.number,
            state="running",
            trial=trial,
            target=list(range(self.settings.seeds_per_candidate)),
        )
        self.cands[c.number] = c
        try:
            candidate = self.space.sample(trial)
        except Exception as exc:
            self._fail(c, f"sampling failed: {type(exc).__name__}: {exc}")
            return c
        if self._prepare(c, candidate):
            desc = ", ".join(f"{k}={v}" for k, v in {**c.options, **c.train}.items())
            self.log(f"candidate {c.number}: {desc} ({c.arch_params:,} parameters)")
            self.event(
                "ask",
                number=c.number,
                params=c.params,
                options=c.options,
                train=c.train,
                arch_params=c.arch_params,
            )
        return c

    def config_for(self, c: _Cand) -> TrainConfig:
        return self.base_config.replace(**c.train)

    # ------------------------------------------------------------------------------ running
    def next_job(self) -> tuple[_Cand, int] | None:
        inc = self.incumbent()
        order = sorted(
            (c for c in self.cands.values() if c.state in ("running", "complete")),
            key=lambda c: (c is not inc, c.number),
        )
        for c in order:
            pending = c.pending()
            if pending:
                return c, pending[0]
        return None

    def submit(self, c: _Cand, seed: int) -> None:
        job = dict(
            number=c.number,
            seed=seed,
            arch=self.space.base,
            options=c.options,
            train=self.config_for(c).to_dict(),
            data=self.data.to_dict(),
            plugins=list(self.settings.plugins),
            checkpoint_dir=str(self.dir / "instances" / f"c{c.number:04d}-s{seed}"),
            measure_step=True,
        )
        resources: dict[str, float] = {}
        if self.gpus_per_job:
            resources["gpu"] = self.gpus_per_job
        handle = self.executor.submit(job, resources)
        c.running[seed] = handle
        self.in_flight[handle] = (c.number, seed)
        self.event("start", number=c.number, seed=seed)

    def fill(self) -> None:
        while len(self.in_flight) < self.max_concurrent:
            job = self.next_job()
            if job is None:
                if self.asked() >= self.settings.trials:
                    return
                self.ask()
                continue
            self.submit(*job)

    def handle(self, handle: Any, row: dict[str, Any] | None, error: BaseException | None) -> None:
        number, seed = self.in_flight.pop(handle)
        c = self.cands[number]
        c.running.pop(seed, None)
        was_cancelled = handle in self.cancelled
        self.cancelled.discard(handle)
        if was_cancelled and row is None:
            self.rows_extra.append(dict(number=number, seed=seed, status="cancelled", error=None))
            self.event("cancelled", number=number, seed=seed)
            self.write_tables()
            return
        if row is None:
            row = dict(
                number=number,
                seed=seed,
                status="failed",
                error=f"{type(error).__name__}: {error}"[:500],
            )
        c.results[seed] = row
        self.trained += 1
        self.event(
            "end",
            number=number,
            seed=seed,
            status=row.get("status"),
            score=row.get(SCORE),
            error=row.get("error"),
        )
        if row.get("status") in SCORED_STATUSES:
            self.log(
                f"candidate {number} seed {seed}: eval MIoU(all) {row[SCORE]:.4f} ({row['status']}, {row.get('wall_time_s', float('nan')):.1f} s, step {row.get('step_ms', float('nan')):.1f} ms)"
            )
        else:
            self.log(f"candidate {number} seed {seed}: {row.get('status')}: {row.get('error')}")
        for other in sorted(self.cands.values(), key=lambda k: k.number):
            self.evaluate(other)
        self.write_tables()

    # ----------------------------------------------------------------------------- deciding
    def evaluate(self, c: _Cand) -> None:
        """Stops, extends or completes a running candidate (see "Racing" in the module docstring)."""
        if c.state != "running" or c.trial is None:
            return
        failed = [r for s, r in c.results.items() if r.get("status") == "failed"]
        if failed:
            self._fail(c, f"seed {failed[0]['seed']} failed: {failed[0].get('error')}")
            return
        scores = c.scores()
        inc = self.incumbent(exclude=c) if self.settings.racing else None
        result = None
        if inc is not None:
            result = race(
                scores, inc.scores(), self.settings.race_alpha, self.settings.race_min_seeds
            )
            c.race, c.race_vs = result, inc.number
            if result.verdict == "worse":
                self._prune(c, inc, result)
                return
        if any(s not in c.results for s in c.target):
            return
        if (
            inc is not None
            and result is not None
            and result.verdict in ("undecided", "too_few")
            and len(c.target) < self.settings.seed_cap
        ):
            missing = [s for s in c.target if s not in inc.results]
            if missing:  # the incumbent first runs the seeds the candidate has (pairing)
                inc.target += [s for s in missing if s not in inc.target]
                return
            extra = next(s for s in range(10**6) if s not in c.target)
            c.target.append(extra)
            c.trial.set_user_attr("seeds_target", c.target)
            if extra not in inc.target:
                inc.target.append(extra)
            self.log(
                f"candidate {c.number}: close to incumbent {inc.number} (paired t p = {result.p_worse:.3f} worse / {result.p_better:.3f} better over {result.n_shared} seeds): adding seed {extra}"
            )
            self.event(
                "extend",
                number=c.number,
                seed=extra,
                incumbent=inc.number,
                p_worse=result.p_worse,
                p_better=result.p_better,
            )
            return
        self._complete(c)

    def _values(self, c: _Cand) -> list[float]:
        values = [self.objective(c)]
        if self.settings.multi:
            values.append(
                float(c.arch_params) if self.settings.objectives[1] == "params" else c.step_ms()
            )
        return values

    def _complete(self, c: _Cand) -> None:
        values = self._values(c)
        if not all(np.isfinite(values)):
            self._fail(c, f"objective undefined ({values}) from {len(c.scores())} scored seed(s)")
            return
        scores = list(c.scores().values())
        for key, value in (
            ("seeds", sorted(c.scores())),
            ("mean", float(np.mean(scores))),
            ("sd", float(np.std(scores, ddof=1)) if len(scores) > 1 else None),
            ("step_ms", c.step_ms()),
        ):
            c.trial.set_user_attr(key, value)
        self.study.tell(c.trial, values if self.settings.multi else values[0])
        c.state, c.values, c.trial = "complete", values, None
        inc = self.incumbent()
        tag = " (new incumbent)" if inc is c else ""
        self.log(
            f"candidate {c.number} complete: objective {self._fmt_values(values)} over {len(scores)} seed(s){tag}"
        )
        self.event("complete", number=c.number, values=values, seeds=sorted(c.scores()))

    def _prune(self, c: _Cand, inc: _Cand, result: RaceResult) -> None:
        self._cancel(c)
        scores = list(c.scores().values())
        c.trial.report(float(np.mean(scores)), step=len(scores))
        c.trial.set_user_attr(
            "race",
            dict(
                vs=inc.number,
                n_shared=result.n_shared,
                mean_difference=result.mean_difference,
                p_worse=result.p_worse,
            ),
        )
        c.reason = f"raced out by candidate {inc.number}: paired t p = {result.p_worse:.4f} < {self.settings.race_alpha} over {result.n_shared} seeds (mean difference {result.mean_difference:+.4f})"
        c.trial.set_user_attr("reason", c.reason)
        self.study.tell(c.trial, state=_state("PRUNED"))
        c.state, c.trial = "pruned", None
        self.log(f"candidate {c.number} stopped: {c.reason}")
        self.event(
            "prune",
            number=c.number,
            incumbent=inc.number,
            p_worse=result.p_worse,
            n_shared=result.n_shared,
        )

    def _fail(self, c: _Cand, reason: str) -> None:
        self._cancel(c)
        c.reason = reason
        if c.trial is not None:
            c.trial.set_user_attr("reason", reason)
            self.study.tell(c.trial, state=_state("FAIL"))
        c.state, c.trial = "failed", None
        self.log(f"candidate {c.number} failed: {reason}")
        self.event("fail", number=c.number, reason=reason)

    def _cancel(self, c: _Cand) -> None:
        for seed, handle in list(c.running.items()):
            self.cancelled.add(handle)
            if self.executor.cancel(handle):  # gone at once: no end will be reported
                self.cancelled.discard(handle)
                self.in_flight.pop(handle, None)
                c.running.pop(seed)
                self.rows_extra.append(
                    dict(number=c.number, seed=seed, status="cancelled", error=None)
                )
                self.event("cancelled", number=c.number, seed=seed)

    def _fmt_values(self, values: Sequence[float]) -> str:
        parts = []
        for name, v in zip(self.settings.objectives, values):
            parts.append(
                f"{name} {v:,.0f}"
                if name == "params"
                else f"{name} {v:.1f} ms"
                if name == "step_time"
                else f"{name} {v:.4f}"
            )
        return ", ".join(parts)

    # ------------------------------------------------------------------------------- loop
    def run(self) -> bool:
        """Runs until the study holds ``trials`` finished candidates; False when interrupted."""
        try:
            while True:
                self.fill()
                if not self.in_flight:
                    return True
                for handle, row, error in self.executor.wait(list(self.in_flight)):
                    self.handle(handle, row, error)
        except KeyboardInterrupt:
            self.log("interrupted: finished seeds are kept; continue with --resume")
            for handle in list(self.in_flight):
                self.executor.cancel(handle)
            self.event("interrupted")
            return False

    # ------------------------------------------------------------------------------ tables
    def seeds_frame(self) -> pd.DataFrame:
        rows = [dict(r) for c in self.cands.values() for r in c.results.values()]
        done = {(int(r["number"]), int(r["seed"])) for r in rows}
        rows += [r for r in self.rows_extra if (r["number"], r["seed"]) not in done]
        if not rows:
            return pd.DataFrame(columns=["number", "seed", "status"])
        frame = pd.DataFrame(rows)
        front = [
            c
            for c in (
                "number",
                "seed",
                "status",
                SCORE,
                "eval_miou_org",
                "test_miou_all",
                "test_miou_org",
                "steps",
                "params",
                "wall_time_s",
                "step_ms",
                "error",
            )
            if c in frame
        ]
        frame = frame[front + [c for c in frame.columns if c not in front]]
        return (
            frame.drop_duplicates(["number", "seed"], keep="first")
            .sort_values(["number", "seed"], kind="stable")
            .reset_index(drop=True)
        )

    def candidates_frame(self) -> pd.DataFrame:
        inc = self.incumbent() if not self.settings.multi else None
        pareto = self.pareto_numbers() if self.settings.multi else []
        rows = []
        for c in sorted(self.cands.values(), key=lambda k: k.number):
            scores = list(c.scores().values())
            row: dict[str, Any] = dict(
                number=c.number,
                state=c.state,
                objective=self.objective(c),
                mean=float(np.mean(scores)) if scores else float("nan"),
                sd=float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan"),
                lcb=lower_confidence_bound(scores, self.settings.lcb_level),
                n_seeds=len(scores),
                seeds=",".join(str(s) for s in sorted(c.scores())),
                arch_params=c.arch_params,
                step_ms=c.step_ms(),
                incumbent=c is inc,
                pareto=c.number in pareto,
                race_vs=c.race_vs,
                race_p_worse=c.race.p_worse if c.race else float("nan"),
                race_p_better=c.race.p_better if c.race else float("nan"),
                reason=c.reason,
                options=json.dumps(c.options),
                train=json.dumps(c.train),
            )
            row.update({f"p_{k}": v for k, v in c.params.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def pareto_numbers(self) -> list[int]:
        try:
            return sorted(t.number for t in self.study.best_trials)
        except (ValueError, RuntimeError):
            return []

    def write_tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        seeds, cands = self.seeds_frame(), self.candidates_frame()
        write_table(seeds, self.dir / "seeds.parquet")
        if not cands.empty:
            write_table(cands, self.dir / "candidates.parquet")
        return seeds, cands


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return getattr(TrialState, name)


# -------------------------------------------------------------------------------- the search
def _make_sampler(settings: SearchSettings, invocation: int) -> Any:
    import optuna

    seed = int(np.random.SeedSequence([settings.sampler_seed, invocation]).generate_state(1)[0])
    kind = (
        settings.sampler if settings.sampler != "auto" else ("nsga2" if settings.multi else "tpe")
    )
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(
            seed=seed, population_size=max(4, min(50, settings.trials // 2 or 4))
        )
    startup = (
        settings.startup_trials
        if settings.startup_trials is not None
        else min(10, max(3, settings.trials // 4))
    )
    # multivariate + group: TPE models the joint distribution within each conditional subspace.
    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=startup, multivariate=True, group=True, constant_liar=True
    )


def _storage(spec: str | None, search_dir: Path) -> tuple[Any, str]:
    """An Optuna storage and its description; a path (or None) is a journal file."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    if spec and "://" in spec:
        return spec, spec
    path = Path(spec) if spec else search_dir / "study.journal"
    if not path.is_absolute() and spec:
        path = Path.cwd() / path
    path.parent.mkdir(parents=True, exist_ok=True)
    # The open lock (O_EXCL lock file) works on any local file system, without symlinks.
    return JournalStorage(
        JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
    ), str(path)


def resolve_search_dir(
    results_root: Path, space: str, name: str | None, resume: bool
) -> tuple[Path, bool]:
    """The search folder and whether it continues an existing search."""
    root = results_root / "search"
    if name:
        path = root / name
        exists = (path / "search.json").is_file()
        if exists and not resume:
            raise ValueError(
                f"search {name!r} exists in {path}; add --resume to continue it, or choose another --name"
            )
        if resume and not exists:
            raise FileNotFoundError(f"--resume: no search {name!r} in {root}")
        return path, exists
    if resume:
        found = sorted(
            (p for p in root.glob("*") if (p / "search.json").is_file()),
            key=lambda p: p.stat().st_mtime,
        )
        if not found:
            raise FileNotFoundError(f"--resume: no earlier search under {root}")
        return found[-1], True
    return root / f"{space}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}", False


def _base_config(space: Any, profile: str, overrides: Mapping[str, Any]) -> TrainConfig:
    from architectures import get_entry

    entry = get_entry(space.base)
    config, _ = make_config(profile, entry.train_defaults, **dict(overrides))
    if config.profile == "quick":
        config = config.replace(
            **{
                k: v
                for k, v in entry.quick.items()
                if k in ("window", "width") and k not in overrides
            }
        )
    if "save_probabilities" not in overrides:
        config = config.replace(save_probabilities=False)  # a search needs scores, not ensembles
    return config


def _check_overrides(settings: SearchSettings, space: Any, train_values: Mapping[str, Any]) -> None:
    reference = space.candidate_from_params(space.reference_params(train_values))
    searched_options = set(reference.options) | {"pyramid_convs", "inserted_blocks"}
    clash = sorted(set(settings.arch_overrides) & searched_options)
    if clash:
        raise ValueError(
            f"builder option(s) {clash} are searched by space {space.name!r} and cannot be fixed"
        )
    clash = sorted(set(settings.train_overrides) & set(space.train_fields))
    if clash:
        raise ValueError(
            f"training option(s) {clash} are searched by space {space.name!r} and cannot be fixed"
        )


def _driver_lock(search_dir: Path) -> None:
    lock = search_dir / "driver.pid"
    if lock.is_file():
        parts = lock.read_text().split()
        if (
            len(parts) == 2
            and parts[0] == socket.gethostname()
            and parts[1].isdigit()
            and int(parts[1]) != os.getpid()
        ):
            try:
                os.kill(int(parts[1]), 0)
                alive = True
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
            if alive:
                raise ValueError(f"another search process (pid {parts[1]}) is driving {search_dir}")
    lock.write_text(f"{socket.gethostname()} {os.getpid()}\n")


def run_search(
    settings: SearchSettings,
    *,
    data: DataSpec | None = None,
    results_root: str | Path = "results",
    name: str | None = None,
    resume: bool = False,
    storage: str | None = None,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float | None = None,
    max_concurrent: int | None = None,
    max_failures: int = 2,
    executor: str = "ray",
    report: bool = True,
    command: str | None = None,
    train_fn: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    print_fn: Callable[[str], None] = print,
) -> SearchResult:
    """Runs (or resumes) a seed-aware architecture search; see the module docstring.

    Args:
        settings: the search; on resume the stored settings win, except ``export`` and
            ``trials`` (a resumed search may ask for more candidates, never fewer).
        data: where the data come from (default: the built-in phantom for the profile).
        results_root: parent of ``search/<name>``.
        name: search name (default ``<space>-<timestamp>``).
        resume: continue the search ``name`` (default: the latest one).
        storage: Optuna storage: an RDB URL, or a journal file path (default
            ``<search_dir>/study.journal``).
        address: an existing Ray cluster; default a local Ray.
        cpus_per_trial, gpus_per_trial: resources per seed (GPUs default to as many seeds per GPU
            as memory allows when the cluster has GPUs).
        max_concurrent: seeds in flight at once (default: the cluster's CPUs / cpus_per_trial).
        max_failures: Ray retries of a seed whose worker died.
        executor: ``ray``, or ``inline`` (seeds one after another in this process).
        report: write ``search-report.html``.
        train_fn: replaces :func:`train_seed` (tests; must be importable for Ray).
    """
    import optuna

    from architectures import load_plugin
    from architectures.search_space import get_space
    from benchmark.config import resolve_profile
    from benchmark.dataspec import load_data
    from benchmark.sweep import _fit_phantom_to_windows, environment_record

    started = time.monotonic()
    search_dir, continuing = resolve_search_dir(
        Path(results_root).resolve(), settings.space, name, resume
    )
    meta: dict[str, Any] = {}
    if continuing:
        meta = json.loads((search_dir / "search.json").read_text())
        stored = SearchSettings.from_dict(meta["settings"])
        settings = replace(
            stored, trials=max(settings.trials, stored.trials), export=settings.export
        )
        data = DataSpec(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in meta["data"].items()}
        )
        storage = meta["storage"]
    for plugin in settings.plugins:
        load_plugin(plugin)
    space = get_space(settings.space)
    # Checked before Ray starts: fixed options must not be searched ones.
    _check_overrides(settings, space, {k: getattr(TrainConfig(), k) for k in space.train_fields})
    search_dir.mkdir(parents=True, exist_ok=True)
    _driver_lock(search_dir)
    if continuing and "://" not in str(storage):
        # No other driver is alive (driver.pid): a journal lock left by a killed one is stale.
        Path(str(storage) + ".lock").unlink(missing_ok=True)

    fn = train_fn or train_seed
    ex: Any = (
        _InlineExecutor(fn)
        if executor == "inline"
        else _RayExecutor(fn, address, cpus_per_trial, max_failures)
    )
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if continuing:
            base_config = TrainConfig().replace(**meta["config"])
            print_fn(
                f"resuming {search_dir} (study {meta['study_name']}, {settings.trials} candidates)"
            )
        else:
            # ``auto``: the paper profile when the Ray cluster (not just this machine) has a GPU.
            profile, _ = resolve_profile(settings.profile, cuda_available=ex.gpus() > 0)
            base_config = _base_config(space, profile, settings.train_overrides)
        train_values = {k: getattr(base_config, k) for k in space.train_fields}
        if data is None:
            data = DataSpec(kind="phantom", profile=base_config.profile)
        data = _fit_phantom_to_windows(data, {space.base: base_config})
        dataset = load_data(data)
        storage_obj, storage_text = _storage(storage, search_dir)
        invocation = len(meta["invocations"]) if continuing else 0
        record = dict(
            command=command or " ".join(shlex.quote(a) for a in sys.argv),
            started=dt.datetime.now().isoformat(timespec="seconds"),
            executor=executor,
        )
        if not continuing:
            meta = dict(
                space=settings.space,
                study_name=search_dir.name,
                storage=storage_text,
                settings=settings.to_dict(),
                profile=base_config.profile,
                base=space.base,
                data=data.to_dict(),
                config=base_config.to_dict(),
                class_names=list(dataset.class_names),
                invocations=[record],
                **environment_record(),
            )
        else:
            meta["settings"] = settings.to_dict()
            meta["invocations"].append(record)
        write_json(meta, search_dir / "search.json")

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = optuna.create_study(
                study_name=meta["study_name"],
                storage=storage_obj,
                sampler=_make_sampler(settings, invocation),
                directions=[OBJECTIVES[o] for o in settings.objectives],
                load_if_exists=True,
            )
            if not continuing and settings.enqueue_reference:
                study.enqueue_trial(space.reference_params(train_values))
            gpus = gpus_per_trial
            if gpus is None and ex.gpus() > 0:
                gpus = _auto_gpus(space.base, base_config, dataset)
            elif gpus and ex.gpus() == 0:
                raise ValueError(
                    f"--gpus-per-trial {gpus} asked for, but the Ray cluster has no GPU"
                )
            slots = max_concurrent or ex.slots()
            driver = _Driver(
                settings,
                search_dir,
                study,
                space,
                base_config,
                data,
                dataset.n_classes,
                ex,
                slots,
                gpus,
                print_fn,
            )
            if continuing:
                rows = (
                    pd.read_parquet(search_dir / "seeds.parquet")
                    if (search_dir / "seeds.parquet").is_file()
                    else pd.DataFrame(columns=["number", "seed", "status"])
                )
                driver.reattach(rows)
            else:
                print_fn(
                    f"searching {settings.trials} candidate(s) of space {settings.space!r} x {settings.seeds_per_candidate} seed(s) "
                    f"({base_config.profile} profile, {data.describe()}), {slots} seed(s) at a time; results in {search_dir}"
                )
            finished = driver.run()
            seeds, cands = driver.write_tables()
            pareto = driver.pareto_numbers()
    finally:
        optuna.logging.set_verbosity(level)
        ex.close()

    running = [c.number for c in driver.cands.values() if c.state == "running"]
    complete = finished and not running and driver.asked() >= settings.trials
    best, exported, suite = (
        export_candidates(search_dir, settings, cands, meta, pareto)
        if settings.export > 0
        else ([], [], None)
    )
    report_path = write_search_report(search_dir) if report and not cands.empty else None
    meta = json.loads((search_dir / "search.json").read_text())
    meta["invocations"][-1].update(
        ended=dt.datetime.now().isoformat(timespec="seconds"),
        complete=complete,
        trained_seeds=driver.trained,
        wall_time_s=round(time.monotonic() - started, 1),
    )
    write_json(meta, search_dir / "search.json")
    (search_dir / "driver.pid").unlink(missing_ok=True)
    return SearchResult(
        search_dir,
        cands,
        seeds,
        best,
        exported,
        suite,
        report_path,
        complete,
        time.monotonic() - started,
        driver.trained,
    )


def _auto_gpus(arch: str, config: TrainConfig, dataset: Any) -> float:
    import torch

    from benchmark.sweep import default_gpus_per_trial, estimate_instance_memory_gib

    # The space's largest nets need about twice the reference's memory: size for them.
    need = 2 * estimate_instance_memory_gib(
        arch, config.window, config.width, {}, int(dataset.train.image.size)
    )
    gpu_gib = (
        torch.cuda.get_device_properties(0).total_memory / 2**30
        if torch.cuda.is_available()
        else 16.0
    )
    return default_gpus_per_trial(need, gpu_gib)


# ------------------------------------------------------------------------------------ export
def _ranked(settings: SearchSettings, cands: pd.DataFrame, pareto: Sequence[int]) -> list[int]:
    if cands.empty:
        return []
    done = cands[cands["state"] == "complete"]
    if settings.multi:
        done = done[done["number"].isin(list(pareto))]
    done = done[np.isfinite(done["objective"].astype(float))]
    return [
        int(n) for n in done.sort_values(["objective", "number"], ascending=[False, True])["number"]
    ]


def export_candidates(
    search_dir: Path,
    settings: SearchSettings,
    cands: pd.DataFrame,
    meta: Mapping[str, Any],
    pareto: Sequence[int] = (),
) -> tuple[list[int], list[Path], Path | None]:
    """Writes the best candidates as ``best-<i>.toml`` specs and a ``suite.toml`` next to them.

    Single objective: the ``export`` complete candidates with the best objective (recomputed on
    all their seeds). Several objectives: the Pareto front, best segmentation objective first.
    The suite lists the specs and the space's base (``2d3d_3x3x3``) with 26 seeds that follow
    the ones the search used, so the confirmation is not biased by selection on its seeds.

    Returns:
        (candidate numbers, spec paths, suite path or None when nothing is complete).
    """
    from architectures.spec import _toml_value, write_spec

    ranked = _ranked(settings, cands, pareto)[: settings.export]
    for old in search_dir.glob("best-*.toml"):
        old.unlink()
    if not ranked:
        return [], [], None
    paths = []
    by_number = cands.set_index("number")
    for i, number in enumerate(ranked, 1):
        row = by_number.loc[number]
        spec_name = _safe_name(f"search_{meta['study_name']}_c{number:03d}")
        description = f"found by search {meta['study_name']} (candidate {number}): eval MIoU(all) {row['mean']:.4f} +- {0 if pd.isna(row['sd']) else row['sd']:.4f} over {row['n_seeds']} seed(s), {int(row['arch_params']):,} parameters at width {meta['config']['width']:g}"
        paths.append(
            write_spec(
                search_dir / f"best-{i}.toml",
                spec_name,
                meta["base"],
                json.loads(row["options"]),
                json.loads(row["train"]),
                description,
            )
        )
    used = max((int(s) for seeds in cands["seeds"] for s in str(seeds).split(",") if s), default=-1)
    lines = [
        "# Written by `python -m benchmark search`: the exported candidates next to the reference,",
        "# on 26 paired seeds the search never used. Run it with",
        f"#   python -m benchmark run --suite {search_dir / 'suite.toml'}",
        f"name = {_toml_value('search-' + meta['study_name'])}",
        f"description = {_toml_value('search ' + meta['study_name'] + ': best candidates vs ' + meta['base'])}",
        f"architectures = {_toml_value([p.name for p in paths] + [meta['base']])}",
        f"profile = {_toml_value(meta['profile'])}",
        f"seeds = {_toml_value(list(range(used + 1, used + 27)))}",
    ]
    data_lines = _suite_data(meta["data"])
    if data_lines:
        lines += ["", "[data]", *data_lines]
    suite = search_dir / "suite.toml"
    tmp = suite.with_name(f".{suite.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(suite)
    return ranked, paths, suite


def _suite_data(data: Mapping[str, Any]) -> list[str]:
    from architectures.spec import _toml_value
    from benchmark.dataspec import VOLUME_FIELDS
    from benchmark.dataspec import absolute_path as absolute

    if data["kind"] == "phantom":
        return [f"phantom_seed = {int(data['seed'])}"] if data.get("seed") else []
    out = []
    if data["kind"] == "platelet":
        out.append(f"data = {_toml_value(absolute(data['data_dir']))}")
    for key in (*VOLUME_FIELDS, "color_table"):
        if data.get(key):
            out.append(f"{key} = {_toml_value(absolute(data[key]))}")
    if data.get("org_classes"):
        out.append(f"org_classes = {_toml_value(','.join(str(c) for c in data['org_classes']))}")
    if data.get("n_classes"):
        out.append(f"n_classes = {int(data['n_classes'])}")
    return out


# ------------------------------------------------------------------------------------ report
def load_search(search_dir: str | Path) -> tuple[dict[str, Any], Any, pd.DataFrame, pd.DataFrame]:
    """``(search.json, the Optuna study, candidates table, seeds table)`` of a search folder."""
    import optuna

    search_dir = Path(search_dir)
    meta = json.loads((search_dir / "search.json").read_text())
    storage, _ = _storage(meta["storage"], search_dir)
    study = optuna.load_study(study_name=meta["study_name"], storage=storage)
    cands = (
        pd.read_parquet(search_dir / "candidates.parquet")
        if (search_dir / "candidates.parquet").is_file()
        else pd.DataFrame()
    )
    seeds = (
        pd.read_parquet(search_dir / "seeds.parquet")
        if (search_dir / "seeds.parquet").is_file()
        else pd.DataFrame()
    )
    return meta, study, cands, seeds


def write_search_report(search_dir: str | Path) -> Path:
    """``search-report.html``: history, importances, Pareto front, per-seed scores, the table.

    Self-contained: plotly.js is embedded once; figures that cannot be computed (importances with
    fewer than two complete candidates) are replaced by a note.
    """
    import html

    import optuna
    import plotly.graph_objects as go
    import plotly.offline

    from analysis.files import atomic_write_text

    search_dir = Path(search_dir)
    meta, study, cands, seeds = load_search(search_dir)
    settings = SearchSettings.from_dict(meta["settings"])
    names = [
        {
            "miou": "mean eval MIoU(all)",
            "lcb": f"{settings.lcb_level:.0%} LCB of eval MIoU(all)",
            "params": "parameters",
            "step_time": "train step (ms)",
        }[o]
        for o in settings.objectives
    ]
    sections: list[tuple[str, str]] = []

    def add(title: str, make: Callable[[], Any]) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig = make()
            fig.update_layout(height=420, margin=dict(l=60, r=20, t=40, b=50))
            sections.append((title, fig.to_html(full_html=False, include_plotlyjs=False)))
        except Exception as exc:  # too few trials, constant objective, ...
            sections.append((title, f"<p class='note'>not available: {html.escape(str(exc))}</p>"))

    vis = optuna.visualization
    if settings.multi:
        add("Pareto front", lambda: vis.plot_pareto_front(study, target_names=names))
        for i, n in enumerate(names):
            add(
                f"Optimization history: {n}",
                lambda i=i, n=n: vis.plot_optimization_history(
                    study, target=lambda t: t.values[i], target_name=n
                ),
            )
        add(
            f"Parameter importances for {names[0]}",
            lambda: vis.plot_param_importances(
                study, target=lambda t: t.values[0], target_name=names[0]
            ),
        )
    else:
        add(
            "Optimization history",
            lambda: vis.plot_optimization_history(study, target_name=names[0]),
        )
        add(
            "Parameter importances", lambda: vis.plot_param_importances(study, target_name=names[0])
        )
    add("Per-seed scores", lambda: _seed_figure(go, cands, seeds))

    table = _candidate_table_html(cands, settings)
    body = "\n".join(f"<h2>{html.escape(t)}</h2>\n{h}" for t, h in sections)
    text = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>search {html.escape(meta["study_name"])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}} td.l{{text-align:left}} .note{{color:#777}}</style>
<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head><body>
<h1>Search {html.escape(meta["study_name"])}</h1>
<p>Space <b>{html.escape(settings.space)}</b> (base {html.escape(meta["base"])}), {meta["profile"]} profile, objective(s) {html.escape(", ".join(names))};
{settings.seeds_per_candidate} paired seed(s) per candidate (at most {settings.seed_cap});
racing: {"one-sided paired t test vs the incumbent, stop at p &lt; " + str(settings.race_alpha) if settings.racing else "off"}.
{len(cands)} candidate(s), {int((seeds["status"].isin(SCORED_STATUSES)).sum()) if not seeds.empty else 0} trained seed(s).</p>
{body}
<h2>Candidates</h2>
{table}
</body></html>
"""
    path = atomic_write_text(search_dir / "search-report.html", text)
    path.chmod(0o644)  # a report is for reading (the temporary file was private)
    return path


def _seed_figure(go: Any, cands: pd.DataFrame, seeds: pd.DataFrame) -> Any:
    fig = go.Figure()
    if seeds.empty or cands.empty:
        raise ValueError("no trained seeds yet")
    scored = seeds[seeds["status"].isin(SCORED_STATUSES)]
    colors = {"complete": "#1f77b4", "pruned": "#aaaaaa", "failed": "#d62728", "running": "#ff7f0e"}
    states = dict(zip(cands["number"], cands["state"]))
    for state, color in colors.items():
        part = scored[scored["number"].map(states) == state]
        if part.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=part["number"],
                y=part[SCORE],
                mode="markers",
                name=f"{state} (one dot per seed)",
                marker=dict(color=color, size=7, opacity=0.7),
                text=[f"seed {s}" for s in part["seed"]],
            )
        )
    means = cands[np.isfinite(cands["mean"].astype(float))]
    fig.add_trace(
        go.Scatter(
            x=means["number"],
            y=means["mean"],
            mode="markers",
            name="mean",
            marker=dict(symbol="line-ew-open", size=18, color="black"),
        )
    )
    fig.update_layout(xaxis_title="candidate", yaxis_title="eval MIoU(all) of the best checkpoint")
    return fig


def _candidate_table_html(cands: pd.DataFrame, settings: SearchSettings) -> str:
    import html

    if cands.empty:
        return "<p class='note'>no candidates yet</p>"
    cols = [
        "number",
        "state",
        "objective",
        "mean",
        "sd",
        "n_seeds",
        "seeds",
        "arch_params",
        "step_ms",
        "options",
        "train",
        "reason",
    ]
    order = cands.sort_values(
        ["state", "objective"],
        ascending=[True, False],
        key=lambda s: (
            s.map({"complete": 0, "running": 1, "pruned": 2, "failed": 3})
            if s.name == "state"
            else s
        ),
    )
    out = ["<table><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"]
    for _, r in order.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float):
                text = (
                    ""
                    if not np.isfinite(v)
                    else (f"{v:.4f}" if c in ("objective", "mean", "sd") else f"{v:.1f}")
                )
            elif c == "arch_params" and v is not None and not pd.isna(v):
                text = f"{int(v):,}"
            else:
                text = "" if v is None else str(v)
            klass = " class='l'" if c in ("state", "options", "train", "reason", "seeds") else ""
            cells.append(f"<td{klass}>{html.escape(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out + ["</table>"])
