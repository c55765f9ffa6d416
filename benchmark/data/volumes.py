"""Volumes and datasets: the image/label arrays every instance trains and is scored on.

Axis order is (z, x, y) throughout. Images are float32 normalized to mean 0 / sd 1 per volume
(paper, "Neural architectures and ensembling"); labels are ``LABEL_DTYPE`` (int32) class ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from benchmark.data.platelet import PLATELET_CLASSES, PLATELET_ORG_CLASSES

__all__ = [
    "DataError",
    "Dataset",
    "LABEL_DTYPE",
    "Volume",
    "check_window_fits",
    "class_shares",
    "normalize",
]

# Labels are stored as int32: compact, and (unlike uint8) never mistaken for a boolean mask when
# used as an index tensor in torch.
LABEL_DTYPE = np.int32


class DataError(ValueError):
    """Bad input data; the message names the file and the problem."""


def normalize(image: np.ndarray, name: str = "image") -> np.ndarray:
    """float32 copy of ``image`` with mean 0 and sd 1.

    The statistics and the shift are computed in float64, so images with values beyond float32's
    range (a float64 volume in raw detector units, say) normalize correctly.

    Raises:
        DataError: the image is constant (nothing to segment) or holds NaN/infinite values;
            the message starts with ``name``.
    """
    image = np.asarray(image)
    wide = image.astype(np.float64) if image.dtype != np.float64 else image
    mean = float(wide.mean())
    sd = float(wide.std())
    if not (np.isfinite(mean) and np.isfinite(sd)):
        raise DataError(f"{name}: the image holds NaN or infinite values")
    if sd == 0:
        raise DataError(
            f"{name}: the image is constant (every voxel is {wide.flat[0]:g}); there is nothing "
            "to segment"
        )
    return ((wide - mean) / sd).astype(np.float32)


@dataclass(frozen=True)
class Volume:
    """One labeled image volume.

    Attributes:
        image: float32 ``(z, x, y)``, normalized to mean 0 / sd 1.
        labels: integer ``(z, x, y)`` class ids in ``[0, n_classes)`` (``LABEL_DTYPE`` from the
            loaders and the phantom).
        name: where it came from (file path or ``phantom:train:seed``), used in messages.
        voxel_size: (z, x, y) in nanometres.
        labeled: optional boolean ``(z, x, y)`` mask of voxels that carry labels (the paper's test
            volume labels a single cell); None means every voxel is labeled.
    """

    image: np.ndarray
    labels: np.ndarray
    name: str
    voxel_size: tuple[float, float, float] = (40.0, 10.0, 10.0)
    labeled: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.image.shape)  # type: ignore[return-value]


@dataclass(frozen=True)
class Dataset:
    """Train, eval and (optional) test volumes with a shared class schema.

    Attributes:
        train, eval, test: the volumes; ``test`` may be None.
        class_names: one name per class id.
        org_classes: the class ids MIoU(org) averages over (2..6 for platelets).
        name: short description (``phantom``, ``platelet-em:/data/dir``, ...).
    """

    train: Volume
    eval: Volume
    test: Volume | None
    class_names: tuple[str, ...] = PLATELET_CLASSES
    org_classes: tuple[int, ...] = PLATELET_ORG_CLASSES
    name: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def volumes(self) -> dict[str, Volume]:
        out = {"train": self.train, "eval": self.eval}
        if self.test is not None:
            out["test"] = self.test
        return out


def check_window_fits(dataset: Dataset, window: Sequence[int]) -> None:
    """Raises DataError when ``window`` (z, x, y) is larger than a volume along any axis."""
    for split, volume in dataset.volumes().items():
        if any(w > s for w, s in zip(window, volume.shape)):
            raise DataError(
                f"{volume.name}: the {split} volume {volume.shape} is smaller than the window {tuple(window)}"
            )


def class_shares(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Fraction of voxels per class id, float64 ``(n_classes,)``."""
    counts = np.bincount(np.asarray(labels).ravel(), minlength=n_classes)[:n_classes]
    return counts / max(int(np.asarray(labels).size), 1)
