"""Argument types and option groups that several sub-commands share."""

from __future__ import annotations

import argparse

__all__ = ["add_statistics_options", "positive_int"]


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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
