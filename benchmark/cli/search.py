"""``search``: seed-aware architecture search over a registered search space (Optuna + Ray)."""

from __future__ import annotations

import argparse
import math
import shlex
from pathlib import Path

from benchmark.cli.formatting import fmt_float, print_table
from benchmark.cli.options import (
    add_cluster_options,
    add_data_arguments,
    add_profile_option,
    add_results_location,
    data_options,
    parse_option,
    positive_int,
)
from benchmark.progress import add_quiet_argument
from benchmark.sweep.trackers import add_tracker_argument

__all__ = ["cmd_search", "register"]


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "search",
        parents=[common],
        help="seed-aware architecture search (Optuna proposes, Ray trains K paired seeds per candidate)",
        description=(
            "Searches a registered space (--show prints it). Each candidate is trained on seeds 0..K-1 "
            "(paired with every run's seeds); its objective is the mean eval MIoU(all), or its lower "
            "confidence bound. Racing stops a candidate once a group-sequential test on the shared "
            "seeds (valid under looking after every seed) decides it is worse than the incumbent "
            "and gives close contenders "
            "extra seeds up to --max-seeds. The study lives in results/search/NAME/ (--resume "
            "continues it); the best candidates are exported as architecture specs with a suite."
        ),
    )
    p.add_argument("--space", default="2d3d", help="registered search space (default 2d3d)")
    p.add_argument("--show", action="store_true", help="print the search space and exit")
    p.add_argument(
        "--trials",
        type=int,
        metavar="N",
        help="candidates in the study (default 20; with --resume: the stored count, or more)",
    )
    p.add_argument(
        "--seeds-per-candidate",
        type=positive_int,
        default=2,
        metavar="K",
        help="paired seeds 0..K-1 per candidate (default 2)",
    )
    p.add_argument(
        "--max-seeds",
        type=positive_int,
        metavar="M",
        help="seeds a close contender may get (default K: none extra)",
    )
    p.add_argument(
        "--objective",
        default="miou",
        help="miou (default), lcb, or a cost after it: miou,params or miou,step_time (Pareto front)",
    )
    p.add_argument(
        "--lcb-level",
        type=float,
        default=0.9,
        help="one-sided confidence level of --objective lcb (default 0.9)",
    )
    p.add_argument(
        "--race-alpha",
        type=float,
        default=0.05,
        help="two-sided level of the sequential racing test over all its looks (default 0.05)",
    )
    p.add_argument(
        "--no-race",
        action="store_true",
        help="train every candidate on its K seeds (no stopping, no extra seeds)",
    )
    p.add_argument(
        "--sampler",
        default="auto",
        choices=["auto", "tpe", "nsga2", "random"],
        help="auto: TPE, NSGA-II for two objectives",
    )
    p.add_argument("--sampler-seed", type=int, default=0, help="seed of the sampler (default 0)")
    p.add_argument(
        "--startup-trials",
        type=int,
        metavar="N",
        help="random candidates before TPE models (default min(10, max(3, N/4)))",
    )
    p.add_argument(
        "--enqueue-reference",
        action="store_true",
        help="evaluate the space's reference (the paper's net) as candidate 0",
    )
    add_profile_option(
        p, "auto", "training profile (default auto: paper with a GPU, quick otherwise)"
    )
    p.add_argument(
        "--option",
        action="append",
        type=parse_option,
        metavar="KEY=VALUE",
        help="training option for every candidate; repeatable",
    )
    p.add_argument(
        "--arch-option",
        action="append",
        type=parse_option,
        metavar="KEY=VALUE",
        help="builder option for every candidate (not a searched one); repeatable",
    )
    add_results_location(
        p, "search", "search name (default SPACE-TIMESTAMP); results in RESULTS/search/NAME"
    )
    p.add_argument(
        "--storage",
        metavar="URL_OR_PATH",
        help="Optuna storage: an RDB URL (sqlite:///x.db) or a journal file (default RESULTS/search/NAME/study.journal)",
    )
    p.add_argument(
        "--export",
        type=int,
        default=3,
        metavar="N",
        help="candidates exported as specs (default 3; Pareto front members when multi-objective)",
    )
    add_cluster_options(
        p, "seed", "the cluster's CPUs / cpus-per-trial", "a seed whose worker died"
    )
    p.add_argument(
        "--executor",
        default="ray",
        choices=["ray", "inline"],
        help="inline: seeds one by one in this process, without Ray (debugging)",
    )
    p.add_argument("--no-report", action="store_true", help="skip search-report.html")
    add_tracker_argument(p)
    add_quiet_argument(p)
    add_data_arguments(p)
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    if args.show:
        from architectures.search_space import get_space

        print(get_space(args.space).describe())
        return 0
    from benchmark.progress import set_quiet, write
    from benchmark.search import SearchSettings, run_search
    from benchmark.sweep.trackers import check_trackers

    set_quiet(args.quiet)
    trackers = check_trackers(args.tracker)  # a missing package fails before Ray starts
    if args.trials is not None and args.trials < (0 if args.resume else 1):
        raise ValueError(f"--trials must be positive, got {args.trials}")
    settings = SearchSettings(
        space=args.space,
        trials=args.trials if args.trials is not None else (0 if args.resume else 20),
        seeds_per_candidate=args.seeds_per_candidate,
        max_seeds=args.max_seeds,
        objectives=args.objective,
        lcb_level=args.lcb_level,
        race=not args.no_race,
        race_alpha=args.race_alpha,
        sampler=args.sampler,
        sampler_seed=args.sampler_seed,
        startup_trials=args.startup_trials,
        enqueue_reference=args.enqueue_reference,
        profile=args.profile,
        train_overrides=dict(args.option or []),
        arch_overrides=dict(args.arch_option or []),
        plugins=tuple(getattr(args, "plugin", []) or ()),
        export=args.export,
    )
    from benchmark.data.spec import data_options_given, data_spec_from_options

    options = data_options(args)
    data = data_spec_from_options(options) if data_options_given(options) else None
    result = run_search(
        settings,
        data=data,
        results_root=args.results,
        name=args.name,
        resume=args.resume,
        storage=args.storage,
        address=args.address,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        max_failures=args.max_failures,
        executor=args.executor,
        report=not args.no_report,
        trackers=trackers,
        print_fn=write,
    )
    cands = result.candidates
    print()
    if not cands.empty:
        order = {"complete": 0, "running": 1, "pruned": 2, "failed": 3}
        shown = cands.assign(_o=cands["state"].map(order)).sort_values(
            ["_o", "objective", "number"], ascending=[True, False, True]
        )
        rows = [
            (
                str(r.number),
                r.state + (" *" if r.number in result.best[:1] else ""),
                r.seeds or "-",
                fmt_float(r["mean"]),
                fmt_float(r.sd),
                fmt_float(r.objective),
                "-" if r.arch_params is None or _nan(r.arch_params) else f"{int(r.arch_params):,}",
                "-" if _nan(r.step_ms) else f"{r.step_ms:.1f}",
            )
            for _, r in shown.head(15).iterrows()
        ]
        print(
            f"candidates ({len(cands)}; * = best; eval MIoU(all) over seeds; {result.trained_seeds} seed(s) trained in {result.wall_time_s / 60:.1f} min):"
        )
        print_table(
            ("candidate", "state", "seeds", "mean", "sd", "objective", "parameters", "step ms"),
            rows,
            right=(0, 3, 4, 5, 6, 7),
        )
        if len(cands) > 15:
            print(f"... {len(cands) - 15} more in {result.search_dir / 'candidates.parquet'}")
    print(f"\nresults: {result.search_dir}")
    if result.report is not None:
        print(f"report: {result.report}")
    if result.exported:
        print("exported: " + ", ".join(str(p) for p in result.exported))
    if not result.complete:
        print(
            f"incomplete; continue with: python -m benchmark search --name {result.search_dir.name} --results {shlex.quote(args.results)} --resume"
        )
        return 1
    if result.suite is not None:
        import json

        meta = json.loads((result.search_dir / "search.json").read_text())
        options = " ".join(
            f"--option {shlex.quote(f'{k}={_toml(v)}')}"
            for k, v in meta["settings"]["train_overrides"].items()
        )
        suite_name = f"search-{meta['study_name']}"
        print(
            "next: train the exported candidates and the paper's net on 26 fresh paired seeds, then compare:"
        )
        print(
            f"  python -m benchmark run --suite {result.suite} --results {shlex.quote(args.results)} --name confirm {options}".rstrip()
        )
        print(
            f"  python -m benchmark analyze {Path(args.results) / suite_name / 'confirm'} --reference {meta['base']}"
        )
    return 0


def _toml(value: object) -> str:
    from architectures.spec import toml_value

    return toml_value(value)


def _nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)
