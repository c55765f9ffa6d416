"""Argument types and option groups that several sub-commands share."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = [
    "add_cluster_options",
    "add_design_options",
    "add_results_location",
    "add_data_arguments",
    "add_profile_option",
    "add_statistics_options",
    "add_table_options",
    "data_options",
    "parse_option",
    "parse_window",
    "non_negative_int",
    "positive_int",
    "statistics_kwargs",
    "table_kwargs",
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


def _int_at_least(minimum: int, words: str):
    """An argparse type: an integer >= ``minimum``, described as ``words`` in its error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}")
        return value

    return parse


#: argparse types: an integer >= 1, an integer >= 0.
positive_int = _int_at_least(1, "a positive integer")
non_negative_int = _int_at_least(0, "an integer >= 0")


def add_results_location(p: argparse.ArgumentParser, what: str, name_help: str) -> None:
    """--name, --resume and --results of the commands that write a run or a search folder."""
    p.add_argument("--name", help=name_help)
    p.add_argument(
        "--resume",
        action="store_true",
        help=f"continue the {what} --name (default: the latest one)",
    )
    p.add_argument(
        "--results", default="results", metavar="DIR", help="results root (default results/)"
    )


#: SequentialDesign's defaults, repeated here so that ``--help`` does not import scipy (a test
#: checks that the two agree).
DESIGN_DEFAULTS = dict(min_seeds=5, max_seeds=26, round_size=3, alpha=0.05)


def add_design_options(g: Any, from_run: bool = False) -> None:
    """--min-seeds, --max-seeds, --round, --min-effect and --alpha of a sequential design
    (``analysis.sequential.SequentialDesign``, whose defaults they show); ``from_run`` leaves them
    unset so that a run's stored design fills them in."""
    from analysis.sequential import SequentialDesign

    base = SequentialDesign()
    d = (
        {}
        if from_run
        else {k: getattr(base, k) for k in ("min_seeds", "max_seeds", "round_size", "alpha")}
    )

    def default(key: str, text: str) -> str:
        if from_run:
            return f"{text} (default: the run's, else {getattr(base, key)})"
        return f"{text} (default {d[key]})"

    g.add_argument(
        "--min-seeds", type=positive_int, default=d.get("min_seeds"),
        help=default("min_seeds", "seeds of the first look"),
    )  # fmt: skip
    g.add_argument(
        "--max-seeds", type=positive_int, default=d.get("max_seeds"),
        help=default("max_seeds", "most seeds per architecture (the last look)"),
    )  # fmt: skip
    g.add_argument(
        "--round", type=positive_int, default=d.get("round_size"),
        help=default("round_size", "seeds added per round"),
    )  # fmt: skip
    g.add_argument(
        "--min-effect",
        type=float,
        metavar="D",
        help="futility margin: a comparison whose interval excludes differences larger than D "
        "is decided as 'no difference as large as D' (default: none)",
    )
    g.add_argument(
        "--alpha", type=float, default=d.get("alpha"), help=default("alpha", "family-wise level")
    )


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


def add_statistics_options(p: argparse.ArgumentParser, tables: bool = False) -> None:
    """--reference, --metric, --correction, --bootstrap-seed and --resamples of ``analyze`` and
    ``report``; with ``tables`` also how to read any table and which way the metric points
    (:func:`add_table_options`)."""
    p.add_argument(
        "--reference",
        metavar="ARCH",
        help="architecture compared with all others (default: 2d3d_3x3x3 if present, else the first)",
    )
    p.add_argument(
        "--metric",
        metavar="COLUMN",
        help="score column to compare, any numeric column (default: eval_miou_all, else the "
        "table's only metric column)",
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
    if tables:
        add_table_options(p)


#: ``analysis.adapters.FORMATS`` (not imported: ``--help`` stays free of pandas).
TABLE_FORMATS = ("auto", "wide", "long", "tune", "optuna")


def add_table_options(p: argparse.ArgumentParser, comparisons: bool = True) -> None:
    """How to read any results table and the metric's direction (``analyze``, ``plan-seeds``):
    --architecture-column, --seed-column, --format, --higher-is-better / --lower-is-better,
    --unpaired; with ``comparisons`` also --allow-mixed-identities and --post-hoc."""
    g = p.add_argument_group("any table (docs: analysis/adapters.py)")
    g.add_argument(
        "--architecture-column",
        default="architecture",
        metavar="NAME",
        help="column naming the architecture (default: architecture; else arch, model, method "
        "or network when the table has exactly one of them)",
    )
    g.add_argument(
        "--seed-column",
        default="seed",
        metavar="NAME",
        help="column holding the integer seed (default: seed; else run or replicate)",
    )
    g.add_argument(
        "--format",
        choices=TABLE_FORMATS,
        default="auto",
        help="table layout: wide (a column per metric), long (architecture, seed, metric name, "
        "value), tune (Ray Tune results, config/ columns), optuna (trials_dataframe: params_, "
        "value, state); default auto: detected, and said",
    )
    direction = g.add_mutually_exclusive_group()
    direction.add_argument(
        "--higher-is-better",
        dest="higher_is_better",
        action="store_true",
        default=None,
        help="the metric is a score (default, except for names such as loss, error, distance, "
        "hausdorff, hd95)",
    )
    direction.add_argument(
        "--lower-is-better",
        dest="higher_is_better",
        action="store_false",
        help="the metric is a loss or a distance: verdicts, best of k, ranks and Table 1 flip",
    )
    g.add_argument(
        "--unpaired",
        action="store_true",
        help="compare independent samples over all seeds (default: paired on the shared seeds)",
    )
    if not comparisons:
        return
    g.add_argument(
        "--allow-mixed-identities",
        action="store_true",
        help="pool rows of one architecture trained under different configurations (identity "
        "column) instead of refusing",
    )
    g.add_argument(
        "--post-hoc",
        choices=("nemenyi", "wilcoxon-holm"),
        default="nemenyi",
        help="post-hoc comparison after the Friedman test (3+ architectures; default: nemenyi)",
    )


def table_kwargs(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``analyze`` / ``plan_run`` that :func:`add_table_options` parsed
    (only those it added)."""
    keys = dict(
        architecture_column="architecture_col",
        seed_column="seed_col",
        format="format",
        higher_is_better="higher_is_better",
        allow_mixed_identities="allow_mixed_identities",
        post_hoc="post_hoc",
    )
    out = {key: getattr(args, name) for name, key in keys.items() if hasattr(args, name)}
    if hasattr(args, "unpaired"):
        out["paired"] = False if args.unpaired else None
    return out


def statistics_kwargs(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``analyze`` / ``build_report`` that ``add_statistics_options``
    parsed: always ``reference, metric, correction, seed, n_resamples``; when the parser also
    has the table options (``add_statistics_options(p, tables=True)``), ``architecture_col,
    seed_col, format, higher_is_better, paired, allow_mixed_identities, post_hoc`` as well (the
    first three are :func:`analysis.io.load_instances`'s, the rest :func:`analysis.analyze.analyze`'s)."""
    return dict(
        reference=args.reference,
        metric=args.metric,
        correction=args.correction,
        seed=args.bootstrap_seed,
        n_resamples=args.resamples,
        **table_kwargs(args),
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
