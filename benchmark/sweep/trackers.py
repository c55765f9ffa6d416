"""Experiment trackers (``--tracker mlflow|wandb|tensorboard``) and the sweep's progress bar.

``run`` (a Ray Tune sweep) gets Ray Tune's own logger callbacks, one MLflow / W&B run or one
TensorBoard folder per instance (trial), with every reported evaluation point:

- ``tensorboard``: ``ray.tune.logger.TBXLoggerCallback``; event files in each trial's folder,
  ``RUN/tune*/<arch>-seed<N>-<id>/events.out.tfevents.*`` (``tensorboard --logdir RUN``). Tune adds
  this logger by itself whenever tensorboardX is installed (``ray[tune]`` installs it); the flag
  makes it explicit and fails when tensorboardX is missing.
- ``mlflow``: ``ray.air.integrations.mlflow.MLflowLoggerCallback``; tracking URI from
  ``$MLFLOW_TRACKING_URI``, else a SQLite store ``RUN/mlflow.db``; experiment = the suite's name; each
  MLflow run is tagged with the sweep's run name.
- ``wandb``: ``ray.air.integrations.wandb.WandbLoggerCallback``; project ``$WANDB_PROJECT`` (default
  ``densecell-bench``), group ``SUITE/RUN``, local files under ``RUN/wandb``; ``WANDB_MODE=offline``
  works without an account.

``search`` does not run Tune trials (its seeds are Ray tasks that Optuna's ask/tell drives), so
Tune's callbacks cannot see it. :class:`SearchTrackers` logs what the search decides instead,
through each tracker's own client API: one row per finished seed (candidate, seed, eval
MIoU(all), status) and one record per decided candidate (state, parameters, objective). The
Optuna study itself is in ``study.journal``, which optuna-dashboard opens.

Each tracker's package is imported only when asked for; a missing one raises ``ImportError``
naming the package to install.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "TRACKERS",
    "SearchTrackers",
    "add_tracker_argument",
    "SweepProgress",  # noqa: F822 (built on first access, see __getattr__)
    "check_trackers",
    "search_trackers",
    "sweep_callbacks",
]

# Tracker name -> the import it needs (and the pip name in the error message).
TRACKERS: dict[str, tuple[str, str]] = {
    "mlflow": ("mlflow", "mlflow"),
    "tensorboard": ("tensorboardX", "tensorboardX"),
    "wandb": ("wandb", "wandb"),
}


def check_trackers(names: Iterable[str] | None) -> list[str]:
    """The tracker names, deduplicated in order; raises before anything starts.

    Raises:
        ValueError: an unknown name.
        ImportError: a tracker's package is not installed (the message names it).
    """
    out: list[str] = []
    for name in names or ():
        key = name.strip().lower()
        if key not in TRACKERS:
            raise ValueError(f"unknown tracker {name!r}; choose from {', '.join(sorted(TRACKERS))}")
        module, package = TRACKERS[key]
        if importlib.util.find_spec(module) is None:
            raise ImportError(
                f"--tracker {key} needs the {package} package, which is not installed: "
                f"pip install {package}"
            )
        if key not in out:
            out.append(key)
    return out


def sweep_callbacks(
    trackers: Sequence[str], run_dir: str | Path, experiment: str, progress: bool | None = None
) -> list[Any]:
    """Ray Tune callbacks for ``trackers`` (see the module docstring) and, when progress bars are
    on, a :class:`SweepProgress` bar."""
    run_dir = Path(run_dir)
    callbacks: list[Any] = []
    for name in check_trackers(trackers):
        if name == "tensorboard":
            from ray.tune.logger import TBXLoggerCallback

            callbacks.append(TBXLoggerCallback())
        elif name == "mlflow":
            from ray.air.integrations.mlflow import MLflowLoggerCallback

            callbacks.append(
                MLflowLoggerCallback(
                    tracking_uri=_mlflow_uri(run_dir),
                    experiment_name=experiment,
                    tags={"densecell_run": run_dir.name},
                    save_artifact=False,
                )
            )
        elif name == "wandb":
            from ray.air.integrations.wandb import WandbLoggerCallback

            (run_dir / "wandb").mkdir(parents=True, exist_ok=True)
            callbacks.append(
                WandbLoggerCallback(
                    project=os.environ.get("WANDB_PROJECT", "densecell-bench"),
                    group=f"{experiment}/{run_dir.name}",
                    dir=str(run_dir),
                )
            )
    from benchmark.progress import progress_enabled

    if progress if progress is not None else progress_enabled():
        callbacks.append(__getattr__("SweepProgress")())
    return callbacks


def _mlflow_uri(folder: Path) -> str:
    """``$MLFLOW_TRACKING_URI``, else a SQLite store ``folder/mlflow.db`` (MLflow 3 refuses new
    file stores such as ``./mlruns``)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(folder / 'mlflow.db').resolve()}"


class _ProgressBase:
    """The bar of :class:`SweepProgress`; Tune's ``Callback`` base is added on first use so that
    importing this module (the CLI does, to build its options) does not import Ray."""

    def __init__(self, unit: str = "instance") -> None:
        self.unit = unit
        self.bar: Any = None

    def setup(self, **info: Any) -> None:
        self.close()

    def _update(self, trials: list) -> None:
        from benchmark.progress import progress_bar

        done = sum(t.status in ("TERMINATED", "ERROR") for t in trials)
        if self.bar is None:
            self.bar = progress_bar(len(trials), "instances", self.unit, initial=done)
        if self.bar.total != len(trials):
            self.bar.total = len(trials)
            self.bar.refresh()
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._update(trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._update(trials)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._update(trials)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._update(trials)
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __getstate__(self) -> dict:  # Tune pickles the run config: never a live bar
        return {"unit": self.unit, "bar": None}


def __getattr__(name: str) -> Any:
    # ``SweepProgress``: a Tune callback class, built (importing Ray) when first asked for.
    if name == "SweepProgress":
        from benchmark.sweep.ray_session import quiet_ray_env

        quiet_ray_env()
        from ray import tune

        cls = type(
            "SweepProgress",
            (_ProgressBase, tune.Callback),
            {
                "__module__": __name__,
                "__doc__": "A progress bar over the instances of a Tune experiment: finished "
                "(or failed) trials out of all, with rate and ETA. Trials that finished before "
                "a resume count as done from the start.",
            },
        )
        globals()["SweepProgress"] = cls
        return cls
    raise AttributeError(name)


def add_tracker_argument(parser: argparse.ArgumentParser) -> None:
    """``--tracker NAME`` (repeatable) of ``run`` and ``search``."""
    parser.add_argument(
        "--tracker",
        action="append",
        choices=sorted(TRACKERS),
        default=[],
        help="also log to an experiment tracker (its package must be installed); repeatable",
    )


# ------------------------------------------------------------------------------------- search
class SearchTrackers:
    """The trackers of a search: receives the driver's events (the records of ``events.jsonl``)
    and forwards finished seeds and decided candidates to each tracker's client API."""

    def __init__(self, sinks: Sequence[Any]) -> None:
        self.sinks = list(sinks)

    def __bool__(self) -> bool:
        return bool(self.sinks)

    def event(self, kind: str, record: dict[str, Any], candidate: Any = None) -> None:
        """One driver event; ``candidate`` is the driver's Candidate (parameters, scores)."""
        if kind == "end" and record.get("number") is not None:
            row = {
                "candidate": int(record["number"]),
                "seed": int(record["seed"]),
                "status": record.get("status"),
                "eval_miou_all": _float(record.get("score")),
            }
            for sink in self.sinks:
                sink.seed(row)
        elif kind in ("complete", "prune", "fail") and candidate is not None:
            summary = {
                "candidate": int(candidate.number),
                "state": {"prune": "pruned", "fail": "failed"}.get(kind, "complete"),
                "params": dict(candidate.params),
                "scores": dict(candidate.scores()),
                "values": list(record.get("values") or []),
            }
            for sink in self.sinks:
                sink.candidate(summary)

    def wrap(self, event: Callable[..., None], candidates: dict[int, Any]) -> Callable[..., None]:
        """``event`` (the driver's own) followed by this tracker's."""

        def both(kind: str, **extra: Any) -> None:
            event(kind, **extra)
            try:
                self.event(kind, extra, candidates.get(extra.get("number")))
            except Exception as exc:  # a tracker must never stop a search
                import warnings

                warnings.warn(f"tracker failed on {kind!r}: {exc}", stacklevel=2)

        return both

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def search_trackers(
    trackers: Sequence[str],
    search_dir: str | Path,
    name: str,
    config: dict[str, Any],
    *,
    candidates: int = 0,
    decided: int = 0,
    progress: bool | None = None,
) -> SearchTrackers:
    """The :class:`SearchTrackers` of ``trackers`` for the search in ``search_dir``, with a
    progress bar over decided candidates (``decided`` of ``candidates`` already) when progress
    bars are on."""
    from benchmark.progress import progress_enabled

    search_dir = Path(search_dir)
    sinks: list[Any] = []
    for tracker in check_trackers(trackers):
        sinks.append(_SEARCH_SINKS[tracker](search_dir, name, config))
    if candidates and (progress if progress is not None else progress_enabled()):
        sinks.append(_ProgressSink(candidates, decided))
    return SearchTrackers(sinks)


class _ProgressSink:
    """A progress bar over the search's candidates (complete, pruned or failed)."""

    def __init__(self, total: int, decided: int) -> None:
        from benchmark.progress import progress_bar

        self.bar = progress_bar(total, "candidates", "candidate", initial=decided, enabled=True)
        self.seeds = 0

    def seed(self, row: dict[str, Any]) -> None:
        self.seeds += 1
        self.bar.set_postfix_str(f"{self.seeds} seed(s) trained")

    def candidate(self, summary: dict[str, Any]) -> None:
        self.bar.update()

    def close(self) -> None:
        self.bar.close()


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None  # NaN -> None


def _scalar_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as trackers take them: numbers, strings and booleans; anything else as text."""
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in params.items()}


class _TensorBoardSearch:
    """``SEARCH/tensorboard``: ``seed/eval_miou_all`` over finished seeds, per candidate
    ``candidate/<n>/eval_miou_all`` over its seeds, ``candidate/objective`` over candidate
    numbers, and one HParams row per completed candidate."""

    def __init__(self, search_dir: Path, name: str, config: dict[str, Any]) -> None:
        from tensorboardX import SummaryWriter

        self.logdir = search_dir / "tensorboard"
        self.writer = SummaryWriter(logdir=str(self.logdir))
        self.writer.add_text("search", f"search {name}: {config}", 0)
        self.seeds = 0

    def seed(self, row: dict[str, Any]) -> None:
        self.seeds += 1
        value = row["eval_miou_all"]
        if value is not None:
            self.writer.add_scalar("seed/eval_miou_all", value, self.seeds)
            self.writer.add_scalar(
                f"candidate/{row['candidate']}/eval_miou_all", value, row["seed"]
            )
        self.writer.flush()

    def candidate(self, summary: dict[str, Any]) -> None:
        values = summary["values"]
        if summary["state"] == "complete" and values:
            self.writer.add_scalar("candidate/objective", values[0], summary["candidate"])
            self.writer.add_hparams(
                _scalar_params(summary["params"]),
                {"hparam/objective": values[0]},
                name=f"candidate-{summary['candidate']}",
                global_step=summary["candidate"],
            )
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _MLflowSearch:
    """One MLflow run per decided candidate in experiment ``search-<name>``: its parameters, its
    per-seed eval MIoU(all) (step = seed), its objective and state. Tracking URI from
    ``$MLFLOW_TRACKING_URI``, else ``SEARCH/mlflow.db``."""

    def __init__(self, search_dir: Path, name: str, config: dict[str, Any]) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=_mlflow_uri(search_dir))
        experiment = f"search-{name}"
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = (
            found.experiment_id if found is not None else self.client.create_experiment(experiment)
        )
        self._mlflow = mlflow
        self.search = name

    def seed(self, row: dict[str, Any]) -> None:
        pass  # logged with the candidate: one MLflow run per candidate

    def candidate(self, summary: dict[str, Any]) -> None:
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"candidate-{summary['candidate']}",
            tags={"densecell_search": self.search, "state": summary["state"]},
        )
        run_id = run.info.run_id
        for key, value in _scalar_params(summary["params"]).items():
            self.client.log_param(run_id, key, value)
        for seed, score in sorted(summary["scores"].items()):
            self.client.log_metric(run_id, "eval_miou_all", float(score), step=int(seed))
        if summary["values"]:
            self.client.log_metric(run_id, "objective", float(summary["values"][0]))
        self.client.set_terminated(
            run_id, "FINISHED" if summary["state"] == "complete" else "KILLED"
        )

    def close(self) -> None:
        pass


class _WandbSearch:
    """One W&B run for the search (project ``$WANDB_PROJECT``, default ``densecell-bench``):
    a row per finished seed and per decided candidate, the candidates as a table at the end;
    local files under ``SEARCH/wandb``."""

    def __init__(self, search_dir: Path, name: str, config: dict[str, Any]) -> None:
        import wandb

        self.wandb = wandb
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "densecell-bench"),
            name=f"search-{name}",
            dir=str(search_dir),
            config=config,
            reinit=True,
        )
        self.rows: list[list[Any]] = []

    def seed(self, row: dict[str, Any]) -> None:
        self.run.log(
            {
                "seed/candidate": row["candidate"],
                "seed/seed": row["seed"],
                "seed/eval_miou_all": row["eval_miou_all"],
            }
        )

    def candidate(self, summary: dict[str, Any]) -> None:
        objective = summary["values"][0] if summary["values"] else None
        self.run.log({"candidate/number": summary["candidate"], "candidate/objective": objective})
        self.rows.append(
            [summary["candidate"], summary["state"], objective, str(summary["params"])]
        )

    def close(self) -> None:
        if self.rows:
            table = self.wandb.Table(
                columns=["candidate", "state", "objective", "params"], data=self.rows
            )
            self.run.log({"candidates": table})
        self.run.finish()


_SEARCH_SINKS: dict[str, Callable[[Path, str, dict[str, Any]], Any]] = {
    "tensorboard": _TensorBoardSearch,
    "mlflow": _MLflowSearch,
    "wandb": _WandbSearch,
}
