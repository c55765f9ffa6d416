"""Per-voxel loss weights W = w + W_cb + W_ep (paper Eq. 2) as the original helpers compute them
(leapmanlab ``examples``, ``_private/leapmanlab/create_weight_volume.py``).

The training loop keeps the *raw* weights W_cb + W_ep (or the volume of a weights file) and the
loss adds the floor ``w`` (``weight_floor``, 0.01), as the original ``model_fn`` adds it to the
weight volume it reads; the loss's L2 factor ``frac_nonzero`` is taken from the raw weights.

- ``W_cb`` (``class_balance_weights``): each class present gets ``V / N_c`` scaled so that the
  maximum over the classes is 1, i.e. ``W_cb(v) = (N_min / N_l(v))^power`` with ``N_min`` the count
  of the rarest class present (``power`` 1 is the code; a smaller one tempers it). With the floor,
  the rarest class weighs about 100 x the floor and the commonest barely more than the floor.
- ``W_ep`` (``diffusive_edge_weights``): per z slice, the mask of the source classes (value 1)
  diffuses for ``n_steps`` steps of an explicit 2D heat equation (8-neighbour Laplacian with weights
  1/6 and 0.5/6 and periodic borders, as the code's FFT convolution), times ``c_decay`` each step,
  clipped at 0, sources reset to 1; then ``max(value - threshold, 0)``, kept on the target
  classes, scaled to maximum ``max_weight`` (25). ``symmetric`` adds the pass with sources and
  targets swapped, so a boundary is weighted on both sides; a thin target structure between
  sources is weighted throughout.

Which class pairs made the released weight file is not in the code. Our default ``"each"`` runs,
for every class c present, the pass with sources {c} and targets all other classes: every boundary
between two classes is weighted on both sides, and small cross-sections inside. ``"S:T"`` pairs
(comma lists, ``"2,3,4,5,6:1"``) choose others. The released ``train-error-weights.tif`` can be
read instead (``weights_file``).

Computed with torch on the training device (one 3x3 convolution per step), once per dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from benchmark.training.config import TrainConfig

__all__ = [
    "WeightTerms",
    "class_balance",
    "diffuse_edges",
    "edge_pairs",
    "edge_term",
    "loss_weights",
    "read_weights_file",
    "training_weights",
]


@dataclass(frozen=True)
class WeightTerms:
    """The floor and the two raw terms, each term (z, x, y) float32."""

    floor: float
    class_balance: torch.Tensor
    edge: torch.Tensor

    @property
    def raw(self) -> torch.Tensor:
        """W_cb + W_ep: the volume the training loop keeps (the loss adds the floor)."""
        return self.class_balance + self.edge

    @property
    def total(self) -> torch.Tensor:
        return self.floor + self.raw


def class_balance(labels: torch.Tensor, n_classes: int, power: float = 1.0) -> torch.Tensor:
    """W_cb(v) = (N_min / N_l(v))^power: the code's 1/N class weights scaled to maximum 1.

    Args:
        labels: integer class ids, any shape.
        n_classes: number of classes (ids ``0..n_classes-1``).
        power: 1 is the code's 1/N; smaller tempers the weight of rare classes (0: all 1).

    Returns:
        float32 weights of the labels' shape; the rarest class present gets 1.
    """
    counts = torch.bincount(labels.reshape(-1).long(), minlength=n_classes).to(torch.float64)
    present = counts > 0
    rarest = counts[present].min()
    per_class = torch.where(present, (rarest / counts.clamp(min=1)) ** float(power), 0.0)
    return per_class.to(torch.float32)[labels.long()]


def edge_pairs(
    pairs: Sequence[str], n_classes: int, symmetric: bool = True
) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The (sources, targets) passes of ``pairs``.

    ``"each"`` gives one pass per class c (sources {c}, targets the other classes), which already
    covers both sides of every boundary, so ``symmetric`` does not apply to it; ``"S:T"`` gives the
    S -> T pass and, with ``symmetric``, the T -> S pass.

    Raises:
        ValueError: a malformed pair or a class id outside ``0..n_classes-1``.
    """
    passes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    for pair in pairs:
        if pair == "each":
            passes += [
                ((c,), tuple(o for o in range(n_classes) if o != c)) for c in range(n_classes)
            ]
            continue
        try:
            source, target = (tuple(int(v) for v in side.split(",")) for side in pair.split(":"))
        except ValueError:
            raise ValueError(f'edge pair {pair!r} is not "each" or "S:T" (like "2,3:1")') from None
        bad = sorted(c for c in (*source, *target) if not 0 <= c < n_classes)
        if bad:
            raise ValueError(f"edge pair {pair!r} names class(es) {bad} outside 0..{n_classes - 1}")
        passes.append((source, target))
        if symmetric:
            passes.append((target, source))
    return passes


def _diffusion_kernel(c_diffuse: float, device: torch.device) -> torch.Tensor:
    """``identity + c_diffuse * Laplacian`` of the code: centre -1, edges 1/6, corners 0.5/6."""
    laplacian = (
        torch.tensor([[0.5, 1.0, 0.5], [1.0, -6.0, 1.0], [0.5, 1.0, 0.5]], dtype=torch.float64)
        / 6.0
    )
    kernel = c_diffuse * laplacian
    kernel[1, 1] += 1.0
    return kernel.to(device=device, dtype=torch.float32).view(1, 1, 3, 3)


def diffuse_edges(
    labels: torch.Tensor,
    sources: Sequence[int],
    targets: Sequence[int],
    *,
    max_weight: float = 25.0,
    c_diffuse: float = 0.2,
    c_decay: float = 0.98,
    threshold: float = 0.2,
    n_steps: int = 50,
) -> torch.Tensor:
    """One pass of the code's ``_diffuse``: heat from ``sources`` kept on ``targets``.

    Args:
        labels: (z, x, y) integer class ids; diffusion runs within each x-y plane.

    Returns:
        (z, x, y) float32, maximum ``max_weight`` (all zeros when no target voxel gets heat).
    """
    source = torch.isin(labels, torch.as_tensor(list(sources), device=labels.device))
    target = torch.isin(labels, torch.as_tensor(list(targets), device=labels.device))
    if not source.any() or not target.any():
        return torch.zeros(labels.shape, dtype=torch.float32, device=labels.device)
    kernel = _diffusion_kernel(c_diffuse, labels.device)
    planes = source.to(torch.float32).unsqueeze(1)  # (z, 1, x, y)
    is_source = source.unsqueeze(1)
    heat = planes
    for _ in range(n_steps):
        # The code's FFT convolution wraps around the plane: circular padding does the same.
        heat = c_decay * F.conv2d(F.pad(heat, (1, 1, 1, 1), mode="circular"), kernel)
        heat = torch.where(is_source, 1.0, heat.clamp(min=0))
    heat = (heat[:, 0] - threshold).clamp(min=0) * target
    peak = heat.max()
    return heat * (max_weight / peak) if peak > 0 else heat


def edge_term(
    labels: torch.Tensor,
    n_classes: int,
    pairs: Sequence[str] = ("each",),
    *,
    max_weight: float = 25.0,
    c_diffuse: float = 0.2,
    c_decay: float = 0.98,
    threshold: float = 0.2,
    n_steps: int = 50,
    symmetric: bool = True,
) -> torch.Tensor:
    """W_ep: the sum of :func:`diffuse_edges` over the passes of ``pairs`` (see
    :func:`edge_pairs`)."""
    out = torch.zeros(labels.shape, dtype=torch.float32, device=labels.device)
    for sources, targets in edge_pairs(pairs, n_classes, symmetric):
        out += diffuse_edges(
            labels,
            sources,
            targets,
            max_weight=max_weight,
            c_diffuse=c_diffuse,
            c_decay=c_decay,
            threshold=threshold,
            n_steps=n_steps,
        )
    return out


def loss_weights(
    labels: torch.Tensor,
    n_classes: int,
    *,
    floor: float = 0.01,
    balance: bool = True,
    balance_power: float = 1.0,
    pairs: Sequence[str] = ("each",),
    edge_max: float = 25.0,
    edge_steps: int = 50,
    edge_diffuse: float = 0.2,
    edge_decay: float = 0.98,
    edge_threshold: float = 0.2,
    edge_symmetric: bool = True,
) -> WeightTerms:
    """All terms of W for integer ``labels`` (z, x, y)."""
    zeros = torch.zeros(labels.shape, dtype=torch.float32, device=labels.device)
    cb = class_balance(labels, n_classes, balance_power) if balance else zeros
    ep = (
        edge_term(
            labels,
            n_classes,
            pairs,
            max_weight=edge_max,
            c_diffuse=edge_diffuse,
            c_decay=edge_decay,
            threshold=edge_threshold,
            n_steps=edge_steps,
            symmetric=edge_symmetric,
        )
        if pairs
        else zeros
    )
    return WeightTerms(floor, cb, ep)


def read_weights_file(spec: str, shape: Sequence[int]) -> np.ndarray:
    """A precomputed raw weight volume (the floor is added in the loss), float32.

    Raises:
        DataError: unreadable file, a shape other than ``shape``, negative or non-finite values;
            the message names the file.
    """
    from benchmark.data.readers import read_array
    from benchmark.data.volumes import DataError

    array = read_array(spec)
    if tuple(array.shape) != tuple(shape):
        raise DataError(
            f"{spec}: weight volume has shape {tuple(array.shape)}, the training volume "
            f"{tuple(shape)} (z, x, y); weights_file must match it voxel for voxel"
        )
    array = np.asarray(array, dtype=np.float32)
    if not np.isfinite(array).all() or (array < 0).any():
        raise DataError(f"{spec}: weight volume has negative or non-finite values")
    return array


def training_weights(labels: torch.Tensor, n_classes: int, config: TrainConfig) -> torch.Tensor:
    """The raw weights of a training volume under ``config``: ``weights_file`` if set, else
    class balance + edge term; (z, x, y) float32 on ``labels``' device."""
    if config.weights_file is not None:
        array = read_weights_file(config.weights_file, labels.shape)
        return torch.as_tensor(array).to(labels.device)
    return loss_weights(
        labels,
        n_classes,
        floor=config.weight_floor,
        balance=config.class_balance,
        balance_power=config.class_balance_power,
        pairs=config.edge_pairs,
        edge_max=config.edge_max,
        edge_steps=config.edge_steps,
        edge_diffuse=config.edge_diffuse,
        edge_decay=config.edge_decay,
        edge_threshold=config.edge_threshold,
        edge_symmetric=config.edge_symmetric,
    ).raw
