"""``python -m benchmark analyze RUN_DIR_OR_TABLE`` (statistics over a table of instance scores)
and ``python -m benchmark plan-seeds RUN_DIR_OR_TABLE`` (seeds and GPU-hours a comparison needs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.cli.options import (
    add_design_options,
    add_statistics_options,
    add_table_options,
    positive_int,
    statistics_kwargs,
    table_kwargs,
)

__all__ = ["cmd_analyze", "cmd_plan_seeds", "register"]


def register(
    subparsers: argparse._SubParsersAction, common_parent: argparse.ArgumentParser
) -> None:
    """Adds the ``analyze`` and ``plan-seeds`` sub-commands."""
    p = subparsers.add_parser(
        "analyze",
        parents=[common_parent],
        help="distributions, seed-aware comparisons, power and Table 1 from a results table",
        description=(
            "Summarizes each architecture's scores over seeds, tests the reference against every "
            "other architecture and all pairs (permutation test, family-wise corrected), ranks "
            "three or more with the Friedman test and a post-hoc comparison, estimates the seeds "
            "needed for 80 % power and the expected best-of-k, and builds Table 1. Reads this "
            "project's runs and any table: wide or long CSV/Parquet, Ray Tune results, Optuna "
            "trials. A sequential run (run --until-decided) gets its sequential decisions "
            "recomputed. For a run directory the CSVs go to RUN_DIR/analysis/."
        ),
    )
    p.add_argument(
        "path", metavar="RUN_DIR_OR_TABLE", help="run directory, or a .csv/.parquet table"
    )
    add_statistics_options(p, tables=True)
    p.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="directory for the CSVs (default: RUN_DIR/analysis; none for a plain table)",
    )
    p.set_defaults(func=cmd_analyze)

    q = subparsers.add_parser(
        "plan-seeds",
        parents=[common_parent],
        help="seeds and GPU-hours a comparison needs: fixed against sequential design",
        description=(
            "From the observed spread of the paired differences between the reference and each "
            "other architecture, and a target effect (--effect, else the observed mean "
            "difference): the seeds per architecture of the fixed design for the target power "
            "(statsmodels), the expected seeds of the sequential design (run --until-decided; "
            "simulated), and GPU-hours from the measured time per instance (wall_time_s). "
            "See docs/sequential.md."
        ),
    )
    q.add_argument(
        "path", metavar="RUN_DIR_OR_TABLE", help="run directory, or a .csv/.parquet table"
    )
    q.add_argument("--reference", metavar="ARCH", help="default: the run's sequential reference, "
                   "else 2d3d_3x3x3 if present, else the first")  # fmt: skip
    q.add_argument(
        "--metric", metavar="COLUMN", help="default: eval_miou_all, else the only metric"
    )
    q.add_argument(
        "--effect",
        type=float,
        metavar="D",
        help="smallest difference of interest, in score units (default: each comparison's "
        "observed mean difference)",
    )
    q.add_argument("--power", type=float, default=0.8, help="target power (default 0.8)")
    # Unset: the run's stored sequential design, else SequentialDesign's defaults (5, 26, 3, 0.05).
    add_design_options(q, from_run=True)
    q.add_argument(
        "--simulations",
        type=positive_int,
        default=20_000,
        metavar="N",
        help="simulated sweeps per sequential plan (default 20000)",
    )
    q.add_argument("--json", metavar="PATH", help="also write the plan as JSON")
    add_table_options(q, comparisons=False)
    q.set_defaults(func=cmd_plan_seeds)


def cmd_analyze(args: argparse.Namespace) -> int:
    from analysis.analyze import analyze, format_report, write_json
    from analysis.derived import record_derived, stale_outputs

    run_dir = Path(args.path) if Path(args.path).is_dir() else None
    stale = stale_outputs(run_dir) if run_dir is not None else {}
    report = analyze(
        args.path,
        **statistics_kwargs(args),
        out_dir=args.out,
    )
    sys.stdout.write(format_report(report))
    if "ensembles" in stale:
        print(
            f"note: {stale['ensembles']}: Table 1(a) shows those ensembles; "
            f"rebuild them with: python -m benchmark ensembles {run_dir}"
        )
    if run_dir is not None and args.out is None:
        record_derived(run_dir, "analysis")
    if args.json:
        print(f"wrote {write_json(report, args.json)}")
    return 0


def cmd_plan_seeds(args: argparse.Namespace) -> int:
    from analysis.planning import format_plan, plan_run, write_plan_json

    if not 0 < args.power < 1:
        raise ValueError(f"--power must lie in (0, 1), got {args.power}")
    plan = plan_run(
        args.path,
        reference=args.reference,
        metric=args.metric,
        effect=args.effect,
        power=args.power,
        alpha=args.alpha,
        min_seeds=args.min_seeds,
        max_seeds=args.max_seeds,
        round_size=args.round,
        min_effect=args.min_effect,
        n_simulations=args.simulations,
        **table_kwargs(args),
    )
    sys.stdout.write(format_plan(plan))
    if args.json:
        print(f"wrote {write_plan_json(plan, args.json)}")
    return 0
