"""``python -m benchmark report RUN_DIR``: the run's results as one self-contained HTML page."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmark.cli.options import add_statistics_options, statistics_kwargs

__all__ = ["cmd_report", "register"]


def register(
    subparsers: argparse._SubParsersAction, common_parent: argparse.ArgumentParser
) -> None:
    """Adds the ``report`` sub-command."""
    p = subparsers.add_parser(
        "report",
        parents=[common_parent],
        help="interactive HTML report of a run (works offline)",
        description=(
            "Writes one self-contained HTML file (plotly.js embedded) with the run's metadata, "
            "Table 1, performance distributions, comparisons, ensemble and best-of-k curves, the "
            "power table, training curves, IoU per class and a slice viewer of the best ensembles. "
            "Sections whose inputs are missing are replaced by a note."
        ),
    )
    p.add_argument("path", metavar="RUN_DIR", help="run directory (or a .csv/.parquet table)")
    p.add_argument(
        "--out", metavar="PATH", help="HTML file to write (default: RUN_DIR/report.html)"
    )
    add_statistics_options(p, tables=True)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from analysis.derived import stale_outputs
    from analysis.report import build_report

    started = time.perf_counter()
    run_dir = Path(args.path)
    if run_dir.is_dir() and "ensembles" in stale_outputs(run_dir):
        from benchmark.inference.ensembles import run_ensembles

        print(f"{stale_outputs(run_dir)['ensembles']}: rebuilding the ensembles", flush=True)
        run_ensembles(run_dir, log=lambda line: None)
    path = build_report(
        args.path,
        args.out,
        **statistics_kwargs(args),
    )
    size = path.stat().st_size / 1e6
    print(f"wrote {path} ({size:.1f} MB, {time.perf_counter() - started:.1f} s)")
    return 0
