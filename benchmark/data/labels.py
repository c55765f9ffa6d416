"""Label volumes: integer class ids, or RGB(A) colors mapped to ids through a color table.

By default the colors are the platelet-em ones (:data:`PLATELET_COLORS`); an override is a mapping
``{id: (r, g, b)}`` or the path of a JSON (``{"0": [0, 0, 0], "1": [1, 1, 224]}``) or TOML
(``0 = [0, 0, 0]``) file of the same shape. The alpha channel of RGBA labels is ignored.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from benchmark.data.platelet import PLATELET_COLORS
from benchmark.data.volumes import LABEL_DTYPE, DataError

__all__ = ["ColorTable", "check_3d", "decode_labels", "is_color", "load_color_table"]

ColorTable = Mapping[int, Sequence[int]] | str | Path

# Voxels per chunk when decoding colors: bounds the temporary uint32/int64 arrays to ~100 MB.
_DECODE_CHUNK = 8_000_000


def load_color_table(table: ColorTable | None = None) -> dict[int, tuple[int, int, int]]:
    """A validated color table ``{class id: (r, g, b)}``.

    Args:
        table: None for :data:`PLATELET_COLORS`; a mapping ``{id: (r, g, b)}`` (ids may be strings
            of digits); or the path of a JSON file ``{"0": [0, 0, 0], ...}`` or TOML file
            ``0 = [0, 0, 0]`` with the same content.
    """
    if table is None:
        return dict(PLATELET_COLORS)
    source = "color table"
    if isinstance(table, (str, Path)):
        path = Path(table)
        source = str(path)
        if not path.is_file():
            raise DataError(f"{path}: color table file not found")
        try:
            text = path.read_text()
            table = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        except Exception as exc:
            raise DataError(
                f"{path}: cannot parse the color table ({type(exc).__name__}: {exc})"
            ) from exc
    if not isinstance(table, Mapping) or not table:
        raise DataError(f"{source}: expected a non-empty mapping {{class id: [r, g, b]}}")
    out: dict[int, tuple[int, int, int]] = {}
    for key, color in table.items():
        try:
            class_id = int(key)
            rgb = tuple(int(c) for c in color)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"{source}: entry {key!r}: {color!r} is not 'class id: [r, g, b]'"
            ) from exc
        if class_id < 0 or len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
            raise DataError(
                f"{source}: entry {key!r}: {color!r} needs an id >= 0 and three values 0..255"
            )
        out[class_id] = rgb  # type: ignore[assignment]
    colors = list(out.values())
    if len(set(colors)) != len(colors):
        dup = next(c for c in colors if colors.count(c) > 1)
        raise DataError(f"{source}: color {dup} is given to more than one class")
    return out


def is_color(array: np.ndarray) -> bool:
    return array.ndim == 4 and array.shape[-1] in (3, 4)


def decode_labels(
    array: np.ndarray, name: str = "labels", color_table: ColorTable | None = None
) -> np.ndarray:
    """Class ids ``(z, x, y)`` (``LABEL_DTYPE``) from integer labels or RGB(A) colors.

    Args:
        array: integer-valued ``(z, x, y)`` labels, or ``(z, x, y, 3|4)`` colors (alpha ignored).
        name: the file the array came from, used in error messages.
        color_table: see :func:`load_color_table`; used for color labels only.

    Raises:
        DataError: wrong number of dimensions, fractional or negative values, colors that are not
            in the table (the message lists them with their voxel counts).
    """
    array = np.asarray(array)
    if is_color(array):
        return _decode_colors(array, name, load_color_table(color_table))
    check_3d(array, name, "label")
    if array.dtype == bool:
        return array.astype(LABEL_DTYPE)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise DataError(f"{name}: labels must be integer class ids, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        bad = int(array.size - np.count_nonzero(finite)) or int(
            np.count_nonzero(array != np.round(array))
        )
        if bad:
            raise DataError(
                f"{name}: labels must be integer class ids, but {bad} voxels of the {array.dtype} "
                "array are fractional or not finite"
            )
    low, high = array.min(), array.max()
    if low < 0:
        count = int(np.count_nonzero(array < 0))
        raise DataError(
            f"{name}: {count} label voxels are negative (down to {low}); class ids start at 0"
        )
    if high > np.iinfo(LABEL_DTYPE).max:
        raise DataError(f"{name}: label values up to {high} are too large for class ids")
    return array.astype(LABEL_DTYPE)


def _decode_colors(
    array: np.ndarray, name: str, table: dict[int, tuple[int, int, int]]
) -> np.ndarray:
    if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() > 255:
        raise DataError(
            f"{name}: color labels must be 8-bit RGB(A) values 0..255, got dtype {array.dtype} "
            f"with values {array.min()}..{array.max()}"
        )
    # One lookup table over all 2**24 RGB values (32 MB): a gather per voxel, no sorting.
    lut_dtype = np.int16 if max(table) < np.iinfo(np.int16).max else np.int32
    lut = np.full(1 << 24, -1, dtype=lut_dtype)
    for class_id, (r, g, b) in table.items():
        lut[(r << 16) | (g << 8) | b] = class_id
    flat = array.reshape(-1, array.shape[-1])
    out = np.empty(flat.shape[0], dtype=LABEL_DTYPE)
    unknown: dict[int, int] = {}
    for start in range(0, flat.shape[0], _DECODE_CHUNK):
        rgb = flat[start : start + _DECODE_CHUNK]
        packed = rgb[:, 0].astype(np.uint32) << 16
        packed |= rgb[:, 1].astype(np.uint32) << 8
        packed |= rgb[:, 2].astype(np.uint32)
        ids = lut[packed]
        out[start : start + len(rgb)] = ids
        missing = ids < 0
        if missing.any():
            colors, counts = np.unique(packed[missing], return_counts=True)
            for c, n in zip(colors.tolist(), counts.tolist()):
                unknown[c] = unknown.get(c, 0) + n
    if unknown:
        worst = sorted(unknown.items(), key=lambda kv: -kv[1])
        listed = ", ".join(f"{_unpack(c)} in {n} voxels" for c, n in worst[:5])
        more = f" and {len(worst) - 5} more colors" if len(worst) > 5 else ""
        raise DataError(
            f"{name}: label colors not in the color table: {listed}{more} "
            f"(table: {', '.join(f'{i}={c}' for i, c in sorted(table.items()))})"
        )
    return out.reshape(array.shape[:-1])


def _unpack(packed: int) -> tuple[int, int, int]:
    return (packed >> 16) & 0xFF, (packed >> 8) & 0xFF, packed & 0xFF


def check_3d(array: np.ndarray, name: str, kind: str) -> None:
    if array.ndim != 3:
        hint = ""
        if array.ndim == 4 and kind == "image" and array.shape[-1] in (3, 4):
            hint = " (this looks like a color image; images must be grayscale)"
        elif array.ndim == 4:
            hint = f" (a 4D {kind} array is accepted only as RGB(A) label colors (z, x, y, 3|4))"
        elif array.ndim == 2:
            hint = " (a single 2D slice; add a z axis of length 1 if that is intended)"
        raise DataError(
            f"{name}: expected a 3D (z,x,y) {kind} volume, got shape {tuple(array.shape)}{hint}"
        )
