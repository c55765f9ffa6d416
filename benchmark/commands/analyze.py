"""``python -m benchmark analyze RUN_DIR_OR_TABLE``: statistics over a table of instance scores."""

from __future__ import annotations

import argparse
import sys

__all__ = ["cmd_analyze", "register"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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
    p.add_argument(
        "--reference",
        metavar="ARCH",
        help="architecture compared with all others (default: 2d3d_3x3x3 if present, else the first)",
    )
    p.add_argument(
        "--metric",
        default="eval_miou_all",
        metavar="COLUMN",
        help="score column to compare (default: eval_miou_all)",
    )
    p.add_argument(
        "--correction",
        choices=("holm", "bh"),
        default="holm",
        help="family-wise correction (default: holm)",
    )
    p.add_argument("--json", metavar="PATH", help="also write the full report as JSON")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of every bootstrap/permutation stream (default: 0)",
    )
    p.add_argument(
        "--resamples",
        type=_positive_int,
        default=10_000,
        metavar="N",
        help="bootstrap and permutation resamples (default: 10000)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="directory for the CSVs (default: RUN_DIR/analysis; none for a plain table)",
    )
    p.set_defaults(func=cmd_analyze)


def cmd_analyze(args: argparse.Namespace) -> int:
    from analysis.analyze import analyze, format_report, write_json

    report = analyze(
        args.path,
        reference=args.reference,
        metric=args.metric,
        correction=args.correction,
        seed=args.seed,
        n_resamples=args.resamples,
        out_dir=args.out,
    )
    sys.stdout.write(format_report(report))
    if args.json:
        print(f"wrote {write_json(report, args.json)}")
    return 0
