"""Built-in net families; importing this package registers their variants."""

from architectures.nets import deeplab, deepvess, twod_threed, unet  # noqa: F401
