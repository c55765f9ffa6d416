"""Reusable blocks of the 2D-3D networks and their baselines.

Every block is a small ``nn.Module`` over 5D tensors ``(batch, channels, z, x, y)`` whose
constructor begins ``in_channels, out_channels`` (or ``in_channels, base_channels``). Blocks hold
no global configuration; nets in ``architectures.nets`` compose them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from architectures.layers import Kernel3, SliceConv3d, as_kernel3, crop_add, crop_concat

__all__ = ["ConvBlock", "EncoderDecoder", "Predictor", "SpatialPyramid", "SegmentationNet"]

Padding = Literal["same", "valid"]


def _check_padding(padding: str) -> None:
    if padding not in ("same", "valid"):
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")


def _conv(in_channels: int, out_channels: int, kernel: Kernel3, padding: Padding) -> nn.Conv3d:
    # 1xkxk kernels can run as 2D convolutions over z slices (``set_conv2d_slices``).
    conv = SliceConv3d if kernel[0] == 1 else nn.Conv3d
    return conv(in_channels, out_channels, kernel, padding=padding if padding == "same" else 0)


class SegmentationNet(nn.Module):
    """Base class of registered nets: named outputs and L2 parameter groups.

    ``forward`` returns a dict of logits ``(batch, n_classes, z, x, y)``: ``"logits"`` is the
    prediction the segmentation comes from; nets with an auxiliary 2D predictor add
    ``"logits_2d"`` (same shape) for the multi-loss.
    """

    output_names: tuple[str, ...] = ("logits",)
    n_classes: int

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by L2 group: ``"2d"``, ``"3d"`` and ``"predictors"`` (paper Eq. 1).

        Groups partition the trainable parameters; a net may leave a group empty.
        """
        raise NotImplementedError


class ConvBlock(nn.Module):
    """``n`` convolutions, each followed by ReLU, optionally led by an inserted convolution.

    Args:
        in_channels: input channels.
        out_channels: channels of every regular convolution.
        kernel_sizes: one (z, x, y) kernel per regular convolution; its length is ``n``.
        inserted_kernel: kernel of an extra first convolution (the 2D-3D net's 3x3x3 insertion),
            or None for none.
        inserted_channels: output channels of the inserted convolution; default half of
            ``out_channels`` (the paper's choice).
        padding: ``"same"`` (2D-3D nets) or ``"valid"`` (original U-Net).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_sizes: Sequence[int | Sequence[int]],
        *,
        inserted_kernel: int | Sequence[int] | None = None,
        inserted_channels: int | None = None,
        padding: Padding = "same",
    ) -> None:
        super().__init__()
        _check_padding(padding)
        if not kernel_sizes:
            raise ValueError("a conv block needs at least one convolution (kernel_sizes is empty)")
        layers: list[nn.Module] = []
        channels = in_channels
        if inserted_kernel is not None:
            inserted = (
                inserted_channels if inserted_channels is not None else max(1, out_channels // 2)
            )
            layers += [
                _conv(channels, inserted, as_kernel3(inserted_kernel), padding),
                nn.ReLU(inplace=True),
            ]
            channels = inserted
        for kernel in kernel_sizes:
            layers += [
                _conv(channels, out_channels, as_kernel3(kernel), padding),
                nn.ReLU(inplace=True),
            ]
            channels = out_channels
        self.layers = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.first_channels = layers[0].out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def block_names(depth: int) -> list[str]:
    """Names of an encoder-decoder's blocks: ``e0..e{depth-1}`` and ``d0..d{depth}`` (``d{depth}``
    is the bottleneck, the first decoder block)."""
    return [f"e{s}" for s in range(depth)] + [f"d{s}" for s in range(depth + 1)]


class EncoderDecoder(nn.Module):
    """U-Net-style encoder-decoder on 3D tensors; with the defaults, the paper's 2D module.

    With ``conv_kernel=(1,3,3)`` and ``pool=(1,2,2)`` it is a 2D network applied to every z slice
    in one graph (the 2D-3D nets' encoder-decoder); with ``(3,3,3)`` kernels it is a 3D U-Net.
    The encoder has ``depth`` blocks and the decoder ``depth + 1`` (the bottleneck first). Block
    ``s`` has ``base_channels * 2**s`` kernels. Down-sampling is max-pooling with kernel = stride =
    ``pool`` (sizes round down); up-sampling is a transposed convolution with kernel = stride =
    ``pool``, a bias and no activation, whose output channel count is the first layer's of the
    block it feeds. Skips concatenate ``[skip, upsampled]`` after center-cropping both.

    Args:
        in_channels: input channels.
        base_channels: kernels of the scale-0 blocks.
        depth: encoder blocks (pooling steps).
        convs_per_block: regular convolutions per block.
        conv_kernel: kernel of the regular convolutions.
        pool: pooling (and up-sampling) factor per axis.
        inserted_blocks: names (``e0``, ``d1``, ...) of blocks that start with an inserted conv.
        inserted_kernel: the inserted conv's kernel ((3,3,3) in the paper; (1,3,3) in the
            No 3x3x3 Convs ablation).
        padding: ``"same"`` or ``"valid"``.
    """

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 64,
        *,
        depth: int = 3,
        convs_per_block: int = 2,
        conv_kernel: int | Sequence[int] = (1, 3, 3),
        pool: int | Sequence[int] = (1, 2, 2),
        inserted_blocks: Sequence[str] = (),
        inserted_kernel: int | Sequence[int] = (3, 3, 3),
        padding: Padding = "same",
    ) -> None:
        super().__init__()
        _check_padding(padding)
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        if convs_per_block < 1:
            raise ValueError(f"convs_per_block must be at least 1, got {convs_per_block}")
        names = block_names(depth)
        unknown = sorted(set(inserted_blocks) - set(names))
        if unknown:
            raise ValueError(
                f"inserted_blocks {unknown} are not blocks of a depth-{depth} net; choose from {names}"
            )
        kernel = as_kernel3(conv_kernel, "conv_kernel")
        self.pool_size = as_kernel3(pool, "pool")
        inserted = as_kernel3(inserted_kernel, "inserted_kernel")

        def make_block(name: str, c_in: int, c_out: int) -> ConvBlock:
            return ConvBlock(
                c_in,
                c_out,
                [kernel] * convs_per_block,
                inserted_kernel=inserted if name in inserted_blocks else None,
                padding=padding,
            )

        widths = [base_channels * 2**s for s in range(depth + 1)]
        self.encoder = nn.ModuleList()
        channels = in_channels
        for s in range(depth):
            self.encoder.append(make_block(f"e{s}", channels, widths[s]))
            channels = widths[s]
        self.bottleneck = make_block(f"d{depth}", channels, widths[depth])
        self.pool = nn.MaxPool3d(self.pool_size, self.pool_size)
        # Built deepest first so that the up-sampler's width can follow the block it feeds.
        decoder: list[ConvBlock] = [None] * depth  # type: ignore[list-item]
        upsamplers: list[nn.ConvTranspose3d] = [None] * depth  # type: ignore[list-item]
        channels = widths[depth]
        for s in reversed(range(depth)):
            first = widths[s] // 2 if f"d{s}" in inserted_blocks else widths[s]
            first = max(1, first)
            upsamplers[s] = nn.ConvTranspose3d(
                channels, first, self.pool_size, stride=self.pool_size
            )
            decoder[s] = make_block(f"d{s}", widths[s] + first, widths[s])
            channels = widths[s]
        self.upsamplers = nn.ModuleList(upsamplers)
        self.decoder = nn.ModuleList(decoder)
        self.out_channels = widths[0]
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for s in reversed(range(self.depth)):
            x = crop_concat(skips[s], self.upsamplers[s](x))
            x = self.decoder[s](x)
        return x


class SpatialPyramid(nn.Module):
    """The 2D-3D net's 3D convolutional spatial pyramid.

    Scale ``s`` max-pools the input ``s`` times by ``pool``, runs ``convs_per_scale[s]`` 3D
    convolutions with ``base_channels * 2**s`` kernels; scales above 0 are projected back to
    ``base_channels`` by a 1x1x1 conv with ReLU, up-sampled by a transposed conv and added to the
    scale-0 output after a center crop (no activation after the add).

    Args:
        in_channels: input channels (2D features + 2D class predictions in the 2D-3D net).
        base_channels: kernels at scale 0 and the output channel count.
        convs_per_scale: 3D convolutions per scale; its length is the number of scales.
        kernel: kernel of the 3D convolutions.
        pool: pooling factor between scales.
        upsample: ``"2x2x2"`` (original code: the transposed conv also doubles z, and the z-crop
            of the residual add takes the middle slices back; 16,384 more parameters at the
            paper's width) or ``"pool"`` (the clean alternative: up-sample by the pooling factor,
            (1,2,2) by default).
    """

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 64,
        *,
        convs_per_scale: Sequence[int] = (3, 5),
        kernel: int | Sequence[int] = (3, 3, 3),
        pool: int | Sequence[int] = (1, 2, 2),
        upsample: Literal["2x2x2", "pool"] = "2x2x2",
    ) -> None:
        super().__init__()
        if not convs_per_scale or any(int(n) < 1 for n in convs_per_scale):
            raise ValueError(
                f"convs_per_scale needs one positive count per scale, got {tuple(convs_per_scale)}"
            )
        if upsample not in ("2x2x2", "pool"):
            raise ValueError(f"upsample must be '2x2x2' or 'pool', got {upsample!r}")
        k = as_kernel3(kernel, "kernel")
        p = as_kernel3(pool, "pool")
        self.pools = nn.ModuleList()
        self.scales = nn.ModuleList()
        self.projections = nn.ModuleList()
        self.upsamplers = nn.ModuleList()
        for s, n_convs in enumerate(convs_per_scale):
            factor = tuple(f**s for f in p)
            width = base_channels * 2**s
            self.pools.append(nn.MaxPool3d(factor, factor) if s else nn.Identity())
            self.scales.append(ConvBlock(in_channels, width, [k] * int(n_convs)))
            if s:
                self.projections.append(
                    nn.Sequential(SliceConv3d(width, base_channels, 1), nn.ReLU(inplace=True))
                )
                up = (2, factor[1], factor[2]) if upsample == "2x2x2" else factor
                self.upsamplers.append(
                    nn.ConvTranspose3d(base_channels, base_channels, up, stride=up)
                )
        self.out_channels = base_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.scales[0](x)
        for s in range(1, len(self.scales)):
            y = self.scales[s](self.pools[s](x))
            y = self.upsamplers[s - 1](self.projections[s - 1](y))
            out = crop_add(out, y)
        return out


class Predictor(nn.Module):
    """1x1x1 convolution to class logits; ``relu=True`` reproduces the original code's ReLU."""

    def __init__(self, in_channels: int, n_classes: int, *, relu: bool = False) -> None:
        super().__init__()
        self.conv = SliceConv3d(in_channels, n_classes, 1)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return torch.relu(x) if self.relu else x
