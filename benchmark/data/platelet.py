"""The platelet-em data set of Guay et al. (2020): its classes, label colors, voxel size and file
layout. These are the defaults of every loader (and of the phantom, which imitates it)."""

from __future__ import annotations

__all__ = [
    "PLATELET_CLASSES",
    "PLATELET_COLORS",
    "PLATELET_LAYOUT",
    "PLATELET_ORG_CLASSES",
    "PLATELET_VOXEL_SIZE",
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

PLATELET_LAYOUT = {
    "train": ("images/50-images.tif", "labels-semantic/50-semantic.tif"),
    "eval": ("images/24-images.tif", "labels-semantic/24-semantic.tif"),
    "test": ("images/test-images.tif", "labels-semantic/test-semantic.tif"),
}
