"""Datasets from files: :func:`load_volumes` reads any train/eval(/test) volumes and
:func:`load_platelet_dir` the public platelet-em layout. Both validate at load time and raise
:class:`DataError` with one message that names the file and the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmark.data.labels import ColorTable, check_3d, decode_labels, is_color, load_color_table
from benchmark.data.platelet import (
    PLATELET_CLASSES,
    PLATELET_LAYOUT,
    PLATELET_ORG_CLASSES,
    PLATELET_VOXEL_SIZE,
)
from benchmark.data.readers import read_array, read_voxel_size
from benchmark.data.volumes import DataError, Dataset, Volume, normalize

__all__ = ["load_platelet_dir", "load_volumes"]

ArrayLike = str | Path | np.ndarray


def _read_image(source: ArrayLike, name: str) -> np.ndarray:
    array = _load(source)
    check_3d(array, name, "image")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.issubdtype(
        array.dtype, np.complexfloating
    ):
        raise DataError(f"{name}: images must be real numbers, got dtype {array.dtype}")
    if array.size == 0:
        raise DataError(f"{name}: the image volume is empty (shape {tuple(array.shape)})")
    if np.issubdtype(array.dtype, np.floating):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise DataError(f"{name}: the image holds {bad} NaN or infinite voxels")
    return normalize(array, name)


def _check_contiguous_ids(
    labels: dict[str, np.ndarray], names: dict[str, tuple[str, str]], n_classes: int
) -> None:
    """Inferred class ids must all occur: a stray value (a 9 in 0..6 labels) would silently make
    empty classes 7 and 8 part of every MIoU."""
    counts = sum(np.bincount(lab.ravel(), minlength=n_classes)[:n_classes] for lab in labels.values())
    missing = [int(c) for c in np.flatnonzero(counts == 0)]
    if not missing:
        return
    above = {int(c): int(counts[c]) for c in range(missing[0] + 1, n_classes) if counts[c]}
    files = ", ".join(n[1] for n in names.values())
    raise DataError(
        f"{files}: class ids {missing} never occur, but ids above them do "
        f"({', '.join(f'{c} in {n} voxels' for c, n in above.items())}); a stray label value "
        "would make empty classes count in every MIoU. Fix the labels, or pass --n-classes "
        f"{n_classes} (and --org-classes) if the classes are intended"
    )


def _load(source: ArrayLike) -> np.ndarray:
    return read_array(source) if isinstance(source, (str, Path)) else np.asarray(source)


def _source_name(source: ArrayLike, what: str) -> str:
    return str(source) if isinstance(source, (str, Path)) else f"<array {what}>"


def load_volumes(
    train_image: ArrayLike,
    train_labels: ArrayLike,
    eval_image: ArrayLike,
    eval_labels: ArrayLike,
    test_image: ArrayLike | None = None,
    test_labels: ArrayLike | None = None,
    org_classes: Sequence[int] | None = None,
    n_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    color_table: ColorTable | None = None,
    *,
    voxel_size: Sequence[float] | None = None,
    name: str = "",
) -> Dataset:
    """A dataset from generic image/label volumes.

    Args:
        train_image, train_labels, eval_image, eval_labels: file specs for :func:`read_array` (or
            arrays). Images are ``(z, x, y)``; labels are integer ``(z, x, y)`` or RGB(A)
            ``(z, x, y, 3|4)`` colors.
        test_image, test_labels: an optional test pair (both or neither).
        org_classes: class ids MIoU(org) averages over. Default: 2..6 for 7 classes, else every
            class except 0 and 1 when there are more than 2 classes, else all classes.
        n_classes: number of classes. Default: ``len(class_names)`` if given; else the color
            table's largest id + 1 when any labels are colors; else the largest label + 1 over all
            splits.
        class_names: one name per class. Default: the platelet names for 7 classes, else
            ``class0, class1, ...``.
        color_table: see :func:`load_color_table`.
        voxel_size: (z, x, y) nanometres for every volume. Default: each OME-Zarr image's own
            voxel size from its metadata; for other formats the platelet volumes' (40, 10, 10).
        name: the dataset's name; default ``volumes:<train image>``.

    Raises:
        DataError: any bad file or inconsistency, naming the file(s) and the problem.
    """
    if (test_image is None) != (test_labels is None):
        given = _source_name(test_image if test_image is not None else test_labels, "test")
        raise DataError(
            f"{given}: a test volume needs both an image and labels; only one was given"
        )
    pairs = {"train": (train_image, train_labels), "eval": (eval_image, eval_labels)}
    if test_image is not None:
        pairs["test"] = (test_image, test_labels)
    if color_table is not None:
        load_color_table(color_table)  # a bad table is an error even where labels are integers
    voxel = None
    if voxel_size is not None:
        voxel = tuple(float(v) for v in voxel_size)
        if len(voxel) != 3 or not all(v > 0 for v in voxel):
            raise DataError(
                f"voxel_size must be three positive numbers (z, x, y), got {voxel_size!r}"
            )

    images, labels, names, any_color = {}, {}, {}, False
    for split, (image_src, label_src) in pairs.items():
        image_name = _source_name(image_src, f"{split} image")
        label_name = _source_name(label_src, f"{split} labels")
        raw_labels = _load(label_src)
        if raw_labels.size == 0:
            raise DataError(f"{label_name}: the label volume is empty (shape {raw_labels.shape})")
        any_color |= is_color(raw_labels)
        labels[split] = decode_labels(raw_labels, label_name, color_table)
        images[split] = _read_image(image_src, image_name)
        if images[split].shape != labels[split].shape:
            raise DataError(
                f"{image_name} and {label_name}: the {split} image {images[split].shape} and labels "
                f"{labels[split].shape} differ in shape"
            )
        names[split] = (image_name, label_name)

    if n_classes is None:
        if class_names is not None:
            n_classes = len(class_names)
        else:
            n_classes = max(int(lab.max()) + 1 for lab in labels.values())
            if any_color:
                n_classes = max(n_classes, max(load_color_table(color_table)) + 1)
            else:
                _check_contiguous_ids(labels, names, n_classes)
    if n_classes < 1:
        raise DataError(f"n_classes must be >= 1, got {n_classes}")
    for split, lab in labels.items():
        high = int(lab.max())
        if high >= n_classes:
            count = int(np.count_nonzero(lab >= n_classes))
            raise DataError(
                f"{names[split][1]}: {count} label voxels have values up to {high}, outside the class "
                f"ids 0..{n_classes - 1}"
            )
    if class_names is None:
        class_names = (
            PLATELET_CLASSES if n_classes == 7 else tuple(f"class{i}" for i in range(n_classes))
        )
    class_names = tuple(class_names)
    if len(class_names) != n_classes:
        raise DataError(
            f"{len(class_names)} class names given for {n_classes} classes: {class_names}"
        )
    if org_classes is None:
        if n_classes == 7:
            org_classes = PLATELET_ORG_CLASSES
        else:
            org_classes = tuple(range(2, n_classes)) if n_classes > 2 else tuple(range(n_classes))
    org_classes = tuple(int(c) for c in org_classes)
    if not org_classes or not all(0 <= c < n_classes for c in org_classes):
        raise DataError(
            f"org_classes {org_classes} must be a non-empty subset of 0..{n_classes - 1}"
        )

    volumes = {
        split: Volume(
            image=images[split],
            labels=labels[split],
            name=names[split][0],
            voxel_size=voxel or _metadata_voxel_size(pairs[split][0]) or PLATELET_VOXEL_SIZE,
        )
        for split in pairs
    }
    return Dataset(
        train=volumes["train"],
        eval=volumes["eval"],
        test=volumes.get("test"),
        class_names=class_names,
        org_classes=org_classes,
        name=name or f"volumes:{names['train'][0]}",
        metadata={
            "sources": {split: {"image": n[0], "labels": n[1]} for split, n in names.items()}
        },
    )


def _metadata_voxel_size(source: ArrayLike) -> tuple[float, float, float] | None:
    """The (z, x, y) voxel size in nanometres an OME-Zarr image's metadata give, else None."""
    if not isinstance(source, (str, Path)):
        return None
    size = read_voxel_size(source)
    return size if size is not None and len(size) == 3 else None  # type: ignore[return-value]


def load_platelet_dir(
    path: str | Path,
    color_table: ColorTable | None = None,
    test_image: str | Path | None = None,
    test_labels: str | Path | None = None,
) -> Dataset:
    """The public platelet-em release (Guay et al. 2020) from its directory layout.

    Expects ``images/50-images.tif`` (train), ``images/24-images.tif`` (eval) and
    ``labels-semantic/50-semantic.tif``, ``labels-semantic/24-semantic.tif`` (RGB colors, or integer
    class ids). A test pair is used when given or when ``images/test-images.tif`` and
    ``labels-semantic/test-semantic.tif`` both exist. 7 classes, org classes 2..6, voxels
    (40, 10, 10) nm.

    Raises:
        DataError: the directory or a required file is missing (the message lists what is
            expected), or any file fails :func:`load_volumes`' checks.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: platelet-em directory not found")
    required = [root / p for split in ("train", "eval") for p in PLATELET_LAYOUT[split]]
    missing = [p for p in required if not p.is_file()]
    if missing:
        expected = ", ".join(str(p.relative_to(root)) for p in required)
        raise DataError(
            f"{root}: missing platelet-em files {[str(p.relative_to(root)) for p in missing]}; "
            f"expected {expected}"
        )
    if test_image is None and test_labels is None:
        default_test = [root / p for p in PLATELET_LAYOUT["test"]]
        if all(p.is_file() for p in default_test):
            test_image, test_labels = default_test
    return load_volumes(
        *required,
        test_image=test_image,
        test_labels=test_labels,
        org_classes=PLATELET_ORG_CLASSES,
        n_classes=len(PLATELET_CLASSES),
        class_names=PLATELET_CLASSES,
        color_table=color_table,
        voxel_size=PLATELET_VOXEL_SIZE,
        name=f"platelet-em:{root}",
    )
