"""The platelet-em data set of Guay et al. (2020): its classes, label colors, voxel size and file
layout. These are the defaults of every loader (and of the phantom, which imitates it)."""

from __future__ import annotations

from analysis.platelet import PLATELET_COLORS

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
# The label colors are defined once in analysis (the report draws them too, and analysis never
# imports benchmark).

PLATELET_LAYOUT = {
    "train": ("images/50-images.tif", "labels-semantic/50-semantic.tif"),
    "eval": ("images/24-images.tif", "labels-semantic/24-semantic.tif"),
    "test": ("images/test-images.tif", "labels-semantic/test-semantic.tif"),
}
