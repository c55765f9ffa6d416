"""Segment any volume with one trained instance or an ensemble, streaming slab by slab.

The input is opened lazily (``benchmark.data.readers.open_array``; an OME-Zarr image at any
multiscale level), normalized to mean 0 / sd 1 with statistics gathered in one streaming pass, and
predicted in z-slabs (``benchmark.inference.sliding_window``); each finished slab is written out at
once, so volumes larger than memory work:

- the segmentation (uint8 class ids): an OME-Zarr image when the output ends in ``.zarr``
  (``benchmark.data.writers``; axes z, y, x, the input's voxel size when it has one), else a TIFF
  with one page per z slice;
- the class probabilities (optional, uint8 = round(p * 255)): an OME-Zarr image with axes
  (c, z, y, x) when the path ends in ``.zarr``, else an ImageJ hyperstack TIFF ``(z, c, x, y)``
  (z-major, so slabs append in order).

Outputs are written under a temporary name and renamed when complete. Removing small connected
components needs the whole segmentation and runs after streaming on the (uint8) result.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.readers import open_array, read_voxel_size
from benchmark.data.volumes import DataError

__all__ = ["SegmentResult", "segment_volume", "agreement"]


class _Normalized:
    """A lazy (z, x, y) volume read slab by slab and normalized with precomputed statistics."""

    def __init__(self, array, mean: float, sd: float) -> None:
        self.array, self.mean, self.sd = array, mean, sd
        self.shape = tuple(array.shape)

    def __getitem__(self, index) -> np.ndarray:
        # float64 first: raw values beyond float32's range normalize instead of overflowing.
        block = np.asarray(self.array[index], dtype=np.float64)
        return ((block - self.mean) / self.sd).astype(np.float32)


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
    if not np.isfinite(sd):
        raise DataError("values too large to normalize (their squares overflow float64)")
    if not sd > 0:
        raise DataError("the input is constant; there is nothing to segment")
    return mean, sd


def check_output_path(path: str | Path, what: str = "output") -> None:
    """Raises ValueError when ``path`` cannot take a volume: an existing folder that is not a
    Zarr store, a suffix other than .tif/.tiff/.zarr, or a parent that is a file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".tif", ".tiff", ".zarr"):
        raise ValueError(
            f"{what} {path}: name the file to write, ending in .tif/.tiff (TIFF) or .zarr (OME-Zarr)"
        )
    if path.is_dir() and suffix != ".zarr":
        raise ValueError(f"{what} {path} is a folder; name the file to write inside it")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ValueError(f"{what} {path}: {parent} is a file, not a folder")


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
    level: int | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
) -> SegmentResult:
    """Writes the argmax segmentation of ``input_spec`` by the mean class probabilities of the
    ``checkpoints`` (one model, or an ensemble of same-window members).

    Args:
        checkpoints: ``best.pt`` files of one or more instances.
        input_spec: the image volume (any format of ``read_array``), ``(z, x, y)``.
        output: the segmentation: ``*.zarr`` for OME-Zarr, ``*.tif``/``*.tiff`` for TIFF.
        probabilities: also write the class probabilities here (``*.zarr`` or TIFF).
        min_component_size: remove connected components smaller than this per class.
        device, overlap, blend: inference settings.
        level: the multiscale level of an OME-Zarr input (default 0).
        progress: a progress bar over slices (default: when stderr is a terminal).
        log: receives the start line and, without a progress bar, one line per slab.
    """
    import torch

    from benchmark.inference.postprocess import remove_small_components
    from benchmark.inference.sliding_window import InferenceSettings, predict_chunks
    from benchmark.progress import progress_bar, progress_enabled
    from benchmark.training.checkpoints import load_checkpoint
    from benchmark.training.device import resolve_device

    started = time.perf_counter()
    if not checkpoints:
        raise ValueError("segment needs at least one --checkpoint")
    # Outputs are checked before any work: a bad path must not fail after the whole inference.
    for what, target in (("--output", output), ("--probabilities", probabilities)):
        if target is not None:
            check_output_path(target, what)
    dev = resolve_device(device)
    models, windows, schemas = [], set(), {}
    for path in checkpoints:
        model, ckpt = load_checkpoint(path, dev)
        models.append(model)
        windows.add((tuple(ckpt["in_window"]), tuple(ckpt["out_window"])))
        schemas[str(path)] = tuple(ckpt["class_names"])
    if len(set(schemas.values())) > 1:
        listed = "; ".join(f"{p}: {len(c)} classes {list(c)}" for p, c in schemas.items())
        raise ValueError(
            f"ensemble members were trained on different classes ({listed}); their "
            "probabilities cannot be averaged"
        )
    n_classes = len(next(iter(schemas.values())))
    if len(windows) > 1:
        raise ValueError(
            f"ensemble members have different windows {sorted(windows)}; segment them separately"
        )
    (in_window, out_window) = windows.pop()
    array = open_array(input_spec, level=level)
    if array.ndim != 3:
        raise DataError(
            f"{input_spec}: expected a 3D (z, x, y) volume, got shape {tuple(array.shape)}"
        )
    try:
        mean, sd = _streaming_stats(array)
    except DataError as exc:
        raise DataError(f"{input_spec}: {exc}") from None
    volume = _Normalized(array, mean, sd)
    voxel_size = read_voxel_size(input_spec, level=level)
    voxel_size = voxel_size if voxel_size is not None and len(voxel_size) == 3 else None
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    source = {"source": str(input_spec), "checkpoints": [str(c) for c in checkpoints]}
    seg_out = _VolumeOutput(output, volume.shape, None, voxel_size, source)
    probs_out = (
        _VolumeOutput(Path(probabilities), volume.shape, n_classes, voxel_size, source)
        if probabilities is not None
        else None
    )
    settings = InferenceSettings.for_device(dev, overlap=overlap, blend=blend)
    counts = np.zeros(n_classes, dtype=np.int64)
    log(f"segmenting {input_spec} {volume.shape} with {len(models)} model(s) on {dev}")
    shown = progress_enabled() if progress is None else progress
    bar = progress_bar(volume.shape[0], "segment", "slice", enabled=shown)
    try:
        for z0, z1, probs in predict_chunks(models, volume, in_window, out_window, settings, dev):
            labels = probs.argmax(dim=0).to(torch.uint8).cpu().numpy()
            counts += np.bincount(labels.ravel(), minlength=n_classes)
            seg_out.write(z0, labels)
            if probs_out is not None:
                probs_out.write(z0, (probs * 255).round().to(torch.uint8).cpu().numpy())
            bar.update(z1 - z0)
            if not shown:
                log(f"  slices {z0}..{z1 - 1} of {volume.shape[0]}")
        bar.close()
        if min_component_size > 1:
            segmentation = seg_out.read()
            segmentation = remove_small_components(
                segmentation, min_component_size, n_classes
            ).astype(np.uint8)
            counts = np.bincount(segmentation.ravel(), minlength=n_classes)
            seg_out.rewrite(segmentation)
        seg_out.commit()
        if probs_out is not None:
            probs_out.commit()
    except BaseException:
        bar.close()
        seg_out.discard()
        if probs_out is not None:
            probs_out.discard()
        raise
    return SegmentResult(
        output,
        Path(probabilities) if probabilities else None,
        volume.shape,
        len(models),
        time.perf_counter() - started,
        tuple(int(c) for c in counts),
    )


class _VolumeOutput:
    """A uint8 volume written slab by slab under a temporary name, then renamed into place:
    an OME-Zarr image for ``*.zarr``, else a TIFF. ``channels`` puts a class axis first in Zarr,
    second (after z) in the TIFF, so that TIFF slabs append in z order."""

    def __init__(
        self,
        path: Path,
        shape: tuple[int, int, int],
        channels: int | None,
        voxel_size: tuple[float, ...] | None,
        attributes: dict,
    ) -> None:
        self.path, self.shape, self.channels = path, shape, channels
        self.zarr = path.suffix.lower() == ".zarr"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp" + ("" if self.zarr else ".tif"))
        full = shape if channels is None else (channels, *shape)
        if self.zarr:
            from benchmark.data.writers import create_ome_zarr

            description = (
                "class ids (uint8), axes (z, y, x)"
                if channels is None
                else "class probabilities as round(p * 255) (uint8), axes (class, z, y, x)"
            )
            self.array = create_ome_zarr(
                self.tmp,
                full,
                "uint8",
                channel_axis=channels is not None,
                voxel_size=voxel_size,
                name=path.name.removesuffix(".zarr").removesuffix(".ome"),
                attributes={"description": description, "densecell_bench": attributes},
            )
        else:
            import tifffile

            tiff_shape = shape if channels is None else (shape[0], channels, *shape[1:])
            metadata = {"axes": "ZYX" if channels is None else "ZCYX"}
            big = int(np.prod(tiff_shape)) >= 2**32 - 2**25
            self.array = tifffile.memmap(
                self.tmp,
                shape=tiff_shape,
                dtype=np.uint8,
                bigtiff=big,
                imagej=not big,
                metadata=metadata,
            )

    def write(self, z0: int, block: np.ndarray) -> None:
        """``block``: ``(z, x, y)``, or ``(c, z, x, y)`` with channels."""
        z1 = z0 + block.shape[-3]
        if self.zarr:
            if self.channels is None:
                self.array[z0:z1] = block
            else:
                self.array[:, z0:z1] = block
        else:
            self.array[z0:z1] = block if self.channels is None else np.moveaxis(block, 0, 1)

    def read(self) -> np.ndarray:
        return np.asarray(self.array[...])

    def rewrite(self, volume: np.ndarray) -> None:
        self.array[...] = volume

    def commit(self) -> None:
        if not self.zarr:
            self.array.flush()
            del self.array
        if self.path.is_dir():
            shutil.rmtree(self.path)
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        if self.tmp.is_dir():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.tmp.unlink(missing_ok=True)


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
