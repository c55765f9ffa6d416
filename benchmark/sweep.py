"""Seed sweeps on Ray Tune: every (architecture, seed) of a suite is one trial.

``run_sweep`` starts (or joins, with ``address``) a Ray cluster, runs a ``Tuner`` over the suite's
instances and keeps ``results/<suite>/<run>/`` up to date while trials finish:

- ``run.json``: command, suite, profile, seeds, data, package versions, git revision, hardware,
  and one record per invocation (start, resume, end, interrupted or not);
- ``instances.parquet``: one row per instance (status, scores of the best checkpoint, test score,
  final score, step of best, parameters, wall time, checkpoint paths, error);
- ``curves.parquet``: every evaluation point of every instance;
- ``events.jsonl``: trial starts, restarts, completions and failures, in order;
- ``tune*/``: Ray's experiment folders (trial checkpoints hold ``best.pt`` and ``last.pt``).

Every table is written atomically (temporary file, then rename). Resuming (``resume=True`` or the
``name`` of an existing run) restores each Ray experiment with ``Tuner.restore``: finished trials
are left alone, interrupted ones continue from their last checkpoint, pending ones start; instances
asked for that no experiment holds yet (more seeds) run in a new experiment.

Early stopping is a Tune ``Stopper`` applying the same rule as ``train_instance`` (best eval MIoU
below the threshold after N epochs); the trainable finishes the stopped instance's test score
before the report that triggers it, so stopped instances are complete rows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.files import atomic_write_parquet, atomic_write_text
from benchmark.config import TrainConfig, make_config
from benchmark.dataspec import DataSpec
from benchmark.suites import Suite
from benchmark.train import EarlyStopRule

__all__ = ["SweepResult", "run_sweep", "default_gpus_per_trial", "write_table", "RAY_QUIET_ENV"]

RAY_QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_DEDUP_LOGS": "0",
    # Trials run in the driver's folder, not a per-trial copy: relative paths mean what they say.
    "RAY_CHDIR_TO_TRIAL_DIR": "0",
    # Snapshot the experiment state every 2 s (Ray's automatic period is at least 10 s), so that a
    # killed driver loses at most 2 s of trial bookkeeping.
    "TUNE_GLOBAL_CHECKPOINT_S": "2",
}
FINAL_STATUSES = ("finished", "early_stopped", "failed")


def _quiet_ray_env() -> None:
    for key, value in RAY_QUIET_ENV.items():
        os.environ.setdefault(key, value)


def connect_ray(address: str | None = None) -> bool:
    """Connects to Ray: the cluster at ``address`` (or ``$RAY_ADDRESS``), else a quiet local one.

    Returns True when this call started a local Ray that the caller must shut down. A local Ray
    gets every CPU, no dashboard and a small object store (trials exchange only small results).
    """
    _quiet_ray_env()
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        # Workers of an existing cluster do not see this process's environment.
        env = {k: v for k, v in RAY_QUIET_ENV.items() if k == "RAY_CHDIR_TO_TRIAL_DIR"}
        ray.init(
            address=address,
            log_to_driver=False,
            logging_level="ERROR",
            runtime_env={"env_vars": env},
        )
        return False
    ray.init(
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
        object_store_memory=256 * 1024**2,
        _temp_dir="/tmp/dcb-ray",
    )
    return True


# --------------------------------------------------------------------------------- writing
def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Writes a parquet table atomically (temporary file in the same folder, then rename)."""
    atomic_write_parquet(frame, path)


def write_json(obj: Any, path: Path) -> None:
    """Writes ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, default=str))


def _git_revision() -> str | None:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def environment_record() -> dict[str, Any]:
    """Package versions, git revision and hardware of this machine (the driver)."""
    import importlib.metadata

    import torch

    versions = {}
    for pkg in (
        "densecell-bench",
        "torch",
        "ray",
        "optuna",
        "numpy",
        "scipy",
        "statsmodels",
        "pandas",
        "plotly",
    ):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    hardware = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    return {"versions": versions, "git_revision": _git_revision(), "hardware": hardware}


# ------------------------------------------------------------------------------ resources
def estimate_instance_memory_gib(
    arch: str, window: Sequence[int], width: float, options: dict[str, Any], data_voxels: int
) -> float:
    """Rough GPU memory of one training instance: bf16 activations kept for backward (every
    layer output, twice for safety), fp32 weights + grads + two Adam moments, and the data
    (image, labels, weights, their elastic copies)."""
    from architectures import summarize
    from architectures.summary import window_overrides

    s = summarize(arch, window, width=width, **dict(window_overrides(arch, window), **options))
    activations = sum(math.prod(r.output_shape) for r in s.layers) * 2 * 2
    weights = s.params * 4 * 4
    data = data_voxels * (4 + 1 + 4) * 2
    return (activations + weights + data) / 2**30 + 0.5  # + CUDA context and workspace


def default_gpus_per_trial(instance_gib: float, gpu_gib: float, max_per_gpu: int = 8) -> float:
    """Fraction of a GPU per trial that packs as many instances as memory allows (at most 8)."""
    fits = max(1, min(max_per_gpu, int((gpu_gib * 0.85) // max(instance_gib, 0.1))))
    return 1.0 / fits


# ------------------------------------------------------------------------------ callbacks
def _tune_callbacks():
    from ray import tune

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
                    if row["status"] in FINAL_STATUSES:
                        self._final_earlier.add(key)
                    elif row.get("work_dir"):  # an attempt killed with the driver
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
            curve = {"architecture": key[0], "seed": key[1]}
            for name in (
                "step",
                "epoch",
                "train_loss",
                "lr",
                "elapsed_s",
                "eval_miou_all",
                "eval_miou_org",
            ):
                curve[name] = result.get(name)
            curve.update({k: v for k, v in result.items() if k.startswith("eval_iou_")})
            self._curves[(key[0], key[1], int(result["step"]))] = curve
            self._rows[key] = self._row(
                trial, result, "finished" if result.get("done") else "running"
            )
            if result.get("done"):
                self._rows[key]["status"] = result.get("status", "finished")
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
                if Path(folder).name.startswith("dcb-"):
                    shutil.rmtree(folder, ignore_errors=True)
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
            row: dict[str, Any] = {
                "architecture": inst["arch"],
                "seed": int(inst["seed"]),
                "status": status,
                "error": None,
            }
            for key, value in result.items():
                if key.startswith("best_eval_"):
                    row[key[len("best_") :]] = value
                elif key.startswith("test_"):
                    row[key] = value
            row["final_eval_miou_all"] = result.get("eval_miou_all")
            row["final_eval_miou_org"] = result.get("eval_miou_org")
            row["best_step"] = result.get("best_step")
            row["steps"] = result.get("step")
            row["epochs"] = result.get("epoch")
            row["params"] = result.get("params")
            row["wall_time_s"] = result.get("elapsed_s")
            row["trial_id"] = trial.trial_id
            row["node_id"] = result.get("node_id")
            row["resumed_from_step"] = result.get("resumed_from", 0)
            row["work_dir"] = result.get("work_dir")
            row.update(self._checkpoint_paths(trial))
            return row

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
        failed and the best eval MIoU(all) per architecture so far."""

        def __init__(
            self,
            total: int,
            already_done: int,
            print_fn: Callable[[str], None],
            min_interval_s: float = 5.0,
        ) -> None:
            self.total = total
            self.already_done = already_done
            self.print_fn = print_fn
            self.min_interval_s = min_interval_s
            self._last = 0.0
            self._best: dict[str, float] = {}
            self._started = time.monotonic()
            self._previous = ""

        def setup(self, **info: Any) -> None:
            self._started = time.monotonic()
            self._last = 0.0

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
                and rule(result.get("epoch", 0.0), result.get("best_eval_miou_all", float("nan")))
            )

        def stop_all(self) -> bool:
            return False

    return ResultsWriter, LiveView, InstanceStopper


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


# ------------------------------------------------------------------------------- the sweep
@dataclass
class SweepResult:
    run_dir: Path
    instances: pd.DataFrame
    expected: list[tuple[str, int]]
    complete: bool
    wall_time_s: float
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)


def summarize_instances(instances: pd.DataFrame, metric: str = "eval_miou_all") -> pd.DataFrame:
    """n, mean, sd, max of ``metric`` per architecture over finished and early-stopped instances."""
    if instances.empty or metric not in instances:
        return pd.DataFrame(columns=["architecture", "n", "failed", "mean", "sd", "max"])
    ok = instances[instances["status"].isin(["finished", "early_stopped"])]
    rows = []
    for arch, group in instances.groupby("architecture", sort=False):
        values = ok.loc[ok["architecture"] == arch, metric].dropna()
        rows.append(
            dict(
                architecture=arch,
                n=len(values),
                failed=int((group["status"] == "failed").sum()),
                mean=values.mean() if len(values) else float("nan"),
                sd=values.std(ddof=1) if len(values) > 1 else float("nan"),
                max=values.max() if len(values) else float("nan"),
            )
        )
    return pd.DataFrame(rows)


def resolve_run_dir(
    results_root: Path, suite: str, name: str | None, resume: bool
) -> tuple[Path, bool]:
    """The run folder and whether it continues an existing run."""
    suite_dir = results_root / suite
    if name:
        run_dir = suite_dir / name
        return run_dir, (run_dir / "run.json").is_file()
    if resume:
        runs = sorted(
            (p for p in suite_dir.glob("*") if (p / "run.json").is_file()),
            key=lambda p: p.stat().st_mtime,
        )
        if not runs:
            raise FileNotFoundError(
                f"--resume: no earlier run of suite {suite!r} under {suite_dir}"
            )
        return runs[-1], True
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return suite_dir / stamp, False


def plan_instances(
    suite: Suite, seeds: Sequence[int], profile: str, overrides: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, TrainConfig]]:
    """The parameter space entries (one per architecture x seed) and each architecture's config."""
    from architectures import get_entry
    from benchmark.trial import instance_config

    configs: dict[str, TrainConfig] = {}
    entries = []
    for arch in suite.architectures:
        entry = get_entry(arch)
        config, _ = make_config(profile, suite.train_options(arch), **overrides)
        if config.profile == "quick":
            quick = {
                k: v
                for k, v in entry.quick.items()
                if k in ("window", "width")
                and k not in overrides
                and k not in suite.train_overrides.get(arch, {})
            }
            config = config.replace(**quick)
        configs[arch] = config
        for seed in seeds:
            entries.append(
                instance_config(arch, seed, config.to_dict(), suite.arch_overrides.get(arch, {}))
            )
    return entries, configs


def run_sweep(
    suite: Suite,
    seeds: Sequence[int],
    *,
    profile: str = "auto",
    data: DataSpec | None = None,
    results_root: str | Path = "results",
    name: str | None = None,
    resume: bool = False,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float | None = None,
    max_concurrent: int | None = None,
    max_failures: int = 2,
    train_overrides: dict[str, Any] | None = None,
    plugins: Sequence[str] = (),
    command: str | None = None,
    print_fn: Callable[[str], None] = print,
) -> SweepResult:
    """Trains every (architecture, seed) of ``suite`` as Ray Tune trials; see the module docstring.

    Args:
        suite: architectures and overrides.
        seeds: instance seeds; seed i is paired across architectures.
        profile: ``paper``, ``quick`` or ``auto`` (paper when the cluster has a GPU).
        data: where the data come from (default: the built-in phantom for the profile).
        results_root: parent of ``<suite>/<run>``.
        name: run name (default a timestamp); an existing run's name resumes it.
        resume: continue the latest run of the suite (or ``name``).
        address: an existing Ray cluster (``auto`` or ``host:port``); default a local Ray.
        cpus_per_trial, gpus_per_trial: resources per trial; GPUs default to as many instances
            per GPU as memory allows when the cluster has GPUs.
        max_concurrent: at most this many trials at once.
        max_failures: retries of a failing trial (from its last checkpoint) before it is
            recorded as failed.
        train_overrides: TrainConfig fields applied to every architecture.
        plugins: modules registering architectures, imported by the driver and every worker.
    """
    _quiet_ray_env()
    import ray
    from ray import tune

    from architectures import load_plugin

    started = time.monotonic()
    for plugin in (*suite.plugins, *plugins):
        load_plugin(plugin)
    results_root = Path(results_root).resolve()
    run_dir, continuing = resolve_run_dir(results_root, suite.name, name, resume)
    run_dir.mkdir(parents=True, exist_ok=True)
    previous = json.loads((run_dir / "run.json").read_text()) if continuing else None

    # Ray first: whether the cluster has GPUs decides the auto profile and the resources.
    own_cluster = connect_ray(address)
    try:
        cluster = ray.cluster_resources()
        cluster_gpus = float(cluster.get("GPU", 0))
        if previous is not None:
            profile = previous["profile"]
            data = DataSpec(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in previous["data"].items()}
            )
            train_overrides = previous.get("train_overrides", {})
            print_fn(f"resuming {run_dir}")
        else:
            from benchmark.config import resolve_profile

            profile, reason = resolve_profile(profile, cuda_available=cluster_gpus > 0)
            reason = reason.replace(
                "a CUDA device is available", f"the Ray cluster has {cluster_gpus:g} GPU(s)"
            )
            reason = reason.replace("no CUDA device", "no GPU in the Ray cluster")
            data = data or DataSpec(kind="phantom", profile=profile)
            print_fn(f"{reason}; data: {data.describe()}")
        train_overrides = dict(train_overrides or {})
        entries, configs = plan_instances(suite, seeds, profile, train_overrides)
        data = _fit_phantom_to_windows(data.absolute(), configs)
        expected = [(e["arch"], e["seed"]) for e in entries]

        # Resources: fractional GPUs pack several instances on one device.
        resources: dict[str, float] = {"cpu": cpus_per_trial}
        if cluster_gpus > 0:
            if gpus_per_trial is None:
                gpus_per_trial = _auto_gpus_per_trial(configs, suite, data)
            resources["gpu"] = gpus_per_trial
        elif gpus_per_trial:
            raise ValueError(
                f"--gpus-per-trial {gpus_per_trial} asked for, but the Ray cluster has no GPU (trials would wait forever)"
            )

        record = dict(
            command=command or " ".join(shlex.quote(a) for a in sys.argv),
            started=dt.datetime.now().isoformat(timespec="seconds"),
            resources=resources,
            cluster={k: v for k, v in cluster.items() if k in ("CPU", "GPU", "memory")},
            address=address or "local",
        )
        if previous is None:
            meta = dict(
                suite=suite.name,
                suite_source=suite.source,
                suite_description=suite.description,
                architectures=list(suite.architectures),
                seeds=[int(s) for s in seeds],
                profile=profile,
                data=data.to_dict(),
                train_overrides=train_overrides,
                configs={a: c.to_dict() for a, c in configs.items()},
                plugins=[_absolute_if_file(p) for p in (*suite.plugins, *plugins)],
                experiments=[],
                invocations=[record],
                **environment_record(),
            )
        else:
            meta = previous
            meta["invocations"].append(record)
            meta["seeds"] = sorted(set(meta["seeds"]) | {int(s) for s in seeds})
            meta["architectures"] = list(
                dict.fromkeys([*meta["architectures"], *suite.architectures])
            )
            meta["configs"].update({a: c.to_dict() for a, c in configs.items()})
        write_json(meta, run_dir / "run.json")

        ResultsWriter, LiveView, InstanceStopper = _tune_callbacks()
        from benchmark.trial import train_trial

        class_names = _class_names(data)
        stopper = InstanceStopper({a: EarlyStopRule.from_config(c) for a, c in configs.items()})
        trainable = tune.with_resources(train_trial, resources)
        common = {"data": data.to_dict(), "plugins": list(meta["plugins"])}

        # 1) Restore every earlier experiment (finished trials stay, the rest continue).
        for experiment in meta["experiments"]:
            path = str(run_dir / experiment["name"])
            if not tune.Tuner.can_restore(path):
                continue
            holds = {(a, int(s)) for a, s in experiment["instances"]}
            done_rows = _final_keys(run_dir)
            if holds <= done_rows:
                continue
            print_fn(
                f"restoring {experiment['name']}: {len(holds - done_rows)} unfinished instance(s)"
            )
            view = LiveView(len(expected), len(done_rows & set(expected)), print_fn)
            tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
            # Callbacks and the stopper come back from the pickled run config; the live view is
            # the one thing that must be new (its counters).
            _set_callbacks(tuner, [ResultsWriter(str(run_dir), class_names), view], stopper)
            tuner.fit()

        # 2) A new experiment for instances no experiment holds yet.
        held = {(a, int(s)) for e in meta["experiments"] for a, s in e["instances"]}
        todo = [e for e in entries if (e["arch"], e["seed"]) not in held]
        if todo:
            exp_name = "tune" if not meta["experiments"] else f"tune-{len(meta['experiments']) + 1}"
            meta["experiments"].append(
                {"name": exp_name, "instances": [[e["arch"], e["seed"]] for e in todo]}
            )
            write_json(meta, run_dir / "run.json")
            print_fn(
                f"training {len(todo)} instance(s) of {len(suite.architectures)} architecture(s) x {len(seeds)} seed(s) "
                f"with {resources} per trial; results in {run_dir}"
            )
            already = len(_final_keys(run_dir) & set(expected))
            tuner = tune.Tuner(
                trainable,
                param_space={"instance": tune.grid_search(todo), **common},
                tune_config=tune.TuneConfig(
                    reuse_actors=True,
                    max_concurrent_trials=max_concurrent,
                    trial_dirname_creator=_trial_dirname,
                    trial_name_creator=_trial_dirname,
                ),
                run_config=tune.RunConfig(
                    name=exp_name,
                    storage_path=str(run_dir),
                    stop=stopper,
                    verbose=0,
                    failure_config=tune.FailureConfig(max_failures=max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                    callbacks=[
                        ResultsWriter(str(run_dir), class_names),
                        LiveView(len(expected), already, print_fn),
                    ],
                ),
            )
            tuner.fit()
    finally:
        if own_cluster:
            ray.shutdown()

    instances = (
        pd.read_parquet(run_dir / "instances.parquet")
        if (run_dir / "instances.parquet").is_file()
        else pd.DataFrame()
    )
    done = _final_keys(run_dir)
    complete = set(expected) <= done
    meta = json.loads((run_dir / "run.json").read_text())
    meta["invocations"][-1].update(
        ended=dt.datetime.now().isoformat(timespec="seconds"),
        complete=complete,
        wall_time_s=round(time.monotonic() - started, 1),
    )
    write_json(meta, run_dir / "run.json")
    subset = (
        instances[
            instances.apply(lambda r: (r["architecture"], int(r["seed"])) in set(expected), axis=1)
        ]
        if not instances.empty
        else instances
    )
    return SweepResult(
        run_dir, subset, expected, complete, time.monotonic() - started, summarize_instances(subset)
    )


def _absolute_if_file(plugin: str) -> str:
    """Plug-in files become absolute paths so that workers on any folder find them."""
    return (
        str(Path(plugin).resolve())
        if plugin.endswith((".py", ".toml")) and Path(plugin).exists()
        else plugin
    )


def _trial_dirname(trial: Any) -> str:
    inst = trial.config["instance"]
    return f"{inst['arch']}-seed{inst['seed']}-{trial.trial_id}"


def _set_callbacks(tuner: Any, callbacks: list, stopper: Any) -> None:
    """Replaces the restored run config's callbacks and stopper with this invocation's."""
    internal = getattr(tuner, "_local_tuner", None)
    run_config = getattr(internal, "_run_config", None) if internal is not None else None
    if run_config is None:
        return
    run_config.callbacks = callbacks
    run_config.stop = stopper


def _final_keys(run_dir: Path) -> set[tuple[str, int]]:
    path = run_dir / "instances.parquet"
    if not path.is_file():
        return set()
    frame = pd.read_parquet(path, columns=["architecture", "seed", "status"])
    frame = frame[frame["status"].isin(FINAL_STATUSES)]
    return {(a, int(s)) for a, s in zip(frame["architecture"], frame["seed"])}


def _class_names(data: DataSpec) -> tuple[str, ...]:
    from benchmark.dataspec import load_data

    return tuple(load_data(data).class_names)


def _fit_phantom_to_windows(data: DataSpec, configs: dict[str, TrainConfig]) -> DataSpec:
    """Grows the built-in phantom's x,y size when a suite's largest window needs it (the
    original U-Net's valid convolutions need windows of 188+ pixels)."""
    if data.kind != "phantom":
        return data
    need = (
        max(max(c.window[1], c.window[2]) for c in configs.values() if c.window)
        if any(c.window for c in configs.values())
        else 0
    )
    if need <= data.min_xy:
        return data
    from dataclasses import replace

    return replace(data, min_xy=int(need))


def _auto_gpus_per_trial(configs: dict[str, TrainConfig], suite: Suite, data: DataSpec) -> float:
    import torch

    from architectures import get_entry
    from benchmark.dataspec import load_data

    dataset = load_data(data)
    voxels = int(dataset.train.image.size)
    need = max(
        estimate_instance_memory_gib(
            a, c.window or get_entry(a).window, c.width, suite.arch_overrides.get(a, {}), voxels
        )
        for a, c in configs.items()
    )
    gpu_gib = (
        torch.cuda.get_device_properties(0).total_memory / 2**30
        if torch.cuda.is_available()
        else 16.0
    )
    return default_gpus_per_trial(need, gpu_gib)
