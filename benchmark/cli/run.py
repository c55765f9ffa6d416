"""``run`` (a seed sweep of a suite on Ray Tune) and ``suites`` (list suites)."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli.formatting import fmt_float, print_table
from benchmark.cli.options import (
    add_cluster_options,
    add_data_arguments,
    add_design_options,
    add_profile_option,
    add_results_location,
    data_options,
    parse_option,
)
from benchmark.progress import add_quiet_argument
from benchmark.sweep.trackers import add_tracker_argument


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seed-list takes integers like 0,1,5, got {text!r}"
        ) from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seed-list takes non-negative integers, got {text!r}")
    return seeds


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "run",
        parents=[common],
        help="train every (architecture, seed) of a suite as Ray Tune trials",
    )
    p.add_argument(
        "--suite",
        default="ablations",
        help="built-in suite (ablations, baselines, paper) or a suite .toml (default ablations)",
    )
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds", type=int, help="seeds 0..N-1 (default: the suite's, else 26 as in the paper)"
    )
    seeds.add_argument("--seed-list", type=_seed_list, help="explicit seeds, e.g. 0,1,5")
    add_profile_option(
        p, None, "default: the suite's, else auto (paper with a GPU, quick otherwise)"
    )
    add_results_location(
        p, "run", "run name (default: a timestamp); the name of an existing run resumes it"
    )
    add_cluster_options(
        p, "instance", "as many as the cluster's CPUs and GPUs allow", "a failing instance"
    )
    p.add_argument(
        "--option",
        action="append",
        type=parse_option,
        metavar="KEY=VALUE",
        help="training option for every architecture; repeatable",
    )
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="precomputed loss-weight volume of the training volume's shape (the release's "
        "train-error-weights.tif) for every architecture (option weights_file)",
    )
    p.add_argument(
        "--no-report", action="store_true", help="skip the analysis and HTML report at the end"
    )
    p.add_argument(
        "--reference",
        metavar="ARCH",
        help="architecture compared with the others (default: 2d3d_3x3x3 if in the suite, "
        "else its first)",
    )
    g = p.add_argument_group(
        "sequential seeds (--until-decided; see docs/sequential.md)",
        "Train paired seeds in rounds and stop each comparison with the reference as soon as a "
        "group-sequential test (valid under this optional stopping) decides it.",
    )
    g.add_argument(
        "--until-decided",
        action="store_true",
        help="add seeds round by round until every comparison is decided (or --max-seeds)",
    )
    add_design_options(g)
    add_tracker_argument(p)
    add_quiet_argument(p)
    add_data_arguments(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("suites", parents=[common], help="list the built-in suites")
    p.add_argument("files", nargs="*", help="also describe these suite .toml files")
    p.set_defaults(func=cmd_suites)


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.data.spec import (
        data_options_given,
        data_spec_from_options,
        data_spec_from_suite,
    )
    from benchmark.progress import set_quiet, write
    from benchmark.sweep.driver import run_sweep
    from benchmark.sweep.suites import load_suite
    from benchmark.sweep.trackers import check_trackers

    set_quiet(args.quiet)
    trackers = check_trackers(args.tracker)  # a missing package fails before Ray starts
    suite = load_suite(args.suite)
    if args.seed_list:
        seeds = args.seed_list
    elif args.seeds is not None:
        if args.seeds < 1:
            raise ValueError(f"--seeds must be positive, got {args.seeds}")
        seeds = list(range(args.seeds))
    else:
        seeds = list(suite.seeds or range(26))
    profile = args.profile or suite.profile or "auto"
    data = None
    options = data_options(args)
    if data_options_given(options):
        data = data_spec_from_options(options)
    elif suite.data:
        try:
            data = data_spec_from_suite(suite.data, Path(suite.source).parent)
        except ValueError as exc:
            raise ValueError(f"suite {suite.source}: {exc}") from None
    sequential = None
    if args.until_decided:
        from analysis.sequential import SequentialDesign

        if args.seeds is not None:
            raise ValueError(
                "--until-decided chooses the number of seeds; use --max-seeds, not --seeds"
            )
        seeds = args.seed_list or list(range(args.max_seeds))
        sequential = SequentialDesign(
            alpha=args.alpha,
            min_seeds=args.min_seeds,
            max_seeds=args.max_seeds,
            round_size=args.round,
            min_effect=args.min_effect,
        )
    result = run_sweep(
        suite,
        seeds,
        sequential=sequential,
        reference=args.reference,
        profile=profile,
        data=data,
        results_root=args.results,
        name=args.name,
        resume=args.resume,
        address=args.address,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        max_failures=args.max_failures,
        train_overrides=_train_overrides(args),
        plugins=getattr(args, "plugin", []),
        trackers=trackers,
        print_fn=write,
    )
    print()
    print(
        f"eval MIoU(all) of the best checkpoint per architecture ({len(result.expected)} instances, {result.wall_time_s / 60:.1f} min):"
    )
    rows = [
        (
            r.architecture,
            str(r.n),
            str(r.failed),
            fmt_float(r["mean"]),
            fmt_float(r.sd),
            fmt_float(r["max"]),
        )
        for _, r in result.summary.iterrows()
    ]
    print_table(("architecture", "n", "failed", "mean", "sd", "max"), rows, right=(1, 2, 3, 4, 5))
    print(f"\nresults: {result.run_dir}")
    if not result.complete:
        missing = (
            len(set(result.expected))
            - len(
                result.instances[
                    result.instances["status"].isin(["finished", "early_stopped", "failed"])
                ]
            )
            if not result.instances.empty
            else len(result.expected)
        )
        print(
            f"incomplete: {missing} instance(s) not finished; continue with: python -m benchmark run --suite {args.suite} --name {result.run_dir.name} --resume"
        )
        return 1
    if not args.no_report:
        _analysis_and_report(result.run_dir, args.reference)
    else:
        from analysis.derived import stale_outputs

        for why in stale_outputs(result.run_dir).values():
            print(f"stale (--no-report): {why}")
    print("next:")
    print(f"  python -m benchmark analyze {result.run_dir}")
    print(f"  python -m benchmark report {result.run_dir}")
    return 0


def _analysis_and_report(run_dir: Path, reference: str | None) -> None:
    """Ensembles, statistics and the HTML report at the end of a complete run."""
    from analysis.analyze import analyze
    from analysis.derived import record_derived
    from benchmark.inference.ensembles import run_ensembles

    print("\nscoring ensembles (top-k and random-k) ...", flush=True)
    ensembles = run_ensembles(run_dir, log=lambda line: None)
    for _, row in ensembles.best.iterrows():
        print(
            f"  {row.architecture}: best top-k ensemble k = {row.k}, eval MIoU(all) {row.eval_miou_all:.4f}"
        )
    report = analyze(run_dir, reference=reference)
    record_derived(run_dir, "analysis")
    print("\ncomparisons (eval MIoU(all) of the best checkpoints, paired seeds):")
    for line in report.verdicts():
        print(f"  {line}")
    from analysis.report import build_report

    path = build_report(run_dir, analysis=report)
    print(f"\nreport: {path}")


def cmd_suites(args: argparse.Namespace) -> int:
    from benchmark.sweep.suites import list_suites, load_suite

    suites = list_suites() + [load_suite(f) for f in args.files]
    rows = [
        (s.name, str(len(s.architectures)), ", ".join(s.architectures), s.description or s.source)
        for s in suites
    ]
    print_table(("suite", "n", "architectures", "description"), rows, right=(1,))
    return 0


def _train_overrides(args: argparse.Namespace) -> dict:
    """``--option`` pairs, with ``--weights`` as ``weights_file`` (absolute: workers may run
    elsewhere)."""
    overrides = dict(args.option or [])
    if args.weights:
        overrides["weights_file"] = str(Path(args.weights).expanduser().absolute())
    return overrides
