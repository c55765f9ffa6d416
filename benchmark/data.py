"""Volumes and datasets: the image/label arrays every instance trains and is scored on.

Axis order is (z, x, y) throughout. Images are float32 normalized to mean 0 / sd 1 per volume
(paper, "Neural architectures and ensembling"); labels are ``LABEL_DTYPE`` (int32) class ids.

Loaders:

- :func:`read_array` reads one array from a TIF/TIFF, NPY, NPZ, PNG, Zarr or HDF5 file. Arrays
  inside a container are named after a colon: ``cells.h5:raw/image``, ``vol.zarr:labels``; a
  container that holds exactly one array needs no name.
- :func:`decode_labels` turns an integer ``(z, x, y)`` volume or an RGB(A) ``(z, x, y, 3|4)`` color
  volume into class ids. Colors map to ids through a color table: by default the platelet-em colors
  (:data:`PLATELET_COLORS`); an override is a mapping ``{id: (r, g, b)}`` or the path of a JSON
  (``{"0": [0, 0, 0], "1": [1, 1, 224]}``) or TOML (``0 = [0, 0, 0]``) file of the same shape.
  The alpha channel of RGBA labels is ignored.
- :func:`load_platelet_dir` reads the public platelet-em layout; :func:`load_volumes` reads any
  train/eval(/test) volumes. Both validate at load time and raise :class:`DataError` with one
  message that names the file and the problem.
"""

from __future__ import annotations

import json
import struct
import tomllib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "DataError",
    "Dataset",
    "LABEL_DTYPE",
    "PLATELET_CLASSES",
    "PLATELET_COLORS",
    "PLATELET_ORG_CLASSES",
    "PLATELET_VOXEL_SIZE",
    "Volume",
    "check_window_fits",
    "class_shares",
    "decode_labels",
    "load_color_table",
    "load_platelet_dir",
    "load_volumes",
    "normalize",
    "read_array",
]

PLATELET_CLASSES = (
    "background",
    "cell",
    "mitochondrion",
    "alpha_granule",
    "canalicular_vessel",
    "dense_granule_body",
    "dense_granule_core",
)
PLATELET_ORG_CLASSES = (2, 3, 4, 5, 6)
PLATELET_VOXEL_SIZE = (40.0, 10.0, 10.0)
# RGB colors of the platelet-em semantic labels, one per class id (PAPER_SPEC, "What the real data
# look like").
PLATELET_COLORS: dict[int, tuple[int, int, int]] = {
    0: (0, 0, 0),
    1: (1, 1, 224),
    2: (1, 171, 254),
    3: (1, 254, 1),
    4: (255, 224, 0),
    5: (250, 94, 0),
    6: (245, 0, 203),
}
# Labels are stored as int32: compact, and (unlike uint8) never mistaken for a boolean mask when
# used as an index tensor in torch.
LABEL_DTYPE = np.int32

ArrayLike = str | Path | np.ndarray
ColorTable = Mapping[int, Sequence[int]] | str | Path

_TIFF_SUFFIXES = (".tif", ".tiff")
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
_CONTAINER_SUFFIXES = (*_HDF5_SUFFIXES, ".zarr", ".npz")
_SUPPORTED = "TIF/TIFF, NPY, NPZ, PNG, Zarr (.zarr or a directory), HDF5 (.h5/.hdf5)"
# Voxels per chunk when decoding colors: bounds the temporary uint32/int64 arrays to ~100 MB.
_DECODE_CHUNK = 8_000_000


class DataError(ValueError):
    """Bad input data; the message names the file and the problem."""


def normalize(image: np.ndarray) -> np.ndarray:
    """float32 copy of ``image`` with mean 0 and sd 1 (sd 0 leaves it centered)."""
    image = np.asarray(image, dtype=np.float32)
    mean = float(image.mean(dtype=np.float64))
    sd = float(image.std(dtype=np.float64))
    return ((image - mean) / (sd if sd > 0 else 1.0)).astype(np.float32)


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


# ---------------------------------------------------------------------------------------------
# Reading one array


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
    path, key = _split_spec(spec)
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


def _split_spec(spec: str | Path) -> tuple[Path, str | None]:
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


# ---------------------------------------------------------------------------------------------
# Labels


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


def _is_color(array: np.ndarray) -> bool:
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
    if _is_color(array):
        return _decode_colors(array, name, load_color_table(color_table))
    _check_3d(array, name, "label")
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


# ---------------------------------------------------------------------------------------------
# Volumes and datasets


def _check_3d(array: np.ndarray, name: str, kind: str) -> None:
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


def _read_image(source: ArrayLike, name: str) -> np.ndarray:
    array = _load(source)
    _check_3d(array, name, "image")
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
    return normalize(array)


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
    voxel_size: Sequence[float] = PLATELET_VOXEL_SIZE,
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
        voxel_size: (z, x, y) nanometres, the same for every volume.
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
    voxel = tuple(float(v) for v in voxel_size)
    if len(voxel) != 3 or not all(v > 0 for v in voxel):
        raise DataError(f"voxel_size must be three positive numbers (z, x, y), got {voxel_size!r}")

    images, labels, names, any_color = {}, {}, {}, False
    for split, (image_src, label_src) in pairs.items():
        image_name = _source_name(image_src, f"{split} image")
        label_name = _source_name(label_src, f"{split} labels")
        raw_labels = _load(label_src)
        if raw_labels.size == 0:
            raise DataError(f"{label_name}: the label volume is empty (shape {raw_labels.shape})")
        any_color |= _is_color(raw_labels)
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
            image=images[split], labels=labels[split], name=names[split][0], voxel_size=voxel
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


PLATELET_LAYOUT = {
    "train": ("images/50-images.tif", "labels-semantic/50-semantic.tif"),
    "eval": ("images/24-images.tif", "labels-semantic/24-semantic.tif"),
    "test": ("images/test-images.tif", "labels-semantic/test-semantic.tif"),
}


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


def open_array(spec: str | Path):
    """Like ``read_array`` but lazy where the format allows (NPY and uncompressed TIFF by memory
    map, Zarr and HDF5 datasets as they are): slicing reads only the slices asked for, so
    volumes larger than memory can be segmented slab by slab."""
    path, key = _split_spec(spec)
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
