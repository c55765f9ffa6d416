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

import dataclasses
import datetime as dt
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.data.spec import DataSpec
from benchmark.records import (
    FINAL_STATUSES,
    SCORED_STATUSES,
    environment_record,
    final_keys,
    resolve_run_dir,
    write_json,
    write_table,
)
from benchmark.records.identity import IdentityMismatch, identity_differences, identity_hash
from benchmark.records.lock import folder_lock
from benchmark.sweep.ray_session import connect_ray
from benchmark.sweep.resources import gpus_per_trial_for
from benchmark.sweep.suites import Suite, plan_suite
from benchmark.sweep.trial import instance_entries
from benchmark.training.planner import plan_data
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
    sequential: Any = None,
    reference: str | None = None,
    trackers: Sequence[str] = (),
    command: str | None = None,
    print_fn: Callable[[str], None] = print,
) -> SweepResult:
    """Trains every (architecture, seed) of ``suite`` as Ray Tune trials; see the module docstring.

    Args:
        suite: architectures and overrides.
        seeds: instance seeds; seed i is paired across architectures. With ``sequential``, the
            seeds rounds draw from (in order).
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
        sequential: an ``analysis.sequential.SequentialDesign``: train seeds in rounds until
            every comparison with ``reference`` is decided (``--until-decided``).
        reference: the architecture the sequential design compares the others with.
        trackers: experiment trackers (``tensorboard``, ``mlflow``, ``wandb``) that receive every
            evaluation point (``benchmark.sweep.trackers``).

    Raises:
        IdentityMismatch: resuming a run with settings that differ from its stored configuration
            (the message lists the differences).
        FolderLocked: another process is writing the run.
    """
    from architectures import load_plugin

    started = time.monotonic()
    for plugin in (*suite.plugins, *plugins):
        load_plugin(plugin)
    run_dir, continuing = resolve_run_dir(Path(results_root).resolve(), suite.name, name, resume)
    with folder_lock(run_dir, "run"):
        own_cluster = connect_ray(address)
        try:
            driver = SweepDriver(
                run_dir,
                suite,
                continuing=continuing,
                profile=profile,
                data=data,
                train_overrides=dict(train_overrides or {}),
                plugins=plugins,
                print_fn=print_fn,
            )
            driver.set_resources(cpus_per_trial, gpus_per_trial, max_concurrent, max_failures)
            driver.trackers = list(trackers)
            driver.start_invocation(command, address, seeds, sequential, reference)
            if driver.sequential is not None:
                driver.train_until_decided([int(s) for s in seeds])
            else:
                driver.train({a: [int(s) for s in seeds] for a in driver.plans})
        finally:
            if own_cluster:
                import ray

                ray.shutdown()
        return driver.finish(started)


class SweepDriver:
    """One invocation of a sweep: plans, the run's stored configuration, Tune experiments.

    The run's configuration (``run.json``: per architecture its identity, resolved config and
    builder options; the data; the sequential design) is fixed by the first invocation. A later
    invocation replans from its own arguments and is refused when any architecture's identity
    differs; it may add seeds and architectures.
    """

    def __init__(
        self,
        run_dir: Path,
        suite: Suite,
        *,
        continuing: bool,
        profile: str,
        data: DataSpec | None,
        train_overrides: dict[str, Any],
        plugins: Sequence[str],
        print_fn: Callable[[str], None],
    ) -> None:
        import ray

        from benchmark.data.spec import load_data

        self.run_dir = run_dir
        self.suite = suite
        self.print_fn = print_fn
        self.previous = json.loads((run_dir / "run.json").read_text()) if continuing else None
        if self.previous is not None and self.previous.get("suite") != suite.name:
            raise IdentityMismatch(
                f"{run_dir} is a run of suite {self.previous.get('suite')!r}, not {suite.name!r}"
            )
        self.cluster = ray.cluster_resources()
        self.gpus = float(self.cluster.get("GPU", 0))
        # Ray first: whether the cluster has GPUs decides the auto profile and the resources.
        self.train_overrides = train_overrides
        self.plans = plan_suite(suite, profile, train_overrides, self.gpus)
        self.data = plan_data(data, self.plans.values())
        self.dataset = load_data(self.data)
        self.identities = {a: p.identity(self.dataset) for a, p in self.plans.items()}
        self.plugins = [_absolute_if_file(p) for p in (*suite.plugins, *plugins)]
        if self.previous is not None:
            self._check_same_configuration()
            print_fn(f"resuming {run_dir}")
        else:
            first = next(iter(self.plans.values()))
            print_fn(f"{first.reason}; data: {self.data.describe()}")
        self.sequential = None
        self.reference: str | None = None
        self.trackers: list[str] = []

    # ------------------------------------------------------------------------ configuration
    def _check_same_configuration(self) -> None:
        if "configurations" not in self.previous:
            raise IdentityMismatch(
                f"{self.run_dir} was written by an older version that did not record its "
                "configuration; it cannot be resumed safely. Start a new run (another --name)"
            )
        stored = self.previous["configurations"]
        differences = []
        for arch, identity in self.identities.items():
            if arch in stored:
                differences += [
                    f"{arch}: {d}" for d in identity_differences(stored[arch]["identity"], identity)
                ]
        if differences:
            shown = "\n  ".join(differences[:20])
            more = f"\n  ... and {len(differences) - 20} more" if len(differences) > 20 else ""
            raise IdentityMismatch(
                f"{self.run_dir} was trained under another configuration; resuming it with these "
                f"settings would mix configurations in one run:\n  {shown}{more}\n"
                "Resume with the run's settings (see run.json), or start a new run (another --name)"
            )

    def set_resources(
        self,
        cpus_per_trial: float,
        gpus_per_trial: float | None,
        max_concurrent: int | None,
        max_failures: int,
    ) -> None:
        """Resources per trial: fractional GPUs pack several instances on one device."""
        self.resources: dict[str, float] = {"cpu": cpus_per_trial}
        if self.gpus > 0:
            if gpus_per_trial is None:
                voxels = int(self.dataset.train.image.size)
                gpus_per_trial = gpus_per_trial_for(list(self.plans.values()), voxels)
            self.resources["gpu"] = gpus_per_trial
        elif gpus_per_trial:
            raise ValueError(
                f"--gpus-per-trial {gpus_per_trial} asked for, but the Ray cluster has no GPU "
                "(trials would wait forever)"
            )
        self.max_concurrent = max_concurrent
        self.max_failures = max_failures

    def start_invocation(
        self,
        command: str | None,
        address: str | None,
        seeds: Sequence[int],
        sequential: Any,
        reference: str | None,
    ) -> None:
        """Writes run.json: the configuration (first invocation) and this invocation's record."""
        record = dict(
            command=command or " ".join(shlex.quote(a) for a in sys.argv),
            started=dt.datetime.now().isoformat(timespec="seconds"),
            resources=self.resources,
            cluster={k: v for k, v in self.cluster.items() if k in ("CPU", "GPU", "memory")},
            address=address or "local",
            expected=[],
        )
        configurations = {
            a: dict(
                hash=identity_hash(self.identities[a]),
                identity=self.identities[a],
                config=p.config.to_dict(),
                arch_options=p.arch_options,
            )
            for a, p in self.plans.items()
        }
        if self.previous is None:
            meta = dict(
                suite=self.suite.name,
                suite_source=self.suite.source,
                suite_description=self.suite.description,
                architectures=list(self.suite.architectures),
                seeds=[],
                profile=next(iter(self.plans.values())).config.profile,
                data=self.data.to_dict(),
                train_overrides=self.train_overrides,
                configurations=configurations,
                configs={a: c["config"] for a, c in configurations.items()},
                plugins=self.plugins,
                sequential=None,
                experiments=[],
                invocations=[record],
                **environment_record(),
            )
        else:
            meta = self.previous
            meta["invocations"].append(record)
            meta["architectures"] = list(
                dict.fromkeys([*meta["architectures"], *self.suite.architectures])
            )
            meta["configurations"].update(configurations)
            meta["configs"].update({a: c["config"] for a, c in configurations.items()})
            meta["plugins"] = list(dict.fromkeys([*meta["plugins"], *self.plugins]))
        self.meta = meta
        self._setup_sequential(sequential, reference)
        if self.sequential is None:
            self._expect({a: list(seeds) for a in self.plans})
        write_json(meta, self.run_dir / "run.json")

    def _setup_sequential(self, sequential: Any, reference: str | None) -> None:
        stored = self.meta.get("sequential")
        if stored is not None and sequential is None and self.previous is not None:
            raise IdentityMismatch(
                f"{self.run_dir} is a sequential run (--until-decided); resume it with "
                "--until-decided and the same design"
            )
        if sequential is None:
            return
        from analysis.sequential import SequentialDesign

        archs = list(self.plans)
        reference = reference or ("2d3d_3x3x3" if "2d3d_3x3x3" in archs else archs[0])
        if reference not in archs:
            raise ValueError(
                f"--reference {reference!r} is not in the suite's architectures {archs}"
            )
        if len(archs) < 2:
            raise ValueError("--until-decided needs at least two architectures to compare")
        design = dataclasses.asdict(sequential)
        if stored is not None:
            if self.previous is not None and stored.get("design") != _plain_json(design):
                raise IdentityMismatch(
                    f"{self.run_dir} runs the sequential design {stored['design']}; "
                    f"resuming it with {design} is refused"
                )
            if stored.get("reference") != reference:
                raise IdentityMismatch(
                    f"{self.run_dir} compares with {stored['reference']!r}, not {reference!r}"
                )
        elif self.previous is not None and self.meta["experiments"]:
            raise IdentityMismatch(
                f"{self.run_dir} was started with a fixed number of seeds; it cannot become "
                "sequential (--until-decided) when resumed"
            )
        self.meta["sequential"] = dict(design=_plain_json(design), reference=reference)
        self.sequential = SequentialDesign(**design)
        self.reference = reference

    def _expect(self, seeds: dict[str, list[int]]) -> None:
        """Adds instances to this invocation's expected set (and the run's seeds)."""
        record = self.meta["invocations"][-1]
        have = {(a, int(s)) for a, s in record["expected"]}
        for arch, arch_seeds in seeds.items():
            for seed in arch_seeds:
                if (arch, int(seed)) not in have:
                    record["expected"].append([arch, int(seed)])
                    have.add((arch, int(seed)))
        self.meta["seeds"] = sorted({int(s) for _, s in have} | set(self.meta["seeds"]))

    @property
    def expected(self) -> list[tuple[str, int]]:
        return [(a, int(s)) for a, s in self.meta["invocations"][-1]["expected"]]

    # ---------------------------------------------------------------------------- training
    def train(self, seeds: dict[str, list[int]]) -> None:
        """Trains ``seeds`` per architecture: restores every earlier experiment holding some of
        them (finished trials stay, the rest continue), then one new experiment for the rest."""
        from ray import tune

        from benchmark.sweep.trial import train_trial

        self._expect(seeds)
        write_json(self.meta, self.run_dir / "run.json")
        wanted = {(a, int(s)) for a, ss in seeds.items() for s in ss}
        trainable = tune.with_resources(train_trial, self.resources)
        for experiment in self.meta["experiments"]:
            path = str(self.run_dir / experiment["name"])
            holds = {(a, int(s)) for a, s in experiment["instances"]}
            open_ = (holds & wanted) - final_keys(self.run_dir)
            if not open_ or not tune.Tuner.can_restore(path):
                continue
            self.print_fn(f"restoring {experiment['name']}: {len(open_)} unfinished instance(s)")
            # Callbacks and the stopper come back with the experiment (Tune pickles its run
            # config); they read what they need from the run folder when it restarts.
            tune.Tuner.restore(path, trainable=trainable, resume_errored=True).fit()

        held = {(a, int(s)) for e in self.meta["experiments"] for a, s in e["instances"]}
        todo = [
            e for e in instance_entries(self.plans, seeds) if (e["arch"], e["seed"]) not in held
        ]
        if not todo:
            return
        from benchmark.sweep.callbacks import InstanceStopper, LiveView, ResultsWriter
        from benchmark.sweep.trackers import sweep_callbacks

        n = len(self.meta["experiments"])
        name = "tune" if n == 0 else f"tune-{n + 1}"
        self.meta["experiments"].append(
            {"name": name, "instances": [[e["arch"], e["seed"]] for e in todo]}
        )
        write_json(self.meta, self.run_dir / "run.json")
        n_archs = len({e["arch"] for e in todo})
        self.print_fn(
            f"training {len(todo)} instance(s) of {n_archs} architecture(s) with "
            f"{self.resources} per trial; results in {self.run_dir}"
        )
        stopper = InstanceStopper(
            {a: EarlyStopRule.from_config(p.config) for a, p in self.plans.items()}
        )
        common = {"data": self.data.to_dict(), "plugins": list(self.meta["plugins"])}
        tuner = tune.Tuner(
            trainable,
            param_space={"instance": tune.grid_search(todo), **common},
            tune_config=tune.TuneConfig(
                reuse_actors=True,
                max_concurrent_trials=self.max_concurrent,
                trial_dirname_creator=_trial_dirname,
                trial_name_creator=_trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=str(self.run_dir),
                stop=stopper,
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=self.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                callbacks=[
                    ResultsWriter(str(self.run_dir), self.dataset.class_names),
                    LiveView(str(self.run_dir), name, self.print_fn),
                    *sweep_callbacks(self.trackers, self.run_dir, self.suite.name),
                ],
            ),
        )
        tuner.fit()

    def train_until_decided(self, seed_pool: list[int]) -> None:
        """Rounds of paired seeds until every comparison with the reference is decided (or the
        design's maximum): after each round the sequential procedure decides which
        architectures still need seeds. Everything is recomputed from the results table, so a
        killed and resumed run takes exactly the same decisions."""
        from analysis.sequential import sequential_family

        design = self.sequential
        if len(seed_pool) < design.max_seeds:
            raise ValueError(
                f"--until-decided needs {design.max_seeds} seeds to draw from, got {len(seed_pool)}"
            )
        pool = seed_pool[: design.max_seeds]
        stored = self.meta["sequential"].get("seed_order")
        if stored is not None and [int(s) for s in stored] != pool:
            raise IdentityMismatch(
                f"{self.run_dir} draws its rounds from seeds {stored}; resuming it with seeds "
                f"{pool} would change which seeds are paired"
            )
        self.meta["sequential"]["seed_order"] = pool
        while True:
            state = sequential_family(self.scores(), self.reference, design, seed_order=pool)
            _write_sequential(self.run_dir, state)
            self._record_sequential(state)
            if state.finished or not state.needs_seeds:
                self.print_fn(_sequential_summary(state))
                break
            broken = [
                a
                for a, s in self.scores().items()
                if a in state.needs_seeds
                and len(s) >= design.min_seeds
                and not np.isfinite(list(s.values())).any()
            ]
            if broken:
                # More seeds cannot decide a comparison whose every instance fails.
                self.print_fn(
                    f"every instance of {', '.join(broken)} failed (errors in instances.parquet); "
                    "stopping the sequential rounds undecided"
                )
                break
            # Every architecture still compared gets the same next seeds (paired rounds).
            seeds = {a: pool[: state.next_seeds] for a in state.needs_seeds}
            self.print_fn(f"round to {state.next_seeds} seeds: " + ", ".join(state.needs_seeds))
            before = final_keys(self.run_dir)
            self.train(seeds)
            wanted = {(a, s) for a, ss in seeds.items() for s in ss}
            if not wanted <= final_keys(self.run_dir) or final_keys(self.run_dir) == before:
                break  # interrupted: a resume continues from here

    def _record_sequential(self, state: Any) -> None:
        """The procedure's standing in run.json: decisions and the seeds spent against the fixed
        design (``max_seeds`` for every architecture)."""
        trained = self.scores()
        spent = {a: len(trained.get(a, {})) for a in self.plans}
        fixed = self.sequential.max_seeds * len(self.plans)
        self.meta["sequential"]["result"] = dict(
            finished=bool(state.finished),
            decisions=state.decisions,
            verdicts=[p.verdict() for p in state.paths],
            seeds_spent=spent,
            instances_spent=sum(spent.values()),
            instances_fixed_design=fixed,
            saved_fraction=round(1 - sum(spent.values()) / fixed, 4),
        )
        write_json(self.meta, self.run_dir / "run.json")

    def scores(self) -> dict[str, dict[int, float]]:
        """``{architecture: {seed: eval MIoU(all)}}`` of the run's final instances (failed
        instances are NaN: they count as seeds that gave no score)."""
        path = self.run_dir / "instances.parquet"
        out: dict[str, dict[int, float]] = {a: {} for a in self.plans}
        if not path.is_file():
            return out
        frame = pd.read_parquet(path)
        for row in frame.to_dict("records"):
            if row["architecture"] not in out or row["status"] not in FINAL_STATUSES:
                continue
            value = row.get("eval_miou_all") if row["status"] in SCORED_STATUSES else None
            out[row["architecture"]][int(row["seed"])] = (
                float(value) if value is not None else float("nan")
            )
        return out

    def finish(self, started: float) -> SweepResult:
        """Records the invocation's end in run.json and returns what it trained."""
        expected = self.expected
        done = final_keys(self.run_dir)
        complete = set(expected) <= done
        meta = json.loads((self.run_dir / "run.json").read_text())
        meta["invocations"][-1].update(
            ended=dt.datetime.now().isoformat(timespec="seconds"),
            complete=complete,
            wall_time_s=round(time.monotonic() - started, 1),
        )
        write_json(meta, self.run_dir / "run.json")
        path = self.run_dir / "instances.parquet"
        instances = pd.read_parquet(path) if path.is_file() else pd.DataFrame()
        if not instances.empty:
            keys = set(expected)
            instances = instances[
                [(a, int(s)) in keys for a, s in zip(instances["architecture"], instances["seed"])]
            ]
        return SweepResult(
            self.run_dir,
            instances,
            expected,
            complete,
            time.monotonic() - started,
            summarize_instances(instances),
        )


def _write_sequential(run_dir: Path, state: Any) -> None:
    """``sequential.parquet``: every look of every comparison, for analyze and the report."""
    frame = state.frame()
    if not frame.empty:
        write_table(frame, run_dir / "sequential.parquet")


def _sequential_summary(state: Any) -> str:
    lines = ["sequential comparisons:"]
    for path in state.paths:
        lines.append(f"  {path.verdict()}")
    return "\n".join(lines)


def _plain_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


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
