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
    (paired by seed) by the group-sequential test of ``analysis.racing`` (one look per shared seed
    from ``race_min_seeds`` (2) to the seed cap, Hwang-Shih-DeCani alpha spending, two-sided at
    ``race_alpha``), whose error rate holds although it looks after every seed: a candidate as
    good as the incumbent is stopped with probability at most ``race_alpha / 2``. When the test
    decides C is worse, C is stopped: its queued and running seeds are cancelled and it is told
    PRUNED (its last intermediate value, the mean so far, ranks it for the sampler).
    Extra seeds (``max_seeds`` > ``seeds_per_candidate``): when C has all its seeds and the test
    is undecided, C is a close contender: it gets the next seed, and the incumbent gets that seed
    too when it lacks it (so the pair stays paired), until the test decides or C has
    ``max_seeds`` seeds. Then C is told COMPLETE. The final comparison is still the 26-seed
    ``run`` + ``analyze`` of the exported specs, on seeds the search never used.

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
    start-up proposals. One driver per search: the folder's lock refuses a second live one."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.data.spec import DataSpec
from benchmark.records import write_json
from benchmark.records.lock import folder_lock
from benchmark.search.driver import SearchDriver
from benchmark.search.executors import InlineExecutor, RayExecutor
from benchmark.search.export import export_candidates
from benchmark.search.report import write_search_report
from benchmark.search.settings import OBJECTIVES, SearchResult, SearchSettings
from benchmark.search.store import resolve_search_dir, storage_for
from benchmark.search.worker import train_seed
from benchmark.sweep.resources import gpus_per_trial_for
from benchmark.training.config import TrainConfig
from benchmark.training.planner import TrainingPlan, plan_data, plan_training

__all__ = ["run_search"]


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


def _base_plan(space: Any, profile: str, overrides: Mapping[str, Any], gpus: float) -> TrainingPlan:
    """The plan of the space's base architecture, under which every candidate trains."""
    plan = plan_training(
        space.base, profile, gpus=gpus, where="the Ray cluster", train_overrides=overrides
    )
    if "save_probabilities" not in overrides:
        # A search needs scores, not ensembles.
        plan = replace(plan, config=plan.config.replace(save_probabilities=False))
    return plan


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
    trackers: Sequence[str] = (),
    progress: bool | None = None,
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
        trackers: experiment trackers (``mlflow``, ``wandb``, ``tensorboard``) that receive every
            finished seed and decided candidate (``benchmark.sweep.trackers.SearchTrackers``).
        progress: a progress bar over candidates (default: when stderr is a terminal).
    """
    search_dir, continuing = resolve_search_dir(
        Path(results_root).resolve(), settings.space, name, resume
    )
    with folder_lock(search_dir, "search"):
        import optuna

        from architectures import load_plugin
        from architectures.search_space import get_space
        from benchmark.data.spec import load_data
        from benchmark.records import environment_record

        started = time.monotonic()
        meta: dict[str, Any] = {}
        if continuing:
            meta = json.loads((search_dir / "search.json").read_text())
            stored = SearchSettings.from_dict(meta["settings"])
            settings = replace(
                stored, trials=max(settings.trials, stored.trials), export=settings.export
            )
            data = DataSpec.from_dict(meta["data"])
            storage = meta["storage"]
        for plugin in settings.plugins:
            load_plugin(plugin)
        space = get_space(settings.space)
        # Checked before Ray starts: fixed options must not be searched ones.
        _check_overrides(
            settings, space, {k: getattr(TrainConfig(), k) for k in space.train_fields}
        )
        if continuing and "://" not in str(storage):
            # This process holds the folder lock, so no other driver is alive: a journal lock left
            # by a killed one is stale.
            Path(str(storage) + ".lock").unlink(missing_ok=True)

        fn = train_fn or train_seed
        ex: Any = (
            InlineExecutor(fn)
            if executor == "inline"
            else RayExecutor(fn, address, cpus_per_trial, max_failures)
        )
        level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            if continuing:
                base_config = TrainConfig.from_dict(meta["config"])
                base_plan = TrainingPlan(
                    space.base, base_config, reason=f"profile {base_config.profile}"
                )
                print_fn(
                    f"resuming {search_dir} (study {meta['study_name']}, {settings.trials} candidates)"
                )
            else:
                # ``auto``: the paper profile when the Ray cluster (not just this machine) has a GPU.
                base_plan = _base_plan(space, settings.profile, settings.train_overrides, ex.gpus())
                base_config = base_plan.config
            train_values = {k: getattr(base_config, k) for k in space.train_fields}
            data = plan_data(data, [base_plan])
            dataset = load_data(data)
            storage_obj, storage_text = storage_for(storage, search_dir)
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
                    # The space's largest nets need about twice the reference's memory.
                    voxels = int(dataset.train.image.size)
                    gpus = gpus_per_trial_for([base_plan], voxels, scale=2.0)
                elif gpus and ex.gpus() == 0:
                    raise ValueError(
                        f"--gpus-per-trial {gpus} asked for, but the Ray cluster has no GPU"
                    )
                slots = max_concurrent or ex.slots()
                driver = SearchDriver(
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
                from benchmark.sweep.trackers import search_trackers

                tracking = search_trackers(
                    trackers,
                    search_dir,
                    meta["study_name"],
                    meta["settings"],
                    candidates=settings.trials,
                    decided=sum(c.state != "running" for c in driver.cands.values()),
                    progress=progress,
                )
                if tracking:
                    driver.event = tracking.wrap(driver.event, driver.cands)  # type: ignore[method-assign]
                try:
                    finished = driver.run()
                finally:
                    tracking.close()
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
