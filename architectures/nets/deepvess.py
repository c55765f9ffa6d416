"""DeepVess (Haft-Javaherian et al. 2019), the small-patch 3D CNN the paper tried and dropped.

Reconstructed from the DeepVess paper: a (7,33,33) patch goes through three 3x3x3 valid convs
(32 kernels) that consume z, a (1,2,2) max-pool, three 1x3x3 valid convs (64 kernels), a second
pool, a fully connected layer of 1024 units with dropout, and a fully connected output layer that
predicts the classes of the central (1,5,5) voxels. The fully connected layers fix the window: any
other window is an error, which is the scaling problem the paper describes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from architectures.blocks import ConvBlock, SegmentationNet
from architectures.layers import as_kernel3, scale_channels
from architectures.registry import register

__all__ = ["DeepVess"]


def _valid_size(window: tuple[int, int, int]) -> tuple[int, int, int]:
    z, x, y = window
    z, x, y = z - 6, x - 6, y - 6  # three 3x3x3 valid convs
    x, y = x // 2, y // 2
    x, y = x - 6, y - 6  # three 1x3x3 valid convs
    return z, x // 2, y // 2


class DeepVess(SegmentationNet):
    """Small-patch 3D CNN with a fully connected head.

    Args:
        in_channels: image channels.
        n_classes: classes per voxel.
        width: channel multiplier for convs and the hidden layer.
        window: the input window (z, x, y) the fully connected layer is sized for.
        output_window: the central output window (z, x, y).
        hidden: units of the hidden fully connected layer (1024 in DeepVess).
        dropout: dropout before the output layer.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 7,
        *,
        width: float = 1.0,
        window: Sequence[int] = (7, 33, 33),
        output_window: Sequence[int] = (1, 5, 5),
        hidden: int = 1024,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.window = as_kernel3(window, "window")
        self.output_window = as_kernel3(output_window, "output_window")
        feat = _valid_size(self.window)
        if min(feat) < 1:
            raise ValueError(
                f"DeepVess window {self.window} is too small: its features would be {feat}"
            )
        c1, c2 = scale_channels(32, width), scale_channels(64, width)
        self.n_classes = n_classes
        self.features = nn.Sequential(
            ConvBlock(in_channels, c1, [(3, 3, 3)] * 3, padding="valid"),
            nn.MaxPool3d((1, 2, 2), (1, 2, 2)),
            ConvBlock(c1, c2, [(1, 3, 3)] * 3, padding="valid"),
            nn.MaxPool3d((1, 2, 2), (1, 2, 2)),
        )
        n_hidden = scale_channels(hidden, width)
        self.hidden = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * feat[0] * feat[1] * feat[2], n_hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.predictor = nn.Linear(
            n_hidden,
            n_classes * self.output_window[0] * self.output_window[1] * self.output_window[2],
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if tuple(x.shape[2:]) != self.window:
            raise ValueError(
                f"DeepVess is built for window {self.window}, got {tuple(x.shape[2:])}"
            )
        logits = self.predictor(self.hidden(self.features(x)))
        return {"logits": logits.view(x.shape[0], self.n_classes, *self.output_window)}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "2d": [],
            "3d": list(self.features.parameters()) + list(self.hidden.parameters()),
            "predictors": list(self.predictor.parameters()),
        }


@register(
    "deepvess",
    family="deepvess",
    description="DeepVess: small-patch 3D CNN with a 1024-unit fully connected layer (failed in the paper)",
    window=(7, 33, 33),
    quick=dict(width=0.25),
    accepts=DeepVess,
)
def deepvess(**kwargs: Any) -> DeepVess:
    return DeepVess(**kwargs)
