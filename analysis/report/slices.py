"""The slice viewer's data: downsampled z slices of the eval/test volumes as PNG data URIs.

The run's ``ensembles/predictions.npz`` holds each volume's image, labels and every
architecture's best-ensemble segmentation; :func:`slice_stacks` turns them into a few dozen small
images per volume (gray image, labels and predictions in the data set's class colors, error maps).
The page's script (``templates/page.js``) swaps them as the z slider moves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from analysis.platelet import PLATELET_COLORS
from analysis.report.png import png_data_uri

__all__ = ["ERROR_PALETTE", "SliceStack", "class_palette", "slice_stacks"]

#: Colors of classes beyond the platelet-em ones (cycled).
_EXTRA_COLORS = ((148, 103, 189), (140, 86, 75), (188, 189, 34), (23, 190, 207), (227, 119, 194))
#: Error map: right (gray), wrong (red), unlabeled (index 2, transparent).
ERROR_PALETTE: tuple[tuple[int, int, int], ...] = ((96, 96, 96), (235, 40, 40), (0, 0, 0))


@dataclass(frozen=True)
class SliceStack:
    """Downsampled z slices of one volume (eval or test) as PNG data URIs, for the slice viewer.

    Attributes:
        split: "eval" or "test".
        z: original z index of each slice shown.
        shape: ``(z, x, y)`` of the full volume; ``step`` is the x/y downsampling factor.
        image, truth: one data URI per slice (gray image; labels in :func:`class_palette`).
        predictions, errors: per architecture, its best ensemble's segmentation and error map
            (red: wrong class, gray: right, transparent: unlabeled).
    """

    split: str
    z: tuple[int, ...]
    shape: tuple[int, int, int]
    step: int
    image: tuple[str, ...]
    truth: tuple[str, ...]
    predictions: Mapping[str, tuple[str, ...]]
    errors: Mapping[str, tuple[str, ...]]


def class_palette(n: int) -> list[tuple[int, int, int]]:
    """RGB colors of class ids ``0 .. n - 1``: the platelet-em colors, then extra ones."""
    base = [PLATELET_COLORS[i] for i in sorted(PLATELET_COLORS)]
    extra = [_EXTRA_COLORS[i % len(_EXTRA_COLORS)] for i in range(max(0, n - len(base)))]
    return (base + extra)[: max(n, 1)]


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Gray values 0..255 between the 0.5 and 99.5 percentiles of the whole volume."""
    x = image.astype(np.float32)
    sample = x.ravel()[:: max(1, x.size // 200_000)]
    sample = sample[np.isfinite(sample)]
    lo, hi = np.percentile(sample, [0.5, 99.5]) if sample.size else (0.0, 1.0)
    scaled = (x - lo) / max(float(hi - lo), 1e-6) * 255
    return np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)


def _shrink_mean(a: np.ndarray, step: int) -> np.ndarray:
    """Block mean over ``step x step`` in the last two axes (edges cropped)."""
    if step == 1:
        return a
    z, x, y = a.shape
    x2, y2 = x // step * step, y // step * step
    blocks = a[:, :x2, :y2].reshape(z, x2 // step, step, y2 // step, step).astype(np.float32)
    return blocks.mean(axis=(2, 4)).round().astype(np.uint8)


def _shrink_nearest(a: np.ndarray, step: int) -> np.ndarray:
    """Every ``step``-th voxel (the block centers) in the last two axes; labels stay labels."""
    if step == 1:
        return a
    z, x, y = a.shape
    x2, y2 = x // step * step, y // step * step
    return a[:, step // 2 : x2 : step, step // 2 : y2 : step]


def slice_stacks(
    predictions: Mapping[str, np.ndarray],
    architectures: Sequence[str],
    *,
    max_side: int = 256,
    max_slices: int = 48,
) -> list[SliceStack]:
    """Slice-viewer data from the arrays of ``ensembles/predictions.npz``.

    Args:
        predictions: ``image__<split>`` (float, ``(z, x, y)``), ``labels__<split>`` (uint8) and
            ``<arch>__<split>`` (uint8 segmentations), optionally ``labeled__<split>`` (bool).
        architectures: architectures whose ``<arch>__<split>`` arrays are used, in this order.
        max_side: largest x/y size shown; larger slices are downsampled by an integer factor.
        max_slices: at most this many z slices, evenly spaced.

    Returns:
        One stack per split (eval, then test) that has an image and labels of the same 3-D shape.
    """
    stacks = []
    for split in ("eval", "test"):
        if f"image__{split}" not in predictions or f"labels__{split}" not in predictions:
            continue
        image = np.asarray(predictions[f"image__{split}"])
        labels = np.asarray(predictions[f"labels__{split}"]).astype(np.uint8)
        if image.ndim != 3 or image.shape != labels.shape:
            continue
        nz, nx, ny = image.shape
        zs = np.unique(np.linspace(0, nz - 1, min(nz, max_slices)).round().astype(int))
        step = max(1, int(np.ceil(max(nx, ny) / max_side)))
        gray = _shrink_mean(_to_uint8(image[zs]), step)
        truth = _shrink_nearest(labels[zs], step)
        labeled = predictions.get(f"labeled__{split}")
        mask = None if labeled is None else _shrink_nearest(np.asarray(labeled, bool)[zs], step)
        segs = {
            a: predictions[f"{a}__{split}"] for a in architectures if f"{a}__{split}" in predictions
        }
        n_classes = 1 + max([6, int(labels.max())] + [int(np.max(s)) for s in segs.values()])
        palette = class_palette(n_classes)
        preds, errors = {}, {}
        for arch in architectures:
            seg = segs.get(arch)
            if seg is None or np.shape(seg) != labels.shape:
                continue
            seg = _shrink_nearest(np.asarray(seg)[zs].astype(np.uint8), step)
            err = (seg != truth).astype(np.uint8)
            if mask is not None:
                err[~mask] = 2
            preds[arch] = tuple(png_data_uri(s, palette=palette) for s in seg)
            errors[arch] = tuple(png_data_uri(e, palette=ERROR_PALETTE, transparent=2) for e in err)
        stacks.append(
            SliceStack(
                split=split,
                z=tuple(int(z) for z in zs),
                shape=(nz, nx, ny),
                step=step,
                image=tuple(png_data_uri(s) for s in gray),
                truth=tuple(png_data_uri(s, palette=palette) for s in truth),
                predictions=preds,
                errors=errors,
            )
        )
    return stacks
