"""Small PNG images (through Pillow) as bytes or ``data:`` URIs, for pages that embed them."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["png_bytes", "png_data_uri"]


def png_bytes(
    array: np.ndarray,
    palette: Sequence[Sequence[int]] | None = None,
    transparent: int | None = None,
) -> bytes:
    """Encodes a 2-D uint8 array ``(rows, columns)`` as a PNG (zlib level 9).

    Args:
        array: gray values, or palette indices when ``palette`` is given.
        palette: RGB triples; the image becomes an indexed-color PNG (Pillow writes 1, 2, 4 or
            8 bits per pixel, as few as the palette needs).
        transparent: a palette index drawn fully transparent.

    Raises:
        ValueError: ``array`` is not a non-empty 2-D array.
    """
    from PIL import Image

    a = np.ascontiguousarray(array, dtype=np.uint8)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"expected a non-empty 2-D array, got shape {a.shape}")
    image = Image.fromarray(a)  # mode "L"
    options: dict[str, Any] = {"compress_level": 9}
    if palette is not None:
        image.putpalette([int(c) & 255 for rgb in palette for c in rgb[:3]], rawmode="RGB")
        if transparent is not None:
            options["transparency"] = int(transparent)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def png_data_uri(array: np.ndarray, **kwargs: Any) -> str:
    """``data:image/png;base64,...`` of :func:`png_bytes` (same arguments)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(array, **kwargs)).decode("ascii")
