"""U-Net baselines: the original 2D U-Net (Ronneberger et al. 2015) and fully-3D U-Nets
(Cicek et al. 2016 style), all built from the shared ``EncoderDecoder`` block.

- ``unet_original``: 3x3 ``valid`` convs (as 1x3x3 on z = 1 windows), 4 encoder blocks (64..512)
  + 5 decoder blocks (1024..64), 2x2 max-pool, 2x2 stride-2 transposed convs, center-cropped
  concatenated skips, 1x1 predictor; (1,572,572) -> (1,388,388); 31,030,983 parameters.
- ``unet3d_thin``: same padding, three 3x3x3 convs per block, two pooling steps that pool only
  x,y; (5,300,300). With same padding its natural output is (5,300,300); the paper reports a
  (5,296,296) output, so the output is center-cropped by ``output_margin=(0,2,2)`` voxels per side
  to score the same voxels as the 2D-3D nets (set ``(0,0,0)`` to keep everything).
- ``unet3d_thick``: as Thin but pooling and up-sampling along all three axes; (16,180,180).

Kernel counts start at 64 and double per scale like the paper's other nets (the paper lost the
3D U-Nets' parameter counts; ``python -m benchmark list`` reports ours). The predictor has no
ReLU by default (``predictor_relu=True`` adds it, as the 2D-3D family's original code did).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from architectures.blocks import EncoderDecoder, Predictor, SegmentationNet
from architectures.layers import as_kernel3, center_crop, scale_channels
from architectures.registry import register

__all__ = ["UNet"]


class UNet(SegmentationNet):
    """Encoder-decoder + 1x1x1 predictor with an optional output center crop.

    Args:
        in_channels: image channels.
        n_classes: classes per voxel.
        width: channel multiplier (1.0 = paper).
        base_channels: scale-0 kernels before ``width``.
        depth: pooling steps.
        convs_per_block: convolutions per block.
        conv_kernel: (1,3,3) for a 2D U-Net, (3,3,3) for a 3D one.
        pool: pooling / up-sampling factor, e.g. (1,2,2) or (2,2,2).
        padding: ``"valid"`` (original U-Net) or ``"same"``.
        output_margin: voxels cropped from each side of the output (z, x, y).
        l2_group: the L2 group of the body: ``"2d"`` for 2D nets, ``"3d"`` for fully-3D ones.
        predictor_relu: ReLU after the predictor.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 7,
        *,
        width: float = 1.0,
        base_channels: int = 64,
        depth: int = 4,
        convs_per_block: int = 2,
        conv_kernel: int | Sequence[int] = (1, 3, 3),
        pool: int | Sequence[int] = (1, 2, 2),
        padding: str = "valid",
        output_margin: int | Sequence[int] = (0, 0, 0),
        l2_group: str = "2d",
        predictor_relu: bool = False,
    ) -> None:
        super().__init__()
        if l2_group not in ("2d", "3d"):
            raise ValueError(f"l2_group must be '2d' or '3d', got {l2_group!r}")
        margin = (output_margin,) * 3 if isinstance(output_margin, int) else tuple(output_margin)
        if len(margin) != 3 or any(m < 0 for m in margin):
            raise ValueError(
                f"output_margin must be three non-negative ints, got {output_margin!r}"
            )
        base = scale_channels(base_channels, width)
        self.n_classes = n_classes
        self.encoder_decoder = EncoderDecoder(
            in_channels,
            base,
            depth=depth,
            convs_per_block=convs_per_block,
            conv_kernel=as_kernel3(conv_kernel, "conv_kernel"),
            pool=pool,
            padding=padding,  # type: ignore[arg-type]
        )
        self.predictor = Predictor(base, n_classes, relu=predictor_relu)
        self.output_margin = margin
        self.l2_group = l2_group

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.predictor(self.encoder_decoder(x))
        if any(self.output_margin):
            size = [s - 2 * m for s, m in zip(logits.shape[2:], self.output_margin)]
            logits = center_crop(logits, size)
        return {"logits": logits}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        body = list(self.encoder_decoder.parameters())
        return {
            "2d": body if self.l2_group == "2d" else [],
            "3d": body if self.l2_group == "3d" else [],
            "predictors": list(self.predictor.parameters()),
        }


def _create(args: dict[str, Any], **overrides: Any) -> UNet:
    return UNet(**dict(args, **overrides))


# The U-Net's own recipe in the original code (leapmanlab examples, example3 notebook): window
# spacing (1,80,80) on 388x388 output windows (1,800 windows per epoch for the platelet volume;
# the paper trained 100 epochs, 180k steps), learning rate 10^-3.3, L2 10^-5 on the body and none
# on the predictor (its settings are left at TensorFlow's default, off). Everything else as the
# 2D-3D nets ("Baseline ... networks were trained identically except as noted").
_UNET_RECIPE = dict(
    lr=10**-3.3,
    l2={"2d": 1e-5, "3d": 0.0, "predictors": 0.0},
    spacing=(1, 80, 80),
    epochs=100.0,
)
# No original code for the 3D U-Nets: the paper's printed lambda_3D (10^-5) on their body.
_UNET3D_RECIPE = dict(l2={"2d": 10**-4.7, "3d": 1e-5, "predictors": 1e-9})


@register(
    "unet_original",
    family="unet2d",
    description="Original 2D U-Net (Ronneberger 2015): valid 3x3 convs, 572 -> 388",
    window=(1, 572, 572),
    paper_params=31_030_983,
    train_defaults=_UNET_RECIPE,
    # The quick window's output is 68 px: a spacing of half of it covers every labelled voxel
    # (the recipe's (1,80,80) is for 388 px outputs).
    quick=dict(width=0.125, window=(1, 252, 252), spacing=(1, 34, 34)),
    accepts=UNet,
)
def unet_original(**kwargs: Any) -> UNet:
    return _create(
        dict(depth=4, conv_kernel=(1, 3, 3), pool=(1, 2, 2), padding="valid", l2_group="2d"),
        **kwargs,
    )


_UNET3D = dict(depth=2, convs_per_block=3, conv_kernel=(3, 3, 3), padding="same", l2_group="3d")


@register(
    "unet3d_thin",
    family="unet3d",
    description="3D U-Net Thin: 3x3x3 same convs, 3 per block, 2 x,y-only pools; (5,300,300) -> (5,296,296)",
    window=(5, 300, 300),
    train_defaults=_UNET3D_RECIPE,
    quick=dict(width=0.125, window=(5, 32, 32)),
    accepts=UNet,
)
def unet3d_thin(**kwargs: Any) -> UNet:
    return _create(dict(_UNET3D, pool=(1, 2, 2), output_margin=(0, 2, 2)), **kwargs)


@register(
    "unet3d_thick",
    family="unet3d",
    description="3D U-Net Thick: as Thin but pools and up-samples z too; (16,180,180)",
    window=(16, 180, 180),
    train_defaults=_UNET3D_RECIPE,
    quick=dict(width=0.125, window=(8, 32, 32)),
    accepts=UNet,
)
def unet3d_thick(**kwargs: Any) -> UNet:
    return _create(dict(_UNET3D, pool=(2, 2, 2)), **kwargs)
