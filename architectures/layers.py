"""Helpers below the blocks: cropping, merging, channel scaling, weight initialization.

Tensors are 5D, ``(batch, channels, z, x, y)``, throughout the package; 2D networks run on
windows with ``z = 1`` (or treat each z slice independently through 1x3x3 kernels).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Kernel3",
    "SliceConv3d",
    "as_kernel3",
    "center_crop",
    "crop_add",
    "crop_concat",
    "INIT_SCHEMES",
    "init_weights",
    "scale_channels",
    "set_conv2d_slices",
    "to_channels_last",
]

Kernel3 = tuple[int, int, int]


def as_kernel3(value: int | Sequence[int], name: str = "kernel") -> Kernel3:
    """Returns a (z, x, y) triple from an int or a length-3 sequence of positive ints."""
    if isinstance(value, int):
        triple = (value, value, value)
    else:
        triple = tuple(int(v) for v in value)
    if len(triple) != 3 or any(v < 1 for v in triple):
        raise ValueError(
            f"{name} must be a positive int or three positive ints (z, x, y), got {value!r}"
        )
    return triple  # type: ignore[return-value]


def scale_channels(channels: int, width: float) -> int:
    """Channel count ``channels * width``, rounded, at least 1 (the width multiplier)."""
    if width <= 0:
        raise ValueError(f"width multiplier must be positive, got {width}")
    return max(1, round(channels * width))


def center_crop(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Crops the trailing spatial axes of ``x`` to ``size``, starting at ``(s - t) // 2``.

    This is the crop of the original TensorFlow code: for an odd difference the extra voxel is
    dropped at the far end.
    """
    spatial = x.shape[-len(size) :]
    if tuple(spatial) == tuple(size):
        return x
    slices = [slice(None)] * (x.dim() - len(size))
    for s, t in zip(spatial, size):
        if t > s:
            raise ValueError(f"cannot crop spatial size {tuple(spatial)} to larger {tuple(size)}")
        start = (s - t) // 2
        slices.append(slice(start, start + t))
    return x[tuple(slices)]


def _common_size(a: torch.Tensor, b: torch.Tensor) -> list[int]:
    return [min(s, t) for s, t in zip(a.shape[2:], b.shape[2:])]


def crop_concat(skip: torch.Tensor, upsampled: torch.Tensor) -> torch.Tensor:
    """Concatenates ``[skip, upsampled]`` on channels after center-cropping both to the smaller size."""
    size = _common_size(skip, upsampled)
    return torch.cat([center_crop(skip, size), center_crop(upsampled, size)], dim=1)


def crop_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Adds ``a + b`` after center-cropping both to the smaller size (residual merge)."""
    size = _common_size(a, b)
    return center_crop(a, size) + center_crop(b, size)


_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


INIT_SCHEMES = ("he", "xavier")


def _fan_in(m: nn.Module) -> int:
    """Inputs that reach one output unit: for a transposed conv with stride s and kernel k that is
    ``in_channels * prod(k / s)`` (torch's own fan calculation reads the weight's axes the other
    way round and would get it wrong)."""
    kernel = m.weight.shape[2:]
    receptive = 1
    for k in kernel:
        receptive *= int(k)
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        stride = 1
        for s in m.stride:
            stride *= int(s)
        return max(1, m.in_channels * receptive // stride)
    return m.weight.shape[1] * receptive


@torch.no_grad()
def init_weights(module: nn.Module, generator: torch.Generator, scheme: str = "xavier") -> None:
    """Initial weights for every conv and linear layer of ``module``; biases are zero.

    The paper does not say how its networks were initialized; ``scheme`` chooses:
    - ``"xavier"`` (default): Xavier-uniform, the default of the TensorFlow/Keras layers the
      original code was written with. Without normalization layers the signal shrinks ~2x per
      ReLU convolution, so the 2D-3D net's initial logits have sd ~0.002.
    - ``"he"``: Gaussian with sd ``sqrt(2 / fan_in)``, the initialization Ronneberger et al. (2015)
      give for U-Nets of ReLU convolutions; it keeps the activations' scale through the 2D-3D
      net's ~30 convolutions. Measured on the quick profile (2d3d_3x3x3, seeds 0-7, 180 steps):
      3 of 8 instances ended with every output constant (dead ReLUs), against 1 of 4 with
      ``"xavier"``, so it is not the default.

    Norm layers get weight 1 and bias 0 and fresh running statistics. Draws come from
    ``generator`` only, so the global random state is untouched and the same seed gives the same
    weights in any process.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose from {list(INIT_SCHEMES)}")
    for m in module.modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            if scheme == "he":
                m.weight.normal_(0.0, (2.0 / _fan_in(m)) ** 0.5, generator=generator)
            else:
                nn.init.xavier_uniform_(m.weight, generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, _NORMS):
            if getattr(m, "weight", None) is not None:
                m.weight.fill_(1.0)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
            if hasattr(m, "reset_running_stats"):
                m.reset_running_stats()


def to_channels_last(module: nn.Module) -> nn.Module:
    """Channels-last weights in place: channels_last_3d for 3D convs, channels_last for the 2D
    convs of the DeepLab backbones (``Module.to(memory_format=...)`` fails on mixed ranks)."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() == 5:
                p.data = p.data.contiguous(memory_format=torch.channels_last_3d)
            elif p.dim() == 4:
                p.data = p.data.contiguous(memory_format=torch.channels_last)
    return module


class SliceConv3d(nn.Conv3d):
    """A ``(1, kx, ky)`` Conv3d that can run as a Conv2d over the ``batch * z`` slices.

    The weights are the Conv3d's (same parameters, same ``state_dict`` keys, so checkpoints load
    either way); only ``forward`` differs when ``as_slices`` is True (see
    :func:`set_conv2d_slices`). The 2D kernels of the 2D-3D nets' encoder-decoder are most of the
    work, and 2D convolution kernels are tuned far more than 3D ones on some back ends. Under
    channels_last_3d the reshape to slices is a view; in contiguous layout the slices stay in
    ``(batch, z, channels, x, y)`` order between consecutive slice convs, so only the boundaries
    to 3D layers copy.
    """

    as_slices: bool = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _check_sliceable(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.as_slices:
            return super().forward(x)
        n, c, z, h, w = x.shape
        slices = x.transpose(1, 2).reshape(n * z, c, h, w)
        padding = self.padding if isinstance(self.padding, str) else self.padding[1:]
        y = F.conv2d(
            slices,
            self.weight.squeeze(2),
            self.bias,
            self.stride[1:],
            padding,
            self.dilation[1:],
            self.groups,
        )
        return y.reshape(n, z, *y.shape[1:]).transpose(1, 2)


def _check_sliceable(conv: nn.Conv3d) -> None:
    z_padding = 0 if isinstance(conv.padding, str) else conv.padding[0]
    if conv.kernel_size[0] != 1 or conv.stride[0] != 1 or z_padding != 0:
        raise ValueError(
            "a SliceConv3d needs kernel z = 1, stride z = 1 and no z padding, got kernel "
            f"{conv.kernel_size}, stride {conv.stride}, padding {conv.padding}"
        )
    if conv.padding_mode != "zeros":
        raise ValueError(f"a SliceConv3d pads with zeros, got padding_mode {conv.padding_mode!r}")


def set_conv2d_slices(module: nn.Module, enabled: bool = True) -> int:
    """Runs every :class:`SliceConv3d` of ``module`` as 2D convolutions over z slices (or back).

    Returns:
        How many convolutions were switched (0 for nets without 1xkxk convolutions).
    """
    count = 0
    for m in module.modules():
        if isinstance(m, SliceConv3d):
            m.as_slices = bool(enabled)
            count += 1
    return count
