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
    "dataset_fingerprint",
    "file_fingerprint",
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


    def fingerprint(self) -> dict[str, Any]:
        """What identifies these data: the phantom's generating parameters, or each file's path,
        size, modification time and a content hash of a sample of its bytes."""
        if self.kind == "phantom":
            from benchmark.data.phantom import GENERATOR_VERSION

            return {
                "kind": "phantom",
                "generator": GENERATOR_VERSION,
                "size": self.profile,
                "seed": self.seed,
                "min_xy": self.min_xy,
            }
        files = {key: getattr(self, key) for key in (*VOLUME_FIELDS, "color_table")}
        if self.kind == "platelet":
            from benchmark.data.platelet import PLATELET_LAYOUT

            root = Path(self.data_dir or ".")
            for split in ("train", "eval", "test"):
                for key, rel in zip(("image", "labels"), PLATELET_LAYOUT[split]):
                    if (root / rel).exists() and not files.get(f"{split}_{key}"):
                        files[f"{split}_{key}"] = str(root / rel)
        out: dict[str, Any] = {"kind": self.kind}
        out["files"] = {k: file_fingerprint(v) for k, v in sorted(files.items()) if v}
        out["org_classes"] = list(self.org_classes) if self.org_classes else None
        out["n_classes"] = self.n_classes
        return out


def file_fingerprint(spec: str | Path, sample_bytes: int = 1 << 20) -> dict[str, Any]:
    """Path, size, modification time and the SHA-256 of up to three ``sample_bytes`` pieces (start,
    middle, end) of a file; a folder (Zarr) is fingerprinted by its files' names, sizes and
    times. An HDF5 ``file.h5:dataset`` suffix is kept in the path."""
    import hashlib

    from benchmark.data.readers import split_spec

    path, key = split_spec(spec)
    record: dict[str, Any] = {"path": str(spec)}
    if not path.exists():
        record["missing"] = True
        return record
    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            st = f.stat()
            digest.update(f"{f.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}".encode())
        record.update(size=sum(f.stat().st_size for f in files), mtime=path.stat().st_mtime_ns)
    else:
        st = path.stat()
        with open(path, "rb") as handle:
            for offset in sorted({0, max(0, st.st_size // 2), max(0, st.st_size - sample_bytes)}):
                handle.seek(offset)
                digest.update(handle.read(sample_bytes))
        record.update(size=st.st_size, mtime=st.st_mtime_ns)
    record["sample_sha256"] = digest.hexdigest()[:16]
    return record


def dataset_fingerprint(dataset: Dataset) -> dict[str, Any]:
    """The fingerprint ``load_data`` attached to ``dataset``; for a dataset built in Python, a
    content hash of its arrays (computed once and kept in its metadata)."""
    import hashlib

    import numpy as np

    if "fingerprint" not in dataset.metadata:
        digest = hashlib.sha256()
        for split, volume in dataset.volumes().items():
            digest.update(f"{split}:{volume.image.shape}".encode())
            digest.update(np.ascontiguousarray(volume.image).tobytes())
            digest.update(np.ascontiguousarray(volume.labels).tobytes())
            if volume.labeled is not None:
                digest.update(np.ascontiguousarray(volume.labeled).tobytes())
        dataset.metadata["fingerprint"] = {
            "kind": "arrays",
            "name": dataset.name,
            "sha256": digest.hexdigest()[:16],
            "class_names": list(dataset.class_names),
            "org_classes": list(dataset.org_classes),
        }
    return dataset.metadata["fingerprint"]


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
    dataset.metadata["fingerprint"] = spec.fingerprint()
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
