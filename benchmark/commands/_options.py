"""Argument types and option groups that several sub-commands share."""

from __future__ import annotations

import argparse

__all__ = [
    "add_cluster_options",
    "add_profile_option",
    "add_statistics_options",
    "positive_int",
    "statistics_kwargs",
]


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_profile_option(p: argparse.ArgumentParser, default: str | None, help: str) -> None:
    """--profile: a training profile of ``benchmark.config`` or ``auto``."""
    from benchmark.config import PROFILES

    p.add_argument("--profile", default=default, choices=["auto", *PROFILES], help=help)


def add_cluster_options(
    p: argparse.ArgumentParser, unit: str, max_concurrent_default: str, retried: str
) -> None:
    """--address, --cpus-per-trial, --gpus-per-trial, --max-concurrent and --max-failures of the
    commands that run on Ray (``run``: a unit is an instance; ``search``: one seed of a
    candidate). ``retried`` says what Ray retries."""
    p.add_argument(
        "--address",
        help="existing Ray cluster, e.g. auto or HOST:6379 (default: $RAY_ADDRESS, else a local Ray)",
    )
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help=f"CPUs per {unit} (default 1)")
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        help=f"GPU fraction per {unit} (default: as many per GPU as memory allows)",
    )
    p.add_argument(
        "--max-concurrent",
        type=int,
        help=f"at most this many {unit}s at once (default: {max_concurrent_default})",
    )
    p.add_argument(
        "--max-failures",
        type=int,
        default=2,
        help=f"retries of {retried} before it is recorded as failed (default 2)",
    )


def add_statistics_options(p: argparse.ArgumentParser) -> None:
    """--reference, --metric, --correction, --seed and --resamples of ``analyze`` and ``report``."""
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
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of every bootstrap/permutation stream (default: 0)",
    )
    p.add_argument(
        "--resamples",
        type=positive_int,
        default=10_000,
        metavar="N",
        help="bootstrap and permutation resamples (default: 10000)",
    )


def statistics_kwargs(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``analyze`` / ``build_report`` that ``add_statistics_options``
    parsed."""
    return dict(
        reference=args.reference,
        metric=args.metric,
        correction=args.correction,
        seed=args.seed,
        n_resamples=args.resamples,
    )
