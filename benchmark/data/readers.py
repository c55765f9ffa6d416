"""Reading one array from a file: TIF/TIFF, NPY, NPZ, PNG, Zarr, OME-Zarr or HDF5.

Arrays inside a container are named after a colon: ``cells.h5:raw/image``, ``vol.zarr:labels``; a
container that holds exactly one array needs no name. :func:`read_array` reads the whole array;
:func:`open_array` opens it lazily where the format allows.

OME-Zarr (NGFF 0.4 on Zarr format 2, or 0.5 on Zarr format 3): a group with ``multiscales``
metadata is one image; ``vol.ome.zarr`` reads its level 0 (``level=`` picks another), and
``vol.ome.zarr:labels/cells`` the level of a multiscale group inside it. Singleton time and channel
axes are dropped, so a (t, c, z, y, x) image of one channel reads as (z, y, x).
:func:`read_voxel_size` gives the image's voxel size in nanometres from the same metadata.

Zarr needs zarr-python 3 (which reads both Zarr formats); N5 is not readable (zarr-python 3 has no
N5 store). PNG goes through Pillow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.volumes import DataError

__all__ = ["open_array", "read_array", "read_voxel_size", "split_spec"]

_TIFF_SUFFIXES = (".tif", ".tiff")
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
_CONTAINER_SUFFIXES = (*_HDF5_SUFFIXES, ".zarr", ".npz", ".n5")
_SUPPORTED = "TIF/TIFF, NPY, NPZ, PNG, Zarr and OME-Zarr (.zarr or a directory), HDF5 (.h5/.hdf5)"
# OME-NGFF units -> nanometres.
_UNIT_NM = {
    "angstrom": 0.1,
    "nanometer": 1.0,
    "micrometer": 1e3,
    "millimeter": 1e6,
    "centimeter": 1e7,
    "meter": 1e9,
    "picometer": 1e-3,
}


def read_array(spec: str | Path, *, level: int | None = None) -> np.ndarray:
    """Reads one array from a file.

    Args:
        spec: a path (``vol.tif``, ``vol.npy``, ``slice.png``, ``vol.zarr``, ``vol.h5``), optionally
            followed by ``:name`` naming the array inside a container (``vol.h5:raw/image``,
            ``vol.zarr:labels``, ``vol.npz:image``). A container holding exactly one array needs no
            name; an OME-Zarr image (a multiscale group) needs none either.
        level: the multiscale level of an OME-Zarr image (default 0, the full resolution).

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
    if level is not None and not _is_zarr(path):
        raise DataError(f"{path}: level={level} applies to OME-Zarr images only")
    if suffix == ".n5":
        raise DataError(_N5_MESSAGE.format(path=path))
    if _is_zarr(path):
        image = _open_zarr_image(path, key, level)
        try:
            array = np.asarray(image.array[...])
        except Exception as exc:
            raise DataError(
                f"{image.name}: cannot read the Zarr array ({type(exc).__name__}: {exc})"
            ) from exc
        array = array[image.index] if image.index else array
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


_N5_MESSAGE = (
    "{path}: N5 is not supported (zarr-python 3 has no N5 store); convert the volume to Zarr "
    "or TIFF first, e.g. with tensorstore or z5py"
)


def _is_zarr(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" or (path.is_dir() and path.suffix.lower() != ".n5")


@dataclass(frozen=True)
class _ZarrImage:
    """A Zarr array picked from a store: ``array[index]`` drops singleton time/channel axes;
    ``multiscale`` and ``level`` locate it in its OME-Zarr metadata (None for plain Zarr)."""

    array: Any
    name: str
    index: tuple = ()
    multiscale: dict | None = None
    level: int | None = None


def _multiscales(group: Any) -> list[dict] | None:
    """The ``multiscales`` metadata of a group: NGFF 0.4 (attributes) or 0.5 (under ``ome``)."""
    attrs = dict(group.attrs)
    found = attrs.get("multiscales") or (attrs.get("ome") or {}).get("multiscales")
    return found if isinstance(found, list) and found else None


def _zarr_open(path: Path) -> Any:
    try:
        import zarr
    except ImportError as exc:  # pragma: no cover - a dependency
        raise DataError(f"{path}: reading Zarr needs zarr-python 3: pip install 'zarr>=3'") from exc
    if int(zarr.__version__.split(".")[0]) < 3:
        raise DataError(
            f"{path}: zarr-python {zarr.__version__} is installed; densecell-bench needs zarr>=3 "
            "(which reads Zarr formats 2 and 3): pip install 'zarr>=3'"
        )
    try:
        return zarr.open(store=str(path), mode="r")
    except Exception as exc:
        raise DataError(
            f"{path}: cannot read as a Zarr array or group ({type(exc).__name__}: {exc})"
        ) from exc


def _open_zarr_image(path: Path, key: str | None, level: int | None) -> _ZarrImage:
    """The array ``key`` names in the Zarr store at ``path`` (see the module docstring)."""
    import zarr

    node = _zarr_open(path)
    name = f"{path}:{key}" if key else str(path)
    if isinstance(node, zarr.Array):
        if key is not None:
            raise DataError(f"{path}: is a single Zarr array; drop the ':{key}' suffix")
        if level is not None:
            raise DataError(f"{path}: level={level} given, but this is a plain Zarr array")
        return _ZarrImage(node, name)
    group = node
    if key is not None:
        try:
            member = group[key]
        except KeyError:
            member = None
        if isinstance(member, zarr.Array):
            if level is not None:
                raise DataError(f"{name}: level={level} given, but this is one array, not an image")
            return _ZarrImage(member, name)
        if isinstance(member, zarr.Group):
            group = member
        elif _multiscales(group) and key.isdigit():
            level = int(key)  # ``vol.ome.zarr:1``: level 1 even where its path is not "1"
        else:
            raise DataError(
                f"{path}: no array or group named {key!r}; the file holds {_array_names(path, node)}"
            )
    multiscales = _multiscales(group)
    if multiscales is None:
        if level is not None:
            raise DataError(f"{name}: level={level} given, but this is not an OME-Zarr image")
        names = _array_names(path, group)
        return _ZarrImage(group[_choose(Path(name), None, names, "array")], name)
    multiscale = multiscales[0]
    datasets = multiscale.get("datasets") or []
    level = 0 if level is None else int(level)
    if not 0 <= level < len(datasets):
        raise DataError(
            f"{name}: level {level} asked for; the OME-Zarr image has levels 0..{len(datasets) - 1}"
        )
    try:
        array = group[datasets[level]["path"]]
    except (KeyError, TypeError) as exc:
        raise DataError(
            f"{name}: OME-Zarr level {level} names {datasets[level]!r}, which is not in the store"
        ) from exc
    axes = multiscale.get("axes") or []
    index: tuple = ()
    if len(axes) == array.ndim:
        kinds = [_axis_type(a) for a in axes]
        if any(k in ("time", "channel") for k in kinds):
            index = tuple(
                0 if k in ("time", "channel") and size == 1 else slice(None)
                for k, size in zip(kinds, array.shape)
            )
            if all(isinstance(i, slice) for i in index):
                index = ()
    return _ZarrImage(array, f"{name} (level {level})", index, multiscale, level)


def _axis_type(axis: Any) -> str:
    if isinstance(axis, dict):
        return str(axis.get("type") or _NAME_TYPES.get(str(axis.get("name", "")).lower(), ""))
    return _NAME_TYPES.get(str(axis).lower(), "")  # NGFF 0.3: axes were names only


_NAME_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


def _array_names(path: Path, group: Any) -> list[str]:
    import zarr

    try:
        return sorted(n for n, m in group.members(max_depth=None) if isinstance(m, zarr.Array))
    except Exception as exc:
        raise DataError(
            f"{path}: cannot list the Zarr group ({type(exc).__name__}: {exc})"
        ) from exc


def read_voxel_size(spec: str | Path, *, level: int | None = None) -> tuple[float, ...] | None:
    """The voxel size in nanometres of an OME-Zarr image, one value per axis of what
    :func:`read_array` returns (time and channel axes excluded), or None when the file is not
    OME-Zarr or its metadata lack a scale or a length unit.

    The scale is the level's ``scale`` transformation times the multiscale's own one, if any.
    """
    path, key = split_spec(spec)
    if not path.exists() or not _is_zarr(path):
        return None
    image = _open_zarr_image(path, key, level)
    if image.multiscale is None:
        return None
    axes = image.multiscale.get("axes") or []
    ndim = image.array.ndim
    if len(axes) != ndim:
        return None
    scale = np.ones(ndim)
    transforms = list(
        image.multiscale["datasets"][image.level].get("coordinateTransformations", [])
    )
    transforms += list(image.multiscale.get("coordinateTransformations", []) or [])
    for transform in transforms:
        if transform.get("type") == "scale" and "scale" in transform:
            values = np.asarray(transform["scale"], dtype=float)
            if values.shape != (ndim,):
                return None
            scale = scale * values
    sizes = []
    for axis, value, size in zip(axes, scale, image.array.shape):
        kind = _axis_type(axis)
        if kind in ("time", "channel"):
            if size == 1 or kind == "time":
                continue
            return None  # a multi-channel image is not a volume
        unit = axis.get("unit") if isinstance(axis, dict) else None
        factor = _UNIT_NM.get(str(unit).lower()) if unit else None
        if factor is None or not value > 0:
            return None
        sizes.append(float(value) * factor)
    return tuple(sizes)


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
    """A PNG -> (x, y) gray or (x, y, 3|4) colors (palette images become RGB(A)), via Pillow."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - a dependency
        raise DataError(f"{path}: reading PNG needs Pillow: pip install pillow") from exc
    with Image.open(path) as image:
        if image.format != "PNG":
            raise DataError(f"{path}: not a PNG file (Pillow reads it as {image.format})")
        image.load()
        if image.mode == "P" or image.mode == "PA":
            transparent = "transparency" in image.info or image.mode == "PA"
            image = image.convert("RGBA" if transparent else "RGB")
        elif image.mode == "1":
            image = image.convert("L")
        return np.asarray(image)


def open_array(spec: str | Path, *, level: int | None = None):
    """Like ``read_array`` but lazy where the format allows (NPY and uncompressed TIFF by memory
    map, Zarr and HDF5 datasets as they are): slicing reads only the slices asked for, so
    volumes larger than memory can be segmented slab by slab."""
    path, key = split_spec(spec)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".n5":
        raise DataError(_N5_MESSAGE.format(path=path))
    if level is not None and not _is_zarr(path):
        raise DataError(f"{path}: level={level} applies to OME-Zarr images only")
    try:
        if suffix == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        if suffix in _TIFF_SUFFIXES:
            import tifffile

            try:
                return tifffile.memmap(path, mode="r")
            except ValueError:  # compressed or tiled: read it whole
                return read_array(spec)
        if _is_zarr(path):
            image = _open_zarr_image(path, key, level)
            return _AxisView(image.array, image.index) if image.index else image.array
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


class _AxisView:
    """A lazy view of an array with some axes fixed at an index (OME-Zarr's singleton time and
    channel axes): ``view[i]`` reads ``array[full index]`` only."""

    def __init__(self, array: Any, index: Sequence) -> None:
        self.array, self.index = array, tuple(index)
        self._free = [i for i, part in enumerate(self.index) if isinstance(part, slice)]
        self.shape = tuple(array.shape[i] for i in self._free)
        self.ndim = len(self.shape)
        self.dtype = array.dtype

    def __getitem__(self, item: Any) -> np.ndarray:
        item = item if isinstance(item, tuple) else (item,)
        if any(part is Ellipsis for part in item):
            at = item.index(Ellipsis)
            fill = (slice(None),) * (self.ndim - len(item) + 1)
            item = item[:at] + fill + item[at + 1 :]
        full = list(self.index)
        for axis, part in zip(self._free, item):
            full[axis] = part
        return np.asarray(self.array[tuple(full)])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[...]
        return out.astype(dtype) if dtype is not None else out
