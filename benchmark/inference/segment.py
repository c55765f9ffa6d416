"""Segment any volume with one trained instance or an ensemble, streaming slab by slab.

The input is opened lazily (``benchmark.data.readers.open_array``), normalized to mean 0 / sd 1 with
statistics gathered in one streaming pass, and predicted in z-slabs (``benchmark.infer``); each
finished slab is written to the output TIFF (one page per z slice) and, optionally, to a Zarr
array of class probabilities, so volumes larger than memory work. Removing small connected
components needs the whole segmentation and runs after streaming on the (uint8) result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.readers import open_array
from benchmark.data.volumes import DataError

__all__ = ["SegmentResult", "segment_volume", "agreement"]


class _Normalized:
    """A lazy (z, x, y) volume read slab by slab and normalized with precomputed statistics."""

    def __init__(self, array, mean: float, sd: float) -> None:
        self.array, self.mean, self.sd = array, mean, sd
        self.shape = tuple(array.shape)

    def __getitem__(self, index) -> np.ndarray:
        return ((np.asarray(self.array[index], dtype=np.float32) - self.mean) / self.sd).astype(
            np.float32
        )


def _streaming_stats(array, slab: int = 8) -> tuple[float, float]:
    total, total_sq, count = 0.0, 0.0, 0
    for z in range(0, array.shape[0], slab):
        block = np.asarray(array[z : z + slab], dtype=np.float64)
        if not np.isfinite(block).all():
            raise DataError(
                f"the input has NaN or infinite values in slices {z}..{z + block.shape[0] - 1}"
            )
        total += block.sum()
        total_sq += np.square(block).sum()
        count += block.size
    mean = total / count
    sd = max(total_sq / count - mean**2, 0.0) ** 0.5
    return mean, sd if sd > 0 else 1.0


@dataclass(frozen=True)
class SegmentResult:
    output: Path
    probabilities: Path | None
    shape: tuple[int, int, int]
    members: int
    seconds: float
    class_counts: tuple[int, ...]


def segment_volume(
    checkpoints: Sequence[str | Path],
    input_spec: str | Path,
    output: str | Path,
    *,
    probabilities: str | Path | None = None,
    min_component_size: int = 0,
    device: str = "auto",
    overlap: float = 0.25,
    blend: str = "gaussian",
    log: Callable[[str], None] = print,
) -> SegmentResult:
    """Writes the argmax segmentation (uint8 TIFF) of ``input_spec`` by the mean class
    probabilities of the ``checkpoints`` (one model, or an ensemble of same-window members)."""
    import tifffile
    import torch

    from benchmark.inference.postprocess import remove_small_components
    from benchmark.inference.sliding_window import InferenceSettings, predict_chunks
    from benchmark.training.checkpoints import load_checkpoint
    from benchmark.training.device import resolve_device

    started = time.perf_counter()
    if not checkpoints:
        raise ValueError("segment needs at least one --checkpoint")
    dev = resolve_device(device)
    models, windows, n_classes = [], set(), None
    for path in checkpoints:
        model, ckpt = load_checkpoint(path, dev)
        models.append(model)
        windows.add((tuple(ckpt["in_window"]), tuple(ckpt["out_window"])))
        n_classes = len(ckpt["class_names"])
    if len(windows) > 1:
        raise ValueError(
            f"ensemble members have different windows {sorted(windows)}; segment them separately"
        )
    (in_window, out_window) = windows.pop()
    array = open_array(input_spec)
    if array.ndim != 3:
        raise DataError(
            f"{input_spec}: expected a 3D (z, x, y) volume, got shape {tuple(array.shape)}"
        )
    mean, sd = _streaming_stats(array)
    volume = _Normalized(array, mean, sd)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp.tif")
    probs_store = None
    if probabilities is not None:
        import zarr

        probs_store = zarr.open_array(
            str(probabilities),
            mode="w",
            shape=(n_classes, *volume.shape),
            chunks=(
                n_classes,
                max(1, out_window[0]),
                min(256, volume.shape[1]),
                min(256, volume.shape[2]),
            ),
            dtype="uint8",
        )
        probs_store.attrs["description"] = "class probabilities * 255, axes (class, z, x, y)"
    settings = InferenceSettings.for_device(dev, overlap=overlap, blend=blend)
    counts = np.zeros(n_classes, dtype=np.int64)
    log(f"segmenting {input_spec} {volume.shape} with {len(models)} model(s) on {dev}")
    with tifffile.TiffWriter(tmp, bigtiff=np.prod(volume.shape) > 2**31) as writer:
        for z0, z1, probs in predict_chunks(models, volume, in_window, out_window, settings, dev):
            labels = probs.argmax(dim=0).to(torch.uint8).cpu().numpy()
            counts += np.bincount(labels.ravel(), minlength=n_classes)
            for plane in labels:
                writer.write(plane, contiguous=True)
            if probs_store is not None:
                probs_store[:, z0:z1] = (probs * 255).round().to(torch.uint8).cpu().numpy()
            log(f"  slices {z0}..{z1 - 1} of {volume.shape[0]}")
    if min_component_size > 1:
        segmentation = tifffile.imread(tmp)
        segmentation = remove_small_components(segmentation, min_component_size, n_classes).astype(
            np.uint8
        )
        counts = np.bincount(segmentation.ravel(), minlength=n_classes)
        tifffile.imwrite(tmp, segmentation)
    os.replace(tmp, output)
    return SegmentResult(
        output,
        Path(probabilities) if probabilities else None,
        volume.shape,
        len(models),
        time.perf_counter() - started,
        tuple(int(c) for c in counts),
    )


def agreement(
    a_spec: str | Path,
    b_spec: str | Path,
    *,
    n_classes: int | None = None,
    org_classes: Sequence[int] | None = None,
    color_table=None,
):
    """MIoU(all), MIoU(org) and per-class IoU between two segmentations of the same volume."""
    from analysis.metrics import score_segmentations
    from benchmark.data.labels import decode_labels
    from benchmark.data.platelet import PLATELET_ORG_CLASSES
    from benchmark.data.readers import read_array

    a = decode_labels(read_array(a_spec), str(a_spec), color_table)
    b = decode_labels(read_array(b_spec), str(b_spec), color_table)
    if a.shape != b.shape:
        raise DataError(f"{a_spec} {a.shape} and {b_spec} {b.shape} differ in shape")
    n = n_classes or int(max(a.max(), b.max())) + 1
    org = (
        tuple(org_classes)
        if org_classes is not None
        else (PLATELET_ORG_CLASSES if n == 7 else tuple(range(2, n)) or tuple(range(n)))
    )
    return score_segmentations(a, b, n, org), n, org
