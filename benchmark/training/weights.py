"""Per-voxel loss weights W = w + W_cb + W_ep (paper Eq. 2, after Ronneberger et al. 2015).

- ``w`` (``weight_floor``, 0.01) sets the minimum weight.
- ``W_cb`` balances classes: W_cb(v) = V / (C * N_l(v)) where N_c is the count of class c in the
  training labels, V the voxel count and C the number of classes present, so W_cb has mean 1 over
  the volume and every present class carries the same total weight (the paper only says
  W_cb proportional to 1/N; the scale is our choice).
- ``W_ep`` is the paper's "sum of scaled, thresholded diffusion operations" that up-weights voxels
  near boundaries and inside thin structures without morphology: for each diffusion scale sigma
  (a Gaussian blur within each x-y plane, since z is coarser), the one-hot mask of a voxel's own
  class is diffused; where less than ``threshold`` of the diffused mass around the voxel is its own
  class (near another class, or inside a structure thinner than sigma), the voxel gets ``scale``.

Computed with torch on the training device (separable convolutions), once per dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["WeightTerms", "class_balance", "edge_term", "loss_weights"]


@dataclass(frozen=True)
class WeightTerms:
    """The three components and their sum, each (z, x, y) float32."""

    floor: float
    class_balance: torch.Tensor
    edge: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.floor + self.class_balance + self.edge


def class_balance(labels: torch.Tensor, n_classes: int, power: float = 1.0) -> torch.Tensor:
    """W_cb(v) proportional to N_l(v)^-power, scaled to mean 1 over the volume.

    ``power=1`` is the paper's 1/N: W_cb(v) = V / (C_present * N_l(v)). A smaller power tempers
    the weight of rare classes (0 makes W_cb = 1 everywhere).
    """
    counts = torch.bincount(labels.reshape(-1).long(), minlength=n_classes).to(torch.float64)
    raw = torch.where(counts > 0, counts.clamp(min=1) ** -float(power), torch.zeros_like(counts))
    per_class = raw * labels.numel() / (raw * counts).sum()
    return per_class.to(torch.float32)[labels.long()]


def _gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur_xy(volume: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (c, z, x, y) along x and y, reflecting at the borders."""
    k = _gaussian_kernel(sigma, volume.device)
    r = (k.numel() - 1) // 2
    c, z, x, y = volume.shape
    planes = volume.reshape(c * z, 1, x, y)
    planes = F.conv2d(F.pad(planes, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    planes = F.conv2d(F.pad(planes, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return planes.reshape(c, z, x, y)


def edge_term(
    labels: torch.Tensor,
    n_classes: int,
    sigmas: Sequence[float] = (2.0, 6.0),
    scales: Sequence[float] = (1.0, 1.0),
    threshold: float = 0.75,
) -> torch.Tensor:
    """W_ep: sum over scales of ``scale * [diffused own-class mass < threshold]``."""
    if len(sigmas) != len(scales):
        raise ValueError(
            f"edge_sigmas {tuple(sigmas)} and edge_scales {tuple(scales)} differ in length"
        )
    out = torch.zeros(labels.shape, dtype=torch.float32, device=labels.device)
    index = labels.long().unsqueeze(0)
    for sigma, scale in zip(sigmas, scales):
        own = torch.zeros(labels.shape, dtype=torch.float32, device=labels.device)
        # One class at a time keeps memory at two volumes, not n_classes of them.
        for c in range(n_classes):
            mask = (index == c).to(torch.float32)
            if not mask.any():
                continue
            diffused = _blur_xy(mask, float(sigma))[0]
            own += diffused * mask[0]
        out += scale * (own < threshold).to(torch.float32)
    return out


def loss_weights(
    labels: torch.Tensor,
    n_classes: int,
    *,
    floor: float = 0.01,
    balance: bool = True,
    balance_power: float = 1.0,
    edge_sigmas: Sequence[float] = (2.0, 6.0),
    edge_scales: Sequence[float] = (1.0, 1.0),
    edge_threshold: float = 0.75,
) -> WeightTerms:
    """All terms of W for integer ``labels`` (z, x, y)."""
    cb = (
        class_balance(labels, n_classes, balance_power)
        if balance
        else torch.zeros(labels.shape, device=labels.device)
    )
    ep = (
        edge_term(labels, n_classes, edge_sigmas, edge_scales, edge_threshold)
        if edge_sigmas
        else torch.zeros_like(cb)
    )
    return WeightTerms(floor, cb, ep)
