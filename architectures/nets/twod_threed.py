"""The 2D-3D family of Guay et al. (2020): a 2D encoder-decoder feeding a 3D spatial pyramid.

``2d3d_3x3x3`` is the paper's best network (10,283,406 parameters; (1,5,300,300) ->
(7,5,296,296)); its three ablations differ by one feature each. The family's arguments are the
search space of ``python -m benchmark search --space 2d3d``.

Original-code quirks, on by default (each has a clean alternative):
- ``predictor_relu=True``: a ReLU follows both 1x1x1 predictors, so the logits are non-negative.
  ``False`` gives plain logits.
- ``pyramid_upsample="2x2x2"``: the pyramid's scale-1 output is up-sampled by a 2x2x2 transposed
  conv (z doubles) and the residual add's center crop takes the middle z slices back. ``"pool"``
  up-samples by the (1,2,2) pooling factor instead (16,384 fewer parameters at full width).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from architectures.blocks import (
    EncoderDecoder,
    Predictor,
    SegmentationNet,
    SpatialPyramid,
    block_names,
)
from architectures.layers import scale_channels
from architectures.registry import register
from architectures.search_space import Param, SearchSpace, register_space

__all__ = ["SEARCH_SPACE", "Net2D3D", "create_2d3d"]

PAPER_INSERTED_BLOCKS = ("e0", "e1", "d1", "d0")


class Net2D3D(SegmentationNet):
    """2D encoder-decoder + 2D predictor, then (optionally) a 3D spatial pyramid + 3D predictor.

    Args:
        in_channels: image channels.
        n_classes: classes predicted per voxel.
        width: channel multiplier applied to every kernel count (1.0 = paper).
        base_channels: kernels of the scale-0 blocks before ``width`` (64 in the paper).
        depth: encoder blocks (pooling steps) of the 2D module.
        convs_per_block: 1x3x3 convolutions per 2D block.
        inserted_blocks: 2D blocks (``e0..e{depth-1}``, ``d0..d{depth}``) that start with an
            inserted convolution of half the block's width.
        inserted_kernel: (3,3,3) in the paper; (1,3,3) gives the No 3x3x3 Convs ablation.
        pyramid: whether the 3D spatial pyramid and 3D predictor follow (No 3D Pyramid: False).
        pyramid_convs: 3x3x3 convolutions per pyramid scale; its length is the number of scales.
        pyramid_upsample: ``"2x2x2"`` (original code) or ``"pool"``; see the module docstring.
        predictor_relu: ReLU after the predictors (original code) or plain logits.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 7,
        *,
        width: float = 1.0,
        base_channels: int = 64,
        depth: int = 3,
        convs_per_block: int = 2,
        inserted_blocks: Sequence[str] = PAPER_INSERTED_BLOCKS,
        inserted_kernel: int | Sequence[int] = (3, 3, 3),
        pyramid: bool = True,
        pyramid_convs: Sequence[int] = (3, 5),
        pyramid_upsample: Literal["2x2x2", "pool"] = "2x2x2",
        predictor_relu: bool = True,
    ) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        base = scale_channels(base_channels, width)
        self.n_classes = n_classes
        self.encoder_decoder = EncoderDecoder(
            in_channels,
            base,
            depth=depth,
            convs_per_block=convs_per_block,
            inserted_blocks=tuple(inserted_blocks),
            inserted_kernel=inserted_kernel,
        )
        self.predictor_2d = Predictor(base, n_classes, relu=predictor_relu)
        if pyramid:
            self.pyramid: SpatialPyramid | None = SpatialPyramid(
                base + n_classes,
                base,
                convs_per_scale=tuple(pyramid_convs),
                upsample=pyramid_upsample,
            )
            self.predictor_3d: Predictor | None = Predictor(base, n_classes, relu=predictor_relu)
            self.output_names = ("logits", "logits_2d")
        else:
            self.pyramid = None
            self.predictor_3d = None
            self.output_names = ("logits",)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.encoder_decoder(x)
        logits_2d = self.predictor_2d(features)
        if self.pyramid is None:
            return {"logits": logits_2d}
        pyramid_out = self.pyramid(torch.cat([features, logits_2d], dim=1))
        return {"logits": self.predictor_3d(pyramid_out), "logits_2d": logits_2d}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        predictors = list(self.predictor_2d.parameters())
        if self.predictor_3d is not None:
            predictors += list(self.predictor_3d.parameters())
        return {
            "2d": list(self.encoder_decoder.parameters()),
            "3d": list(self.pyramid.parameters()) if self.pyramid is not None else [],
            "predictors": predictors,
        }


def create_2d3d(args: dict[str, Any], **overrides: Any) -> Net2D3D:
    """Builds a ``Net2D3D`` from a variant's arguments with the caller's overrides winning."""
    return Net2D3D(**dict(args, **overrides))


_PAPER = dict(
    depth=3, convs_per_block=2, inserted_blocks=PAPER_INSERTED_BLOCKS, inserted_kernel=(3, 3, 3)
)
_QUICK = dict(width=0.125, window=(5, 32, 32))


@register(
    "2d3d_3x3x3",
    family="2d3d",
    description="2D-3D+3x3x3: 2D encoder-decoder with 3x3x3 insertions + 3D spatial pyramid (paper's best)",
    window=(5, 300, 300),
    paper_params=10_283_406,
    quick=_QUICK,
    accepts=Net2D3D,
)
def net_2d3d_3x3x3(**kwargs: Any) -> Net2D3D:
    return create_2d3d(_PAPER, **kwargs)


@register(
    "2d3d_no_3x3x3",
    family="2d3d",
    description="No 3x3x3 Convs ablation: the four inserted 3x3x3 convs become 1x3x3",
    window=(5, 300, 300),
    paper_params=9_932_622,
    quick=_QUICK,
    accepts=Net2D3D,
)
def net_2d3d_no_3x3x3(**kwargs: Any) -> Net2D3D:
    return create_2d3d(dict(_PAPER, inserted_kernel=(1, 3, 3)), **kwargs)


@register(
    "2d3d_no_multiloss",
    family="2d3d",
    description="No Multi-Loss ablation: the paper's net trained without the 2D loss term (c_2D = 0)",
    window=(5, 300, 300),
    paper_params=10_283_406,
    train_defaults={"c_2d": 0.0},
    quick=_QUICK,
    accepts=Net2D3D,
)
def net_2d3d_no_multiloss(**kwargs: Any) -> Net2D3D:
    return create_2d3d(_PAPER, **kwargs)


@register(
    "2d3d_no_pyramid",
    family="2d3d",
    description="No 3D Pyramid ablation: encoder-decoder + 2D predictor only",
    window=(5, 300, 300),
    paper_params=7_882_311,
    quick=_QUICK,
    accepts=Net2D3D,
)
def net_2d3d_no_pyramid(**kwargs: Any) -> Net2D3D:
    return create_2d3d(dict(_PAPER, pyramid=False), **kwargs)


# ------------------------------------------------------------------------------- search space
# ``python -m benchmark search --space 2d3d``: the family's arguments as a conditional space around
# the paper's net. Ranges are centered on the paper's choices; ``lr`` and ``c_2d`` are training
# options (their reference values come from the training profile). The 3x3x3 insertions are one
# yes/no per block that exists at the drawn depth (``e0..e{depth-1}``, ``d0..d{depth}``); pyramid
# scales and their convolution counts are drawn only with a pyramid, and ``c_2d`` (the weight of
# the 2D loss, which needs the pyramid's second output) too.
_MIN_DEPTH = 2
_MAX_DEPTH = 4
_MAX_PYRAMID_SCALES = 3


def _insert_param(block: str) -> Param:
    # e{s} exists when depth > s and d{s} when depth >= s; blocks every depth has are unconditional.
    level = int(block[1:])
    need = level + 1 if block[0] == "e" else level
    conditional = need > _MIN_DEPTH
    return Param(
        f"insert_{block}",
        "bool",
        when=(lambda v, n=need: v["depth"] >= n) if conditional else None,
        when_text=f"depth >= {need}" if conditional else "",
        reference=block in PAPER_INSERTED_BLOCKS,
        help=f"block {block} starts with an inserted 3x3x3 conv",
    )


def _pyramid_param(scale: int) -> Param:
    return Param(
        f"pyramid_convs_{scale}",
        "int",
        low=1,
        high=6,
        when=lambda v, s=scale: bool(v["pyramid"]) and v["pyramid_scales"] > s,
        when_text="pyramid" + (f", scales > {scale}" if scale else ""),
        reference=(3, 5)[scale] if scale < 2 else None,
        help=f"3x3x3 convs at pyramid scale {scale}",
    )


def _candidate_2d3d(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Drawn values -> (``Net2D3D`` options, training overrides)."""
    depth = int(values["depth"])
    inserted = tuple(b for b in block_names(depth) if values.get(f"insert_{b}", False))
    options: dict[str, Any] = dict(
        depth=depth,
        base_channels=int(values["base_channels"]),
        convs_per_block=int(values["convs_per_block"]),
        inserted_blocks=inserted,
        pyramid=bool(values["pyramid"]),
    )
    train: dict[str, Any] = {"lr": float(values["lr"])}
    if options["pyramid"]:
        scales = int(values["pyramid_scales"])
        options["pyramid_convs"] = tuple(int(values[f"pyramid_convs_{s}"]) for s in range(scales))
        train["c_2d"] = float(values["c_2d"])
    return options, train


SEARCH_SPACE = register_space(
    SearchSpace(
        name="2d3d",
        base="2d3d_3x3x3",
        description="the 2D-3D family around the paper's 2D-3D+3x3x3 net",
        params=(
            Param(
                "depth",
                "int",
                low=_MIN_DEPTH,
                high=_MAX_DEPTH,
                reference=3,
                help="encoder blocks (pooling steps)",
            ),
            Param(
                "base_channels",
                "categorical",
                choices=(32, 48, 64, 96),
                reference=64,
                help="scale-0 kernels (times the profile's width)",
            ),
            Param(
                "convs_per_block",
                "int",
                low=1,
                high=3,
                reference=2,
                help="1x3x3 convs per 2D block",
            ),
            *(_insert_param(b) for b in block_names(_MAX_DEPTH)),
            Param("pyramid", "bool", reference=True, help="3D spatial pyramid + 3D predictor"),
            Param(
                "pyramid_scales",
                "int",
                low=1,
                high=_MAX_PYRAMID_SCALES,
                when=lambda v: bool(v["pyramid"]),
                when_text="pyramid",
                reference=2,
                help="pyramid scales",
            ),
            *(_pyramid_param(s) for s in range(_MAX_PYRAMID_SCALES)),
            Param(
                "c_2d",
                "float",
                low=0.0,
                high=1.0,
                when=lambda v: bool(v["pyramid"]),
                when_text="pyramid",
                help="weight of the auxiliary 2D loss (training)",
            ),
            Param(
                "lr", "float", low=1e-4, high=1e-2, log=True, help="Adam learning rate (training)"
            ),
        ),
        to_candidate=_candidate_2d3d,
        train_fields=("lr", "c_2d"),
    )
)
