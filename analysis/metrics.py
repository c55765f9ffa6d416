"""Segmentation metrics from a confusion matrix: per-class IoU and MIoU over class subsets.

IoU(A, B) = |A n B| / |A u B| per class (paper, "Validation and performance metrics");
MIoU^(D) is the mean over the classes in D. A class absent from both segmentations has no IoU
(0/0); it is left out of the mean rather than counted as 0 or 1, and reported as NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SegmentationScores",
    "confusion_matrix",
    "iou_per_class",
    "mean_iou",
    "score_confusion",
    "score_segmentations",
]


def confusion_matrix(
    truth: np.ndarray, prediction: np.ndarray, n_classes: int, mask: np.ndarray | None = None
) -> np.ndarray:
    """``(n_classes, n_classes)`` int64 counts; rows are true classes, columns predicted ones.

    Args:
        truth: integer labels, any shape.
        prediction: integer labels, same shape.
        n_classes: number of classes; labels must lie in ``[0, n_classes)``.
        mask: optional boolean array of the same shape; only True voxels count.
    """
    truth = np.asarray(truth)
    prediction = np.asarray(prediction)
    if truth.shape != prediction.shape:
        raise ValueError(f"truth {truth.shape} and prediction {prediction.shape} differ in shape")
    if mask is not None:
        truth, prediction = truth[mask], prediction[mask]
    t = truth.ravel().astype(np.int64)
    p = prediction.ravel().astype(np.int64)
    for name, arr in (("truth", t), ("prediction", p)):
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(
                f"{name} labels {int(arr.min())}..{int(arr.max())} lie outside 0..{n_classes - 1}"
            )
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """IoU per class from a confusion matrix; NaN where a class is in neither segmentation."""
    cm = np.asarray(confusion, dtype=np.float64)
    intersection = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)


def mean_iou(confusion: np.ndarray, classes: Sequence[int] | None = None) -> float:
    """MIoU over ``classes`` (all classes when None), ignoring classes with no IoU."""
    iou = iou_per_class(confusion)
    if classes is not None:
        iou = iou[list(classes)]
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


@dataclass(frozen=True)
class SegmentationScores:
    """MIoU over all classes and over the organelle subset, and IoU per class."""

    miou_all: float
    miou_org: float
    iou: tuple[float, ...]

    def as_dict(
        self, prefix: str = "", class_names: Sequence[str] | None = None
    ) -> dict[str, float]:
        names = class_names or [str(i) for i in range(len(self.iou))]
        out = {f"{prefix}miou_all": self.miou_all, f"{prefix}miou_org": self.miou_org}
        out.update({f"{prefix}iou_{n}": v for n, v in zip(names, self.iou)})
        return out


def score_confusion(confusion: np.ndarray, org_classes: Sequence[int]) -> SegmentationScores:
    """Scores from a confusion matrix; ``org_classes`` is the organelle subset (2..6 for platelets)."""
    return SegmentationScores(
        miou_all=mean_iou(confusion),
        miou_org=mean_iou(confusion, org_classes),
        iou=tuple(float(v) for v in iou_per_class(confusion)),
    )


def score_segmentations(
    truth: np.ndarray,
    prediction: np.ndarray,
    n_classes: int,
    org_classes: Sequence[int],
    mask: np.ndarray | None = None,
) -> SegmentationScores:
    """Scores of a predicted segmentation against the truth (or between two annotators)."""
    return score_confusion(confusion_matrix(truth, prediction, n_classes, mask), org_classes)
