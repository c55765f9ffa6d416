"""Registry of composable segmentation networks for dense cellular EM segmentation.

>>> import architectures
>>> architectures.list_architectures("2d3d_*")
['2d3d_3x3x3', '2d3d_no_3x3x3', '2d3d_no_multiloss', '2d3d_no_pyramid']
>>> net = architectures.build("2d3d_3x3x3", width=0.125, seed=0)
"""

from architectures.blocks import (
    ConvBlock,
    EncoderDecoder,
    Predictor,
    SegmentationNet,
    SpatialPyramid,
)
from architectures.registry import (
    ArchitectureEntry,
    UnknownArchitectureError,
    build,
    count_parameters,
    get_entry,
    list_architectures,
    load_plugin,
    register,
)
from architectures.summary import WindowError, output_window, summarize

__all__ = [
    "ArchitectureEntry",
    "ConvBlock",
    "EncoderDecoder",
    "Predictor",
    "SegmentationNet",
    "SpatialPyramid",
    "UnknownArchitectureError",
    "WindowError",
    "build",
    "count_parameters",
    "get_entry",
    "list_architectures",
    "load_plugin",
    "output_window",
    "register",
    "summarize",
]
