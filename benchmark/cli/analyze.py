"""``python -m benchmark analyze RUN_DIR_OR_TABLE``: statistics over a table of instance scores."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.cli.options import add_statistics_options, statistics_kwargs

__all__ = ["cmd_analyze", "register"]


def register(
    subparsers: argparse._SubParsersAction, common_parent: argparse.ArgumentParser
) -> None:
    """Adds the ``analyze`` sub-command."""
    p = subparsers.add_parser(
        "analyze",
        parents=[common_parent],
        help="distributions, seed-aware comparisons, power and Table 1 from a results table",
        description=(
            "Summarizes each architecture's scores over seeds, tests the reference against every "
            "other architecture and all pairs (permutation test, family-wise corrected), estimates "
            "the seeds needed for 80 % power and the expected best-of-k, and builds Table 1. For a "
            "run directory the CSVs go to RUN_DIR/analysis/."
        ),
    )
    p.add_argument(
        "path", metavar="RUN_DIR_OR_TABLE", help="run directory, or a .csv/.parquet table"
    )
    add_statistics_options(p)
    p.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="directory for the CSVs (default: RUN_DIR/analysis; none for a plain table)",
    )
    p.set_defaults(func=cmd_analyze)


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
