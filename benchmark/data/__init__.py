"""Data: volumes and datasets, file readers, label decoding, the platelet-em layout, the built-in
phantom, and ``DataSpec`` (a serializable description of where a run's data come from).

Axis order is (z, x, y) throughout; images are float32 normalized to mean 0 / sd 1 per volume and
labels are integer class ids.
"""

from benchmark.data.labels import ColorTable, decode_labels, load_color_table
from benchmark.data.loaders import load_platelet_dir, load_volumes
from benchmark.data.platelet import (
    PLATELET_CLASSES,
    PLATELET_COLORS,
    PLATELET_LAYOUT,
    PLATELET_ORG_CLASSES,
    PLATELET_VOXEL_SIZE,
)
from benchmark.data.readers import open_array, read_array
from benchmark.data.spec import DataSpec, load_data
from benchmark.data.volumes import (
    LABEL_DTYPE,
    DataError,
    Dataset,
    Volume,
    check_window_fits,
    class_shares,
    normalize,
)

__all__ = [
    "LABEL_DTYPE",
    "PLATELET_CLASSES",
    "PLATELET_COLORS",
    "PLATELET_LAYOUT",
    "PLATELET_ORG_CLASSES",
    "PLATELET_VOXEL_SIZE",
    "ColorTable",
    "DataError",
    "DataSpec",
    "Dataset",
    "Volume",
    "check_window_fits",
    "class_shares",
    "decode_labels",
    "load_color_table",
    "load_data",
    "load_platelet_dir",
    "load_volumes",
    "normalize",
    "open_array",
    "read_array",
]
