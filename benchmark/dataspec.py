"""A small, serializable description of where a run's data come from.

Sweeps ship a ``DataSpec`` (not arrays) to their workers; each worker process loads the dataset
once (``load_data`` memoizes), so the phantom's disk cache or the user's files are read once per
process however many instances it trains.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmark.data import Dataset

__all__ = ["DataSpec", "add_data_arguments", "data_spec_from_args", "load_data"]


# The fields of a DataSpec that name the generic volumes, and all those that name files or folders.
VOLUME_FIELDS = (
    "train_image",
    "train_labels",
    "eval_image",
    "eval_labels",
    "test_image",
    "test_labels",
)
PATH_FIELDS = ("data_dir", *VOLUME_FIELDS, "color_table", "cache_dir")


def absolute_path(value: str | Path) -> str:
    """``value`` made absolute, keeping an HDF5 ``file.h5:dataset`` suffix as it is."""
    text = str(value)
    if ":" in text and not Path(text).exists():
        head, tail = text.rsplit(":", 1)
        return f"{Path(head).resolve()}:{tail}"
    return str(Path(text).resolve())


@dataclass(frozen=True)
class DataSpec:
    """``kind`` is ``phantom`` (built-in), ``platelet`` (``--data DIR``) or ``volumes`` (generic)."""

    kind: str = "phantom"
    profile: str = "quick"
    seed: int = 0
    data_dir: str | None = None
    train_image: str | None = None
    train_labels: str | None = None
    eval_image: str | None = None
    eval_labels: str | None = None
    test_image: str | None = None
    test_labels: str | None = None
    org_classes: tuple[int, ...] | None = None
    n_classes: int | None = None
    color_table: str | None = None
    cache_dir: str = "results/.cache"
    min_xy: int = 0  # phantom only: grow x,y to at least this (suites with large windows)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def absolute(self) -> DataSpec:
        """The same spec with every path absolute (workers may run in other folders)."""
        from dataclasses import replace

        changes = {
            key: absolute_path(getattr(self, key)) for key in PATH_FIELDS if getattr(self, key)
        }
        return replace(self, **changes)

    def describe(self) -> str:
        if self.kind == "phantom":
            return f"built-in phantom ({self.profile} size, seed {self.seed})"
        if self.kind == "platelet":
            return f"platelet-em volumes in {self.data_dir}"
        return f"volumes {self.train_image} (train), {self.eval_image} (eval)" + (
            f", {self.test_image} (test)" if self.test_image else ""
        )


_LOADED: dict[DataSpec, Dataset] = {}


def load_data(spec: DataSpec) -> Dataset:
    """The dataset ``spec`` describes; memoized per process."""
    if spec in _LOADED:
        return _LOADED[spec]
    if spec.kind == "phantom":
        from benchmark.phantom import PROFILES, phantom_dataset

        sizes = {}
        for split in ("train", "eval", "test"):
            z, x, y = PROFILES[spec.profile][split]
            if max(x, y) < spec.min_xy:
                sizes[split] = (z, max(x, spec.min_xy), max(y, spec.min_xy))
        dataset = phantom_dataset(
            spec.profile, seed=spec.seed, cache_dir=Path(spec.cache_dir), **sizes
        )
    elif spec.kind == "platelet":
        from benchmark.data import load_platelet_dir

        dataset = load_platelet_dir(
            spec.data_dir,
            color_table=spec.color_table,
            test_image=spec.test_image,
            test_labels=spec.test_labels,
        )
    elif spec.kind == "volumes":
        from benchmark.data import load_volumes

        dataset = load_volumes(
            spec.train_image,
            spec.train_labels,
            spec.eval_image,
            spec.eval_labels,
            test_image=spec.test_image,
            test_labels=spec.test_labels,
            org_classes=spec.org_classes,
            n_classes=spec.n_classes,
            color_table=spec.color_table,
        )
    else:
        raise ValueError(f"unknown data kind {spec.kind!r}")
    _LOADED.clear()
    _LOADED[spec] = dataset
    return dataset


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
        "--n-classes", type=int, help="number of classes (default: inferred from the labels)"
    )
    g.add_argument(
        "--color-table",
        metavar="PATH",
        help="JSON/TOML table of label colors -> class ids for RGB labels",
    )
    g.add_argument(
        "--phantom-seed", type=int, default=0, help="seed of the built-in phantom (default 0)"
    )


def data_spec_from_args(args: argparse.Namespace, profile: str) -> DataSpec:
    """Validates the combination of data options and returns the spec."""
    generic = [args.train_image, args.train_labels, args.eval_image, args.eval_labels]
    org = tuple(int(c) for c in args.org_classes.split(",")) if args.org_classes else None
    if args.data and any(generic):
        raise ValueError(
            "give either --data DIR or --train-image/--train-labels/--eval-image/--eval-labels, not both"
        )
    if any(generic) and not all(generic):
        missing = [
            n
            for n, v in zip(
                ["--train-image", "--train-labels", "--eval-image", "--eval-labels"], generic
            )
            if not v
        ]
        raise ValueError(
            f"generic volumes need all four of --train-image --train-labels --eval-image --eval-labels; missing {' '.join(missing)}"
        )
    if bool(args.test_image) != bool(args.test_labels):
        raise ValueError("--test-image and --test-labels go together")
    if args.test_image and not (args.data or all(generic)):
        raise ValueError(
            "--test-image/--test-labels add a test volume to --data or to the generic volumes; "
            "the built-in phantom has its own"
        )
    common = dict(
        test_image=args.test_image,
        test_labels=args.test_labels,
        org_classes=org,
        n_classes=args.n_classes,
        color_table=args.color_table,
    )
    if args.data:
        return DataSpec(kind="platelet", profile=profile, data_dir=args.data, **common)
    if all(generic):
        return DataSpec(
            kind="volumes",
            profile=profile,
            train_image=args.train_image,
            train_labels=args.train_labels,
            eval_image=args.eval_image,
            eval_labels=args.eval_labels,
            **common,
        )
    return DataSpec(kind="phantom", profile=profile, seed=args.phantom_seed)


_SUITE_DATA_KEYS = (
    "data",
    *VOLUME_FIELDS,
    "org_classes",
    "n_classes",
    "color_table",
    "phantom_seed",
)


def data_options_given(args: argparse.Namespace) -> bool:
    """Whether the command line names data (it then wins over a suite's ``[data]`` table)."""
    return bool(args.data or any(getattr(args, k) for k in VOLUME_FIELDS) or args.phantom_seed)


def data_spec_from_suite(values: dict[str, Any], base_dir: str | Path, profile: str) -> DataSpec:
    """The spec of a suite file's ``[data]`` table (keys as the CLI options, underscores).

    Relative paths are relative to the suite file's folder ``base_dir``; ``org_classes`` may be
    a list or a comma-separated string.
    """
    unknown = sorted(set(values) - set(_SUITE_DATA_KEYS))
    if unknown:
        raise ValueError(
            f"unknown data key(s) {', '.join(map(repr, unknown))} in suite [data]; "
            f"known: {', '.join(_SUITE_DATA_KEYS)}"
        )
    ns = argparse.Namespace(**(dict.fromkeys(_SUITE_DATA_KEYS) | {"phantom_seed": 0}))
    for key, value in values.items():
        if key == "org_classes" and isinstance(value, (list, tuple)):
            value = ",".join(str(int(c)) for c in value)
        elif key in ("data", *VOLUME_FIELDS, "color_table") and isinstance(value, str):
            value = str(Path(base_dir) / value)
        setattr(ns, key, value)
    return data_spec_from_args(ns, profile)
