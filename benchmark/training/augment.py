"""Augmentation as the original code does it (leapmanlab ``examples``, ``DataHandler``), run where
the data live (on the GPU when there is one).

- Elastic deformation (``_deformation_map`` and ``_deform``): one displacement field per epoch
  for the whole training volume. Per displacement axis, uniform(-1, 1) values on a coarse grid of
  ``int(size / scale)`` cells per axis (20 x 20 for an 800 x 800 plane at scale 40), filtered with
  a Gaussian of ``sigma`` grid cells, times ``alpha`` pixels, up-sampled to the plane with a cubic
  spline (``scipy.ndimage.zoom``); sampling coordinates are clipped to the plane. Every x-y plane
  of image, labels and weights is warped with the same field, with nearest-neighbour lookup
  (the code warps the image that way too; ``image_mode="bilinear"`` interpolates it instead).
  The paper's "(20,20,2) Gaussians, mean 20, sd 0.6" garbles these three numbers.
- Per window (``_augment``): brightness, then contrast, ``x' = (x + b) * c``, with ``b`` a
  fraction of the training volume's range (max - min) and ``c`` about 1, multiplying about 0;
  reflections along the flagged axes (the code draws them but discards ``np.flip``'s result, so
  the paper's nets saw none; ``reflect`` is off in ``paper``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter, zoom

__all__ = ["apply_elastic", "augment_window", "elastic_displacement", "elastic_field"]


def elastic_displacement(
    shape_xy: Sequence[int],
    *,
    scale: float = 40.0,
    alpha: float = 20.0,
    sigma: float = 0.6,
    seed: int,
) -> np.ndarray:
    """The displacement field ``(2, x, y)`` float32 in pixels (along x, along y), from ``seed``.

    Args:
        shape_xy: the plane's size (x, y).
        scale: pixels per coarse grid cell (the code's ``deform_scale``).
        alpha: amplitude in pixels (``deform_alpha``).
        sigma: Gaussian filter width in grid cells (``deform_sigma``).
        seed: the field's seed (a value: the same seed gives the same field anywhere).
    """
    rng = np.random.default_rng(int(seed))
    size = [int(s) for s in shape_xy]
    small = [max(1, int(s / float(scale))) for s in size]
    fields = []
    for _ in range(2):
        coarse = gaussian_filter(rng.uniform(-1.0, 1.0, small), sigma, mode="reflect") * alpha
        fine = zoom(coarse, [s / c for s, c in zip(size, small)], order=3)
        fields.append(fine[: size[0], : size[1]])
    return np.stack(fields).astype(np.float32)


def elastic_field(
    shape_xy: Sequence[int],
    *,
    scale: float,
    alpha: float,
    sigma: float,
    seed: int,
    device: torch.device,
) -> torch.Tensor:
    """Clipped sampling coordinates ``(2, x, y)`` float32 on ``device``: where each output pixel
    reads from."""
    disp = torch.as_tensor(
        elastic_displacement(shape_xy, scale=scale, alpha=alpha, sigma=sigma, seed=seed)
    ).to(device)
    sx, sy = (int(s) for s in shape_xy)
    x = (torch.arange(sx, device=device, dtype=torch.float32)[:, None] + disp[0]).clamp(0, sx - 1)
    y = (torch.arange(sy, device=device, dtype=torch.float32)[None, :] + disp[1]).clamp(0, sy - 1)
    return torch.stack([x, y])


def apply_elastic(
    image: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    coords: torch.Tensor,
    image_mode: str = "nearest",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Warps every x-y plane of (z, x, y) volumes with one field (:func:`elastic_field`)."""
    z, sx, sy = image.shape
    # Nearest neighbour as scipy's map_coordinates(order=0): floor(coordinate + 0.5).
    nearest = (coords + 0.5).floor().long()
    flat = (nearest[0] * sy + nearest[1]).reshape(-1)

    def lookup(volume: torch.Tensor) -> torch.Tensor:
        return volume.reshape(z, sx * sy)[:, flat].reshape(z, sx, sy)

    if image_mode == "nearest":
        warped = lookup(image)
    else:
        # grid_sample's last axis is (w, h) = (y, x) in [-1, 1] (align_corners=True).
        grid = torch.stack(
            [coords[1] * (2.0 / max(sy - 1, 1)) - 1, coords[0] * (2.0 / max(sx - 1, 1)) - 1], -1
        )
        warped = F.grid_sample(
            image.unsqueeze(1),
            grid.unsqueeze(0).expand(z, -1, -1, -1),
            mode="bilinear",
            padding_mode="border",
            align_corners=True,
        ).squeeze(1)
    return warped, lookup(labels), lookup(weights)


def augment_window(
    image: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    flips: tuple[bool, bool, bool],
    contrast: float,
    brightness: float | torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``x' = (x + brightness) * contrast`` on the image window; reflects (z, x, y) windows of
    image, labels and weights along the flagged axes.

    ``brightness`` is in the image's units (the plan's fraction times the volume's range; a
    device scalar keeps the host from waiting), ``flips`` and ``contrast`` are host values.
    """
    image = (image + brightness) * contrast
    dims = [d for d, f in enumerate(flips) if f]
    if dims:
        image, labels, weights = (torch.flip(t, dims) for t in (image, labels, weights))
    return image, labels, weights
