"""Argument types and option groups that several sub-commands share."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = [
    "add_cluster_options",
    "add_data_arguments",
    "add_profile_option",
    "add_statistics_options",
    "data_options",
    "parse_option",
    "parse_window",
    "positive_int",
    "statistics_kwargs",
]


def parse_window(text: str) -> tuple[int, int, int]:
    """argparse type: a window ``Z,X,Y`` (or ``ZxXxY``) of three positive integers."""
    try:
        parts = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"window must be three integers Z,X,Y, got {text!r}"
        ) from None
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(
            f"window must be three positive integers Z,X,Y, got {text!r}"
        )
    return parts  # type: ignore[return-value]


def parse_option(text: str) -> tuple[str, object]:
    """argparse type: ``key=value`` with the value read as a TOML value when possible (numbers,
    lists, booleans, quoted strings), else kept as the string."""
    import tomllib

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"option must be KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


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
    from benchmark.training.config import PROFILES

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
    """--reference, --metric, --correction, --bootstrap-seed and --resamples of ``analyze`` and ``report``."""
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
        "--bootstrap-seed",
        type=non_negative_int,
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
        seed=args.bootstrap_seed,
        n_resamples=args.resamples,
    )


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The data options shared by ``train``, ``run`` and ``search``."""
    g = parser.add_argument_group("data (default: the built-in phantom)")
    g.add_argument(
        "--data",
        metavar="DIR",
        help="platelet-em layout: images/50-images.tif, images/24-images.tif, labels-semantic/...",
    )
    g.add_argument(
        "--train-image", metavar="PATH", help="training image (TIF, NPY, Zarr, or file.h5:dataset)"
    )
    g.add_argument("--train-labels", metavar="PATH")
    g.add_argument("--eval-image", metavar="PATH")
    g.add_argument("--eval-labels", metavar="PATH")
    g.add_argument("--test-image", metavar="PATH")
    g.add_argument("--test-labels", metavar="PATH")
    g.add_argument(
        "--org-classes", metavar="IDS", help="organelle classes for MIoU(org), e.g. 2,3,4,5,6"
    )
    g.add_argument(
        "--n-classes",
        type=positive_int,
        help="number of classes (default: inferred from the labels)",
    )
    g.add_argument(
        "--color-table",
        metavar="PATH",
        help="JSON/TOML table of label colors -> class ids for RGB labels",
    )
    g.add_argument(
        "--phantom-seed",
        type=non_negative_int,
        default=0,
        help="seed of the built-in phantom (default 0)",
    )


def data_options(args: argparse.Namespace) -> dict[str, Any]:
    """The data options ``add_data_arguments`` parsed, as plain options for
    ``benchmark.data.spec.data_spec_from_options``."""
    from benchmark.data.spec import DATA_OPTION_KEYS

    return {key: getattr(args, key) for key in DATA_OPTION_KEYS}


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value
