"""DeepLab baselines: DeepLab v3+ heads on a dilated residual network (DRN-D-54) and on ResNet-101.

The paper "minimally modified [DeepLab] to output 7 class predictions" with (572,572) windows in
and out, trained from scratch here (no pretrained weights are available offline). The layout
follows the common PyTorch DeepLab v3+ of that time (backbones ``drn`` and ``resnet``):

- ResNet-101 (bottleneck blocks 3-4-23-3), output stride 16 (last stage dilated by 2), low-level
  features after stage 1; ASPP rates (6, 12, 18).
- DRN-D-54 (Yu et al. 2017): conv stem, bottleneck stages 3-4-6-3 with dilations 2 and 4 in the
  last two, two plain dilated conv layers; output stride 8; ASPP rates (12, 24, 36).
- ASPP: 1x1 + three atrous 3x3 branches + image pooling, 256 channels, 1x1 fuse, dropout 0.5.
  The image-pooling branch has no batch norm: with batch size 1 a 1x1 map has no batch statistics.
- Decoder: 48-channel 1x1 projection of the low-level features, two 3x3 convs of 256, 1x1 classifier,
  bilinear up-sampling to the input size.

The nets are 2D: each z slice of a ``(batch, channels, z, x, y)`` window is segmented
independently (z is folded into the batch), so a (1,572,572) window is the paper's setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from architectures.blocks import SegmentationNet
from architectures.layers import scale_channels
from architectures.registry import register

__all__ = ["DeepLab"]


def _conv_bn_relu(
    c_in: int, c_out: int, kernel: int, stride: int = 1, dilation: int = 1
) -> nn.Sequential:
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 reduce, 3x3 (strided / dilated), 1x1 expand x4, identity or projection."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(in_channels, out, 1, stride, bias=False), nn.BatchNorm2d(out))
            if stride != 1 or in_channels != out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = F.relu(self.bn2(self.conv2(y)), inplace=True)
        y = self.bn3(self.conv3(y))
        return F.relu(y + self.shortcut(x), inplace=True)


def _stage(
    in_channels: int, planes: int, blocks: int, stride: int, dilation: int
) -> tuple[nn.Sequential, int]:
    layers = [Bottleneck(in_channels, planes, stride, dilation)]
    channels = planes * Bottleneck.expansion
    layers += [Bottleneck(channels, planes, 1, dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers), channels


class ResNetBackbone(nn.Module):
    """ResNet with dilation instead of striding in the last stage (output stride 16)."""

    def __init__(self, in_channels: int, base: int, blocks: Sequence[int] = (3, 4, 23, 3)) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            _conv_bn_relu(in_channels, base, 7, stride=2), nn.MaxPool2d(3, 2, 1)
        )
        self.layer1, c1 = _stage(base, base, blocks[0], 1, 1)
        self.layer2, c2 = _stage(c1, base * 2, blocks[1], 2, 1)
        self.layer3, c3 = _stage(c2, base * 4, blocks[2], 2, 1)
        self.layer4, c4 = _stage(c3, base * 8, blocks[3], 1, 2)
        self.low_level_channels, self.out_channels = c1, c4

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.layer1(self.stem(x))
        return self.layer4(self.layer3(self.layer2(low))), low


class DRNBackbone(nn.Module):
    """DRN-D-54: output stride 8, dilated bottleneck stages and a plain dilated tail."""

    def __init__(self, in_channels: int, base: int, blocks: Sequence[int] = (3, 4, 6, 3)) -> None:
        super().__init__()
        c16, c32 = base // 4 or 1, base // 2 or 1
        self.stem = nn.Sequential(
            _conv_bn_relu(in_channels, c16, 7),
            _conv_bn_relu(c16, c16, 3),
            _conv_bn_relu(c16, c32, 3, stride=2),
        )
        self.layer3, c3 = _stage(c32, base, blocks[0], 2, 1)
        self.layer4, c4 = _stage(c3, base * 2, blocks[1], 2, 1)
        self.layer5, c5 = _stage(c4, base * 4, blocks[2], 1, 2)
        self.layer6, c6 = _stage(c5, base * 8, blocks[3], 1, 4)
        self.tail = nn.Sequential(
            _conv_bn_relu(c6, base * 8, 3, dilation=2), _conv_bn_relu(base * 8, base * 8, 3)
        )
        self.low_level_channels, self.out_channels = c3, base * 8

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.layer3(self.stem(x))
        return self.tail(self.layer6(self.layer5(self.layer4(low)))), low


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling with an image-pooling branch."""

    def __init__(self, in_channels: int, channels: int, rates: Sequence[int]) -> None:
        super().__init__()
        self.branches = nn.ModuleList([_conv_bn_relu(in_channels, channels, 1)])
        self.branches.extend(_conv_bn_relu(in_channels, channels, 3, dilation=r) for r in rates)
        self.image_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, channels, 1), nn.ReLU(inplace=True)
        )
        self.fuse = nn.Sequential(
            _conv_bn_relu(channels * (len(rates) + 2), channels, 1), nn.Dropout(0.5)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.interpolate(
            self.image_pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.fuse(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))


class DeepLab(SegmentationNet):
    """DeepLab v3+ on a ResNet-101 or DRN-D-54 backbone, applied per z slice.

    Args:
        in_channels: image channels.
        n_classes: classes per voxel.
        width: channel multiplier (1.0 = the standard backbones).
        backbone: ``"resnet101"`` or ``"drn"``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 7,
        *,
        width: float = 1.0,
        backbone: Literal["resnet101", "drn"] = "resnet101",
    ) -> None:
        super().__init__()
        base = scale_channels(64, width)
        if backbone == "resnet101":
            self.backbone: nn.Module = ResNetBackbone(in_channels, base)
            rates = (6, 12, 18)
        elif backbone == "drn":
            self.backbone = DRNBackbone(in_channels, base)
            rates = (12, 24, 36)
        else:
            raise ValueError(f"backbone must be 'resnet101' or 'drn', got {backbone!r}")
        head = scale_channels(256, width)
        low = scale_channels(48, width)
        self.n_classes = n_classes
        self.aspp = ASPP(self.backbone.out_channels, head, rates)
        self.low_level = _conv_bn_relu(self.backbone.low_level_channels, low, 1)
        self.decoder = nn.Sequential(
            _conv_bn_relu(head + low, head, 3),
            nn.Dropout(0.5),
            _conv_bn_relu(head, head, 3),
            nn.Dropout(0.1),
        )
        self.classifier = nn.Conv2d(head, n_classes, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n, c, z, h, w = x.shape
        slices = x.permute(0, 2, 1, 3, 4).reshape(n * z, c, h, w)
        features, low = self.backbone(slices)
        y = self.aspp(features)
        y = F.interpolate(y, size=low.shape[-2:], mode="bilinear", align_corners=False)
        y = self.classifier(self.decoder(torch.cat([y, self.low_level(low)], dim=1)))
        y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        return {"logits": y.reshape(n, z, self.n_classes, h, w).permute(0, 2, 1, 3, 4)}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        body = [p for name, p in self.named_parameters() if not name.startswith("classifier.")]
        return {"2d": body, "3d": [], "predictors": list(self.classifier.parameters())}


_QUICK = dict(width=0.0625, window=(1, 96, 96))


@register(
    "deeplab_drn",
    family="deeplab",
    description="DeepLab v3+ on a DRN-D-54 backbone (output stride 8), per z slice; 572 -> 572",
    window=(1, 572, 572),
    quick=_QUICK,
    accepts=DeepLab,
)
def deeplab_drn(**kwargs: Any) -> DeepLab:
    return DeepLab(**dict(dict(backbone="drn"), **kwargs))


@register(
    "deeplab_resnet101",
    family="deeplab",
    description="DeepLab v3+ on a ResNet-101 backbone (output stride 16), per z slice; 572 -> 572",
    window=(1, 572, 572),
    quick=_QUICK,
    accepts=DeepLab,
)
def deeplab_resnet101(**kwargs: Any) -> DeepLab:
    return DeepLab(**dict(dict(backbone="resnet101"), **kwargs))
