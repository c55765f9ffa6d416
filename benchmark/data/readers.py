"""Reading one array from a file: TIF/TIFF, NPY, NPZ, PNG, Zarr or HDF5.

Arrays inside a container are named after a colon: ``cells.h5:raw/image``, ``vol.zarr:labels``; a
container that holds exactly one array needs no name. :func:`read_array` reads the whole array;
:func:`open_array` opens it lazily where the format allows.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from benchmark.data.volumes import DataError

__all__ = ["open_array", "read_array", "split_spec"]

_TIFF_SUFFIXES = (".tif", ".tiff")
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
_CONTAINER_SUFFIXES = (*_HDF5_SUFFIXES, ".zarr", ".npz")
_SUPPORTED = "TIF/TIFF, NPY, NPZ, PNG, Zarr (.zarr or a directory), HDF5 (.h5/.hdf5)"


def read_array(spec: str | Path) -> np.ndarray:
    """Reads one array from a file.

    Args:
        spec: a path (``vol.tif``, ``vol.npy``, ``slice.png``, ``vol.zarr``, ``vol.h5``), optionally
            followed by ``:name`` naming the array inside a container (``vol.h5:raw/image``,
            ``vol.zarr:labels``, ``vol.npz:image``). A container holding exactly one array needs no
            name.

    Returns:
        The array as stored (any shape and dtype, not empty).

    Raises:
        DataError: missing file, unknown extension, unreadable or corrupt file, unknown or ambiguous
            array name, empty array. The message names the file and the problem.
    """
    path, key = split_spec(spec)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")
    if suffix == ".zarr" or path.is_dir():
        array = _read_zarr(path, key)
    elif suffix in _HDF5_SUFFIXES:
        array = _read_hdf5(path, key)
    elif suffix == ".npz":
        array = _read_npz(path, key)
    elif key is not None:
        raise DataError(f"{path}: a {suffix} file holds one array; drop the ':{key}' suffix")
    elif suffix in _TIFF_SUFFIXES:
        array = _guarded(path, "TIFF", _read_tiff)
    elif suffix == ".npy":
        array = _guarded(path, "NPY", lambda p: np.load(p, allow_pickle=False))
    elif suffix == ".png":
        array = _guarded(path, "PNG", _read_png)
    else:
        raise DataError(
            f"{path}: unknown file extension {suffix or '(none)'!r}; supported: {_SUPPORTED}"
        )
    name = f"{path}:{key}" if key else str(path)
    if array.size == 0:
        raise DataError(f"{name}: the array is empty (shape {tuple(array.shape)})")
    return array


def split_spec(spec: str | Path) -> tuple[Path, str | None]:
    """``file.h5:group/ds`` -> (Path('file.h5'), 'group/ds'); a plain path -> (path, None)."""
    text = str(spec)
    path = Path(text)
    if path.exists() or ":" not in text:
        return path, None
    head, key = text.rsplit(":", 1)
    head_path = Path(head)
    if head_path.suffix.lower() in _CONTAINER_SUFFIXES or head_path.is_dir():
        return head_path, key.strip("/") or None
    return path, None


def _guarded(path: Path, kind: str, reader) -> np.ndarray:
    try:
        return np.asarray(reader(path))
    except DataError:
        raise
    except Exception as exc:  # any reader failure means a corrupt or foreign file
        raise DataError(
            f"{path}: cannot read the file as {kind} ({type(exc).__name__}: {exc})"
        ) from exc


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.pages or not tif.series:
            raise DataError(
                f"{path}: cannot read the file as TIFF (no image data: corrupt or truncated)"
            )
        series = tif.series[0]
        array = series.asarray()
        axes = series.axes
    # Planar RGB stacks come back as (z, 3|4, x, y); colors go last. A 3D 'SYX' series stays as
    # it is: tifffile also writes small grayscale stacks that way.
    if array.ndim == 4 and axes.find("S") == 1 and array.shape[1] in (3, 4):
        array = np.moveaxis(array, 1, -1)
    return array


def _choose(path: Path, key: str | None, names: list[str], kind: str) -> str:
    """The array name to read: ``key`` if given and present, else the only one."""
    if key is not None:
        if key not in names:
            raise DataError(
                f"{path}: no {kind} named {key!r}; the file holds {names or 'no arrays'}"
            )
        return key
    if len(names) == 1:
        return names[0]
    if not names:
        raise DataError(f"{path}: the file holds no arrays")
    raise DataError(f"{path}: the file holds {len(names)} arrays {names}; name one as {path}:NAME")


def _read_hdf5(path: Path, key: str | None) -> np.ndarray:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except Exception as exc:
        raise DataError(
            f"{path}: cannot read the file as HDF5 ({type(exc).__name__}: {exc})"
        ) from exc
    with handle:
        names: list[str] = []
        handle.visititems(lambda n, obj: names.append(n) if isinstance(obj, h5py.Dataset) else None)
        name = _choose(path, key, names, "dataset")
        try:
            return np.asarray(handle[name][()])
        except Exception as exc:
            raise DataError(
                f"{path}:{name}: cannot read the dataset ({type(exc).__name__}: {exc})"
            ) from exc


def _read_zarr(path: Path, key: str | None) -> np.ndarray:
    import zarr

    try:
        node = zarr.open(store=str(path), mode="r")
    except Exception as exc:
        raise DataError(
            f"{path}: cannot read as a Zarr array or group ({type(exc).__name__}: {exc})"
        ) from exc
    if isinstance(node, zarr.Group):
        try:
            names = sorted(n for n, m in node.members(max_depth=None) if isinstance(m, zarr.Array))
        except Exception as exc:
            raise DataError(
                f"{path}: cannot list the Zarr group ({type(exc).__name__}: {exc})"
            ) from exc
        node = node[_choose(path, key, names, "array")]
    elif key is not None:
        raise DataError(f"{path}: is a single Zarr array; drop the ':{key}' suffix")
    try:
        return np.asarray(node[...])
    except Exception as exc:
        raise DataError(
            f"{path}: cannot read the Zarr array ({type(exc).__name__}: {exc})"
        ) from exc


def _read_npz(path: Path, key: str | None) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return np.asarray(npz[_choose(path, key, list(npz.files), "array")])
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"{path}: cannot read the file as NPZ ({type(exc).__name__}: {exc})"
        ) from exc


def _read_png(path: Path) -> np.ndarray:
    """Non-interlaced 8/16-bit gray, gray+alpha, RGB or RGBA PNG -> (x, y[, channels]).

    A minimal decoder (zlib + numpy) so the real preview slices can be read without Pillow.
    The row filters are undone along anti-diagonals of (row, pixel): every pixel depends only on
    its left, upper and upper-left neighbours, which all lie on earlier diagonals.
    """
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise DataError(f"{path}: not a PNG file (bad signature)")
    pos, header, idat = 8, None, []
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None or not idat:
        raise DataError(f"{path}: truncated PNG (no IHDR or IDAT chunk)")
    width, height, depth, color_type, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color_type)
    if channels is None or depth not in (8, 16) or interlace:
        raise DataError(
            f"{path}: unsupported PNG (color type {color_type}, bit depth {depth}, interlace {interlace}); "
            "use 8/16-bit non-interlaced gray or RGB(A)"
        )
    bpp = channels * depth // 8
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    raw = raw[: height * (1 + width * bpp)].reshape(height, 1 + width * bpp)
    filters = raw[:, 0].astype(np.int32)
    if filters.max() > 4:
        raise DataError(f"{path}: corrupt PNG (row filter type {int(filters.max())})")
    coded = raw[:, 1:].reshape(height, width, bpp).astype(np.int32)
    out = np.zeros((height + 1, width + 1, bpp), dtype=np.int32)  # zero row/column of padding
    for diagonal in range(height + width - 1):
        rows = np.arange(max(0, diagonal - width + 1), min(height, diagonal + 1))
        cols = diagonal - rows
        left, up, corner = out[rows + 1, cols], out[rows, cols + 1], out[rows, cols]
        f = filters[rows][:, None]
        p = left + up - corner
        pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - corner)
        paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, corner))
        predictor = np.select(
            [f == 1, f == 2, f == 3, f == 4], [left, up, (left + up) // 2, paeth], default=0
        )
        out[rows + 1, cols + 1] = (coded[rows, cols] + predictor) & 0xFF
    pixels = out[1:, 1:].astype(np.uint8)
    if depth == 16:
        pixels = pixels.reshape(height, width, channels, 2).astype(np.uint16)
        pixels = (pixels[..., 0] << 8) | pixels[..., 1]
    else:
        pixels = pixels.reshape(height, width, channels)
    return pixels[..., 0] if channels == 1 else pixels


def open_array(spec: str | Path):
    """Like ``read_array`` but lazy where the format allows (NPY and uncompressed TIFF by memory
    map, Zarr and HDF5 datasets as they are): slicing reads only the slices asked for, so
    volumes larger than memory can be segmented slab by slab."""
    path, key = split_spec(spec)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        if suffix in _TIFF_SUFFIXES:
            import tifffile

            try:
                return tifffile.memmap(path, mode="r")
            except ValueError:  # compressed or tiled: read it whole
                return read_array(spec)
        if suffix == ".zarr" or path.is_dir():
            import zarr

            root = zarr.open(str(path), mode="r")
            if key:
                return root[key]
            # A bare group: let read_array choose its single array or name the choices.
            return root if hasattr(root, "shape") else read_array(spec)
        if suffix in _HDF5_SUFFIXES:
            import h5py

            handle = h5py.File(path, "r")
            names: list[str] = []
            handle.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            return handle[_choose(path, key, names, "HDF5")]
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: could not open ({type(exc).__name__}: {exc})") from exc
    return read_array(spec)
