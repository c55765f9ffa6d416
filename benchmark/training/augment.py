"""Augmentation that runs where the data live (on the GPU when there is one).

- One elastic displacement field per epoch for the whole training volume: a ``grid`` (gx, gy, 2)
  array of Gaussian values (mean, sd in pixels) bilinearly up-sampled to (x, y, 2) and applied to
  every x-y plane of image (bilinear), labels (nearest) and loss weights (bilinear).
- Per window: reflections along each axis and brightness/contrast (see ``benchmark.config``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["elastic_field", "apply_elastic", "augment_window"]


def elastic_field(
    shape_xy: tuple[int, int],
    grid: tuple[int, int],
    mean: float,
    sd: float,
    seed: int,
    device: torch.device,
) -> torch.Tensor:
    """Sampling grid ``(1, x, y, 2)`` in ``grid_sample``'s normalized coordinates.

    The displacement (pixels) is drawn on the CPU from ``seed`` and up-sampled on ``device``.
    """
    g = torch.Generator().manual_seed(int(seed))
    coarse = torch.randn((1, 2, *grid), generator=g, dtype=torch.float32) * sd + mean
    disp = F.interpolate(coarse.to(device), size=shape_xy, mode="bilinear", align_corners=True)
    sx, sy = shape_xy
    # grid_sample's last dim is (w, h) = (y, x) in normalized [-1, 1] units.
    ys = torch.linspace(-1, 1, sy, device=device)
    xs = torch.linspace(-1, 1, sx, device=device)
    base_x, base_y = torch.meshgrid(xs, ys, indexing="ij")
    new_x = base_x + disp[0, 0] * (2.0 / max(sx - 1, 1))
    new_y = base_y + disp[0, 1] * (2.0 / max(sy - 1, 1))
    return torch.stack([new_y, new_x], dim=-1).unsqueeze(0)


def apply_elastic(
    image: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, sampling_grid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Warps every x-y plane of (z, x, y) volumes with one field; borders reflect."""
    z = image.shape[0]
    grid = sampling_grid.expand(z, -1, -1, -1)

    def warp(volume: torch.Tensor, mode: str) -> torch.Tensor:
        out = F.grid_sample(
            volume.unsqueeze(1), grid, mode=mode, padding_mode="reflection", align_corners=True
        )
        return out.squeeze(1)

    warped_labels = warp(labels.to(torch.float32), "nearest").round().to(labels.dtype)
    return warp(image, "bilinear"), warped_labels, warp(weights, "bilinear")


def augment_window(
    image: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    flips: tuple[bool, bool, bool],
    contrast: float,
    brightness: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reflects (z, x, y) windows along the flagged axes and scales / shifts the image.

    ``flips``, ``contrast`` and ``brightness`` are host values, so nothing here waits for the
    device.
    """
    dims = [d for d, f in enumerate(flips) if f]
    if dims:
        image, labels, weights = (torch.flip(t, dims) for t in (image, labels, weights))
    mean = image.mean()
    image = (image - mean) * contrast + mean + brightness
    return image, labels, weights
