"""The Tune callbacks of a sweep: the results writer (instances, curves, events), the live status
line, and the paper's early stop as a Tune stopper."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.records import FINAL_STATUSES, final_keys, write_table
from benchmark.records.rows import curve_row, instance_row
from benchmark.sweep.ray_session import quiet_ray_env
from benchmark.training.results import EarlyStopRule

quiet_ray_env()
from ray import tune  # noqa: E402

__all__ = ["InstanceStopper", "LiveView", "ResultsWriter"]


class ResultsWriter(tune.Callback):
    """Keeps instances.parquet, curves.parquet and events.jsonl current as trials report.

    The tables are rewritten at every result, not throttled: Ray snapshots its experiment
    state after the callbacks run, so a driver killed at any moment leaves tables that are
    ahead of (never behind) what a resumed sweep replays, and no evaluation point is lost.
    Replayed points overwrite their (architecture, seed, step) row.
    """

    def __init__(self, run_dir: str, class_names: Sequence[str]) -> None:
        self.run_dir = run_dir
        self.class_names = list(class_names)
        self._rows: dict[tuple[str, int], dict[str, Any]] = {}
        self._curves: dict[tuple[str, int, int], dict[str, Any]] = {}
        self._work_dirs: dict[tuple[str, int], set[str]] = {}
        self._final_earlier: set[tuple[str, int]] = set()

    def setup(self, **info: Any) -> None:
        # Called at every (re)start: take over what earlier invocations wrote. Ray may
        # restart a trial that finished just before the driver died (its experiment state
        # lagged); the trainable then returns at once, and its row is left as it was.
        run = Path(self.run_dir)
        if (run / "instances.parquet").is_file():
            for row in pd.read_parquet(run / "instances.parquet").to_dict("records"):
                key = (row["architecture"], int(row["seed"]))
                self._rows[key] = row
                if not isinstance(row.get("work_dir"), str):  # None or NaN from parquet
                    row["work_dir"] = None
                if row["status"] in FINAL_STATUSES:
                    self._final_earlier.add(key)
                    if row["work_dir"]:
                        # Final, but the driver died before the trial's completion was handled:
                        # its live folder is left over (Ray persisted the checkpoints).
                        _remove_work_dir(row["work_dir"])
                        row["work_dir"] = None
                elif row["work_dir"]:  # an attempt killed with the driver
                    self._work_dirs.setdefault(key, set()).add(row["work_dir"])
        if (run / "curves.parquet").is_file():
            for row in pd.read_parquet(run / "curves.parquet").to_dict("records"):
                self._curves[(row["architecture"], int(row["seed"]), int(row["step"]))] = row

    def _event(self, kind: str, trial: Any, **extra: Any) -> None:
        inst = trial.config["instance"]
        record = dict(
            time=dt.datetime.now().isoformat(timespec="seconds"),
            event=kind,
            architecture=inst["arch"],
            seed=inst["seed"],
            trial_id=trial.trial_id,
            **extra,
        )
        with open(Path(self.run_dir) / "events.jsonl", "a") as f:
            f.write(json.dumps(record, default=str) + "\n")

    def _key(self, trial: Any) -> tuple[str, int]:
        inst = trial.config["instance"]
        return inst["arch"], int(inst["seed"])

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self._key(trial) in self._final_earlier:
            self._event("skip", trial, reason="finished before the restart")
        else:
            self._event("start" if not trial.has_reported_at_least_once else "restart", trial)

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        key = self._key(trial)
        if key in self._final_earlier:
            return
        if result.get("work_dir"):
            self._work_dirs.setdefault(key, set()).add(result["work_dir"])
        self._curves[(key[0], key[1], int(result["step"]))] = curve_row(*key, result)
        status = result.get("status", "finished") if result.get("done") else "running"
        self._rows[key] = self._row(trial, result, status)
        self.flush()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = self._key(trial)
        if key in self._final_earlier:
            return
        result = trial.last_result or {}
        if key in self._rows and self._rows[key]["status"] == "running":
            # Stopped by the Tune stopper without the trainable's final report.
            self._rows[key]["status"] = "early_stopped"
        if key in self._rows:
            self._rows[key].update(self._checkpoint_paths(trial))
        # Live checkpoint folders (trial.py) of attempts killed with an earlier driver; the
        # trial's own attempt removes its folder itself. Ray has persisted their files as
        # checkpoints. On another node the path does not exist here: nothing happens.
        for folder in self._work_dirs.pop(key, ()):
            _remove_work_dir(folder)
        if key in self._rows:
            self._rows[key]["work_dir"] = None
        self._event(
            "complete",
            trial,
            status=self._rows.get(key, {}).get("status"),
            step=result.get("step"),
        )
        self.flush()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = self._key(trial)
        if key in self._final_earlier:
            return
        error = _trial_error(trial)
        row = self._rows.get(key) or self._row(trial, trial.last_result or {}, "failed")
        row.update(status="failed", error=error)
        self._rows[key] = row
        self._event("error", trial, error=error)
        self.flush()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.flush()

    def _checkpoint_paths(self, trial: Any) -> dict[str, Any]:
        ckpt = trial.checkpoint
        if ckpt is None:
            return {}
        path = Path(ckpt.path)
        return {
            "checkpoint_best": str(path / "best.pt") if (path / "best.pt").exists() else None,
            "checkpoint_final": str(path / "last.pt") if (path / "last.pt").exists() else None,
        }

    def _row(self, trial: Any, result: dict, status: str) -> dict[str, Any]:
        inst = trial.config["instance"]
        return instance_row(
            inst["arch"],
            inst["seed"],
            result,
            status=status,
            trial_id=trial.trial_id,
            node_id=result.get("node_id"),
            work_dir=result.get("work_dir"),
            **self._checkpoint_paths(trial),
        )

    def flush(self) -> None:
        run = Path(self.run_dir)
        if self._rows:
            frame = pd.DataFrame(list(self._rows.values())).sort_values(
                ["architecture", "seed"], kind="stable"
            )
            write_table(frame, run / "instances.parquet")
        if self._curves:
            frame = pd.DataFrame(list(self._curves.values())).sort_values(
                ["architecture", "seed", "step"], kind="stable"
            )
            write_table(frame, run / "curves.parquet")


class LiveView(tune.Callback):
    """One status line per change, at most every few seconds: done / running / pending /
    failed and the best eval MIoU(all) per architecture so far.

    The counts come from the run folder when the experiment (re)starts (``run.json``'s latest
    invocation lists the instances it expects; ``instances.parquet`` which are final), so a view
    restored with its Tune experiment counts right without being rebuilt.
    """

    def __init__(
        self,
        run_dir: str,
        experiment: str,
        print_fn: Callable[[str], None] = print,
        min_interval_s: float = 5.0,
    ) -> None:
        self.run_dir = run_dir
        self.experiment = experiment
        self.print_fn = print_fn
        self.min_interval_s = min_interval_s
        self.total = 0
        self.already_done = 0
        self._last = 0.0
        self._best: dict[str, float] = {}
        self._started = time.monotonic()
        self._previous = ""

    def setup(self, **info: Any) -> None:
        self._started = time.monotonic()
        self._last = 0.0
        run = Path(self.run_dir)
        meta = json.loads((run / "run.json").read_text())
        expected = {(a, int(s)) for a, s in meta["invocations"][-1].get("expected", [])}
        self.total = len(expected)
        # Counted from the trials of this experiment as they end; the rest were final before.
        (held,) = [
            {(a, int(s)) for a, s in e["instances"]}
            for e in meta["experiments"]
            if e["name"] == self.experiment
        ]
        self.already_done = len((final_keys(run) & expected) - held)

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        arch = trial.config["instance"]["arch"]
        value = result.get("best_eval_miou_all")
        if value is not None and not math.isnan(value):
            self._best[arch] = max(self._best.get(arch, float("-inf")), value)
        self._show(trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._show(trials, force=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._show(trials, force=True)

    def _show(self, trials: list, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.min_interval_s:
            return
        self._last = now
        counts = {"TERMINATED": 0, "RUNNING": 0, "PENDING": 0, "ERROR": 0, "PAUSED": 0}
        for t in trials:
            counts[t.status] = counts.get(t.status, 0) + 1
        done = counts["TERMINATED"] + self.already_done
        best = ", ".join(f"{a} {v:.3f}" for a, v in sorted(self._best.items()))
        status = (
            f"{done}/{self.total} done, {counts['RUNNING']} running, "
            f"{counts['PENDING'] + counts['PAUSED']} pending, {counts['ERROR']} failed"
            + (f" | best eval MIoU(all): {best}" if best else "")
        )
        if status != self._previous:
            self._previous = status
            self.print_fn(f"[{_fmt_time(now - self._started)}] {status}")


class InstanceStopper(tune.Stopper):
    """The paper's early stop as a Tune stopper; also ends trials that report ``done``."""

    def __init__(self, rules: dict[str, EarlyStopRule]) -> None:
        self.rules = rules

    def __call__(self, trial_id: str, result: dict) -> bool:
        if result.get("done"):
            return True
        rule = self.rules.get(result.get("architecture"))
        return bool(
            rule
            and rule(
                result.get("epoch", 0.0),
                result.get("best_eval_miou_all", float("nan")),
                result.get("eval_miou_all"),
            )
        )

    def stop_all(self) -> bool:
        return False


def _remove_work_dir(folder: str) -> None:
    """Removes a trial's live checkpoint folder (``benchmark.sweep.trial``); on another node the
    path does not exist here and nothing happens."""
    if Path(folder).name.startswith("dcb-"):
        shutil.rmtree(folder, ignore_errors=True)


def _trial_error(trial: Any) -> str:
    try:
        error = trial.get_error()
        if error is not None:
            text = str(error).strip().splitlines()
            return text[-1][:500] if text else type(error).__name__
    except Exception:
        pass
    path = getattr(trial, "error_file", None)
    if path and Path(path).is_file():
        lines = Path(path).read_text().strip().splitlines()
        return lines[-1][:500] if lines else "error"
    return "error (no message recorded)"


def _fmt_time(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h:d}:{m:02d}:{s:02d}"
