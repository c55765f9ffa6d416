"""Writing volumes as OME-Zarr images that napari, neuroglancer and Fiji open.

The images follow OME-NGFF 0.4 on Zarr format 2 (``.zgroup``/``.zattrs``, ``/``-separated chunk
keys): the version that zarr-python 2 and 3, ome-zarr-py, napari-ome-zarr, neuroglancer and
Fiji/MoBIE all read. One resolution level (``0``); axes ``z, y, x`` (this package's (z, x, y)
order, named the way OME and the viewers name rows and columns), with a leading ``c`` axis for
class probabilities; the voxel size in nanometres as the level's ``scale``.
:func:`benchmark.data.readers.read_array` and ``read_voxel_size`` read them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["create_ome_zarr", "write_ome_zarr"]

NGFF_VERSION = "0.4"


def create_ome_zarr(
    path: str | Path,
    shape: Sequence[int],
    dtype: Any,
    *,
    chunks: Sequence[int] | None = None,
    channel_axis: bool = False,
    voxel_size: Sequence[float] | None = None,
    name: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Any:
    """Creates an empty one-level OME-Zarr image at ``path`` and returns its array to fill.

    Args:
        path: the ``.zarr`` folder (replaced if it exists).
        shape: ``(z, x, y)``, or ``(c, z, x, y)`` with ``channel_axis``.
        dtype: the stored type.
        chunks: chunk shape (default: one z slice of up to 256 x 256 per chunk, all channels).
        channel_axis: the first axis is a channel axis (class probabilities).
        voxel_size: (z, x, y) nanometres; default 1 (unknown) without a unit.
        name: the image's name in the metadata.
        attributes: extra group attributes (a description, the source).
    """
    import zarr

    shape = tuple(int(s) for s in shape)
    spatial = shape[1:] if channel_axis else shape
    if len(spatial) != 3:
        raise ValueError(f"an OME-Zarr volume needs 3 spatial axes, got shape {shape}")
    if chunks is None:
        chunks = (1, min(256, spatial[1]), min(256, spatial[2]))
        if channel_axis:
            chunks = (shape[0], *chunks)
    axes: list[dict[str, str]] = [
        {"name": n, "type": "space", **({"unit": "nanometer"} if voxel_size is not None else {})}
        for n in ("z", "y", "x")
    ]
    scale = [float(v) for v in voxel_size] if voxel_size is not None else [1.0, 1.0, 1.0]
    if len(scale) != 3:
        raise ValueError(f"voxel_size must be three numbers (z, x, y), got {voxel_size!r}")
    if channel_axis:
        axes.insert(0, {"name": "c", "type": "channel"})
        scale.insert(0, 1.0)
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    array = group.create_array(
        "0",
        shape=shape,
        chunks=tuple(int(c) for c in chunks),
        dtype=dtype,
        fill_value=0,
        chunk_key_encoding={"name": "v2", "separator": "/"},
    )
    group.attrs.update(
        {
            "multiscales": [
                {
                    "version": NGFF_VERSION,
                    "name": name or Path(path).stem,
                    "axes": axes,
                    "datasets": [
                        {
                            "path": "0",
                            "coordinateTransformations": [{"type": "scale", "scale": scale}],
                        }
                    ],
                    "type": "none",
                }
            ],
            **(attributes or {}),
        }
    )
    return array


def write_ome_zarr(
    path: str | Path,
    volume: np.ndarray,
    *,
    channel_axis: bool = False,
    voxel_size: Sequence[float] | None = None,
    name: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Path:
    """Writes a whole ``(z, x, y)`` (or ``(c, z, x, y)``) array as a one-level OME-Zarr image."""
    array = create_ome_zarr(
        path,
        volume.shape,
        volume.dtype,
        channel_axis=channel_axis,
        voxel_size=voxel_size,
        name=name,
        attributes=attributes,
    )
    array[...] = volume
    return Path(path)
