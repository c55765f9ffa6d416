"""A small, serializable description of where a run's data come from.

Sweeps ship a ``DataSpec`` (not arrays) to their workers; each worker process loads the dataset
once (``load_data`` memoizes), so the phantom's disk cache or the user's files are read once per
process however many instances it trains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmark.data.volumes import Dataset

__all__ = [
    "DATA_OPTION_KEYS",
    "DataSpec",
    "absolute_path",
    "data_options_given",
    "data_spec_from_options",
    "data_spec_from_suite",
    "load_data",
    "parse_class_list",
]


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
    # The phantom's size: ``quick`` or ``paper``; None until the training planner sets it from
    # the resolved profile (files ignore it).
    profile: str | None = None
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

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DataSpec:
        """The inverse of :meth:`to_dict` (lists from JSON become tuples)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

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
        from benchmark.data.phantom import PROFILES, phantom_dataset

        if spec.profile not in PROFILES:
            raise ValueError(
                f"the phantom's size is {spec.profile!r}; choose one of {sorted(PROFILES)} "
                "(the training planner sets it from the resolved profile)"
            )

        sizes = {}
        for split in ("train", "eval", "test"):
            z, x, y = PROFILES[spec.profile][split]
            if max(x, y) < spec.min_xy:
                sizes[split] = (z, max(x, spec.min_xy), max(y, spec.min_xy))
        dataset = phantom_dataset(
            spec.profile, seed=spec.seed, cache_dir=Path(spec.cache_dir), **sizes
        )
    elif spec.kind == "platelet":
        from benchmark.data.loaders import load_platelet_dir

        dataset = load_platelet_dir(
            spec.data_dir,
            color_table=spec.color_table,
            test_image=spec.test_image,
            test_labels=spec.test_labels,
        )
    elif spec.kind == "volumes":
        from benchmark.data.loaders import load_volumes

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


#: The keys of plain data options (the CLI's data flags with underscores; a suite's ``[data]``).
DATA_OPTION_KEYS = (
    "data",
    *VOLUME_FIELDS,
    "org_classes",
    "n_classes",
    "color_table",
    "phantom_seed",
)


def data_options_given(options: Mapping[str, Any]) -> bool:
    """Whether ``options`` name any data (they then win over a suite's ``[data]`` table)."""
    return any(options.get(k) not in (None, "", 0) for k in DATA_OPTION_KEYS if k != "n_classes")


def parse_class_list(value: Any, name: str = "--org-classes") -> tuple[int, ...] | None:
    """``"2,3,4"`` or ``[2, 3, 4]`` -> ``(2, 3, 4)``; None stays None; anything else is an error
    naming ``name``."""
    if value is None or value == "":
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        out = tuple(int(str(v).strip()) for v in items if str(v).strip() != "")
    except ValueError:
        raise ValueError(f"{name} takes class ids like 2,3,4, got {value!r}") from None
    if not out or min(out) < 0:
        raise ValueError(f"{name} takes non-negative class ids like 2,3,4, got {value!r}")
    return out


def data_spec_from_options(options: Mapping[str, Any], profile: str | None = None) -> DataSpec:
    """The spec that plain data options describe, after checking that they go together.

    Args:
        options: any of :data:`DATA_OPTION_KEYS` (missing keys count as not given).
        profile: the phantom's size (``quick`` or ``paper``); None leaves it to the training
            planner, which sizes the phantom for the resolved profile.
    """
    unknown = sorted(set(options) - set(DATA_OPTION_KEYS))
    if unknown:
        raise ValueError(
            f"unknown data option(s) {', '.join(map(repr, unknown))}; known: {', '.join(DATA_OPTION_KEYS)}"
        )
    get = options.get
    generic = [get(k) for k in ("train_image", "train_labels", "eval_image", "eval_labels")]
    org = parse_class_list(get("org_classes"))
    n_classes = get("n_classes")
    if n_classes is not None and (not isinstance(n_classes, int) or n_classes < 1):
        raise ValueError(f"--n-classes must be a positive integer, got {n_classes!r}")
    if get("data") and any(generic):
        raise ValueError(
            "give either --data DIR or --train-image/--train-labels/--eval-image/--eval-labels, not both"
        )
    if any(generic) and not all(generic):
        flags = ["--train-image", "--train-labels", "--eval-image", "--eval-labels"]
        missing = [f for f, v in zip(flags, generic) if not v]
        raise ValueError(
            f"generic volumes need all four of {' '.join(flags)}; missing {' '.join(missing)}"
        )
    if bool(get("test_image")) != bool(get("test_labels")):
        raise ValueError("--test-image and --test-labels go together")
    if get("test_image") and not (get("data") or all(generic)):
        raise ValueError(
            "--test-image/--test-labels add a test volume to --data or to the generic volumes; "
            "the built-in phantom has its own"
        )
    common = dict(
        test_image=get("test_image"),
        test_labels=get("test_labels"),
        org_classes=org,
        n_classes=n_classes,
        color_table=get("color_table"),
    )
    if get("data"):
        return DataSpec(kind="platelet", profile=profile, data_dir=get("data"), **common)
    if all(generic):
        return DataSpec(
            kind="volumes",
            profile=profile,
            train_image=get("train_image"),
            train_labels=get("train_labels"),
            eval_image=get("eval_image"),
            eval_labels=get("eval_labels"),
            **common,
        )
    seed = get("phantom_seed") or 0
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"--phantom-seed must be a non-negative integer, got {seed!r}")
    if org is not None or n_classes is not None or get("color_table"):
        raise ValueError(
            "--org-classes, --n-classes and --color-table describe your own data; "
            "the built-in phantom has its own classes"
        )
    return DataSpec(kind="phantom", profile=profile, seed=seed)


def data_spec_from_suite(
    values: Mapping[str, Any], base_dir: str | Path, profile: str | None = None
) -> DataSpec:
    """The spec of a suite file's ``[data]`` table (keys as :data:`DATA_OPTION_KEYS`).

    Relative paths are relative to the suite file's folder ``base_dir``.
    """
    options = dict(values)
    for key in ("data", *VOLUME_FIELDS, "color_table"):
        if isinstance(options.get(key), str):
            options[key] = str(Path(base_dir) / options[key])
    try:
        return data_spec_from_options(options, profile)
    except ValueError as exc:
        raise ValueError(f"suite [data]: {exc}") from None
