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
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.data.spec import DataSpec
from benchmark.records import environment_record, final_keys, resolve_run_dir, write_json
from benchmark.sweep.ray_session import connect_ray, quiet_ray_env
from benchmark.sweep.resources import default_gpus_per_trial, estimate_instance_memory_gib
from benchmark.sweep.suites import Suite
from benchmark.training.planner import TrainingPlan, plan_data, plan_training
from benchmark.training.results import EarlyStopRule

__all__ = ["SweepResult", "run_sweep", "summarize_instances"]


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


def plan_instances(
    suite: Suite,
    seeds: Sequence[int],
    profile: str,
    overrides: dict[str, Any],
    gpus: float,
) -> tuple[list[dict[str, Any]], dict[str, TrainingPlan]]:
    """The parameter space entries (one per architecture x seed) and each architecture's plan."""
    from benchmark.sweep.trial import instance_config

    plans: dict[str, TrainingPlan] = {}
    entries = []
    for arch in suite.architectures:
        plan = plan_training(
            arch,
            profile,
            gpus=gpus,
            where="the Ray cluster",
            suite_train=suite.train_overrides.get(arch, {}),
            train_overrides=overrides,
            arch_options=suite.arch_overrides.get(arch, {}),
        )
        plans[arch] = plan
        for seed in seeds:
            entries.append(instance_config(arch, seed, plan.config.to_dict(), plan.arch_options))
    return entries, plans


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
    trackers: Sequence[str] = (),
    progress: bool | None = None,
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
        trackers: experiment trackers (``mlflow``, ``wandb``, ``tensorboard``; see
            ``benchmark.sweep.trackers``) added to the Tuner's callbacks.
        progress: a progress bar over instances (default: when stderr is a terminal).
    """
    quiet_ray_env()
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
            data = DataSpec.from_dict(previous["data"])
            train_overrides = previous.get("train_overrides", {})
            print_fn(f"resuming {run_dir}")
        train_overrides = dict(train_overrides or {})
        entries, plans = plan_instances(suite, seeds, profile, train_overrides, cluster_gpus)
        configs = {a: p.config for a, p in plans.items()}
        profile = next(iter(configs.values())).profile
        data = plan_data(data, plans.values())
        if previous is None:
            print_fn(f"{next(iter(plans.values())).reason}; data: {data.describe()}")
        expected = [(e["arch"], e["seed"]) for e in entries]

        # Resources: fractional GPUs pack several instances on one device.
        resources: dict[str, float] = {"cpu": cpus_per_trial}
        if cluster_gpus > 0:
            if gpus_per_trial is None:
                gpus_per_trial = _auto_gpus_per_trial(plans, data)
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

        from benchmark.sweep.callbacks import InstanceStopper, LiveView, ResultsWriter
        from benchmark.sweep.trackers import sweep_callbacks
        from benchmark.sweep.trial import train_trial

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
            done_rows = final_keys(run_dir)
            if holds <= done_rows:
                continue
            print_fn(
                f"restoring {experiment['name']}: {len(holds - done_rows)} unfinished instance(s)"
            )
            view = LiveView(len(expected), len(done_rows & set(expected)), print_fn)
            tuner = tune.Tuner.restore(path, trainable=trainable, resume_errored=True)
            # Callbacks and the stopper come back from the pickled run config; the live view is
            # the one thing that must be new (its counters).
            _set_callbacks(
                tuner,
                [
                    ResultsWriter(str(run_dir), class_names),
                    view,
                    *sweep_callbacks(trackers, run_dir, suite.name, progress),
                ],
                stopper,
            )
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
            already = len(final_keys(run_dir) & set(expected))
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
                        *sweep_callbacks(trackers, run_dir, suite.name, progress),
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
    done = final_keys(run_dir)
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


def _class_names(data: DataSpec) -> tuple[str, ...]:
    from benchmark.data.spec import load_data

    return tuple(load_data(data).class_names)


def _auto_gpus_per_trial(plans: dict[str, TrainingPlan], data: DataSpec) -> float:
    import torch

    from benchmark.data.spec import load_data

    voxels = int(load_data(data).train.image.size)
    need = max(
        estimate_instance_memory_gib(a, p.window, p.config.width, p.arch_options, voxels)
        for a, p in plans.items()
    )
    gpu_gib = (
        torch.cuda.get_device_properties(0).total_memory / 2**30
        if torch.cuda.is_available()
        else 16.0
    )
    return default_gpus_per_trial(need, gpu_gib)
