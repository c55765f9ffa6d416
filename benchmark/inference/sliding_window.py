"""Sliding-window inference over volumes of any size, for one model or an ensemble.

The volume is reflect-padded so that every voxel gets a prediction: a net whose output window is a
center crop of its input window (start ``(in - out) // 2``) sees, for the output tile starting at
voxel ``p``, the padded input starting at ``p``. Output tiles step by ``out * (1 - overlap)`` with
the last tile flush with the volume's end; overlapping predictions are averaged (uniform or
Gaussian blending). An ensemble averages the class probabilities (softmax of the logits) of its
members, as the paper's top-k ensembles do.

Work proceeds in z-slabs: ``predict_chunks`` yields finished slabs of probabilities in z order,
so a caller can stream them to disk (``segment``) or reduce them to a confusion matrix
(evaluation) without holding the whole probability volume.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "InferenceSettings",
    "TileGrid",
    "confusion_on_device",
    "predict_chunks",
    "predict_probabilities",
    "score_volume",
]


def _tile_starts(size: int, out: int, overlap: float) -> list[int]:
    if size <= out:
        return [0]
    step = max(1, int(out * (1.0 - overlap)))
    starts = list(range(0, size - out + 1, step))
    if starts[-1] != size - out:
        starts.append(size - out)
    return starts


@dataclass(frozen=True)
class TileGrid:
    """Tiles of a ``shape`` volume for a net mapping ``in_window`` to a centered ``out_window``.

    Attributes:
        pad_low, pad_high: padding per axis (z, x, y) of the input volume.
        starts: output-tile starts per axis, in output (unpadded) coordinates.
    """

    shape: tuple[int, int, int]
    in_window: tuple[int, int, int]
    out_window: tuple[int, int, int]
    pad_low: tuple[int, int, int]
    pad_high: tuple[int, int, int]
    starts: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]

    @classmethod
    def build(
        cls,
        shape: Sequence[int],
        in_window: Sequence[int],
        out_window: Sequence[int],
        overlap: float = 0.0,
    ) -> TileGrid:
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        low, high, starts = [], [], []
        for size, i, o in zip(shape, in_window, out_window):
            if o > i:
                raise ValueError(
                    f"output window {tuple(out_window)} exceeds input window {tuple(in_window)}"
                )
            lo = (i - o) // 2
            # Volumes smaller than the output window are padded up to it.
            short = max(0, o - size)
            low.append(lo)
            high.append(i - o - lo + short)
            starts.append(tuple(_tile_starts(size, o, overlap)))
        return cls(
            tuple(shape),
            tuple(in_window),
            tuple(out_window),
            tuple(low),
            tuple(high),
            tuple(starts),
        )  # type: ignore[arg-type]

    @property
    def n_tiles(self) -> int:
        return len(self.starts[0]) * len(self.starts[1]) * len(self.starts[2])


@dataclass(frozen=True)
class InferenceSettings:
    """How tiles run: autocast dtype (None = fp32), channels_last_3d, tiles per batch, blending."""

    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    batch_size: int = 1
    overlap: float = 0.0
    blend: str = "uniform"

    @classmethod
    def for_device(cls, device: torch.device, **changes) -> InferenceSettings:
        fast = device.type == "cuda"
        base = cls(
            amp_dtype=torch.bfloat16 if fast else None,
            channels_last=fast,
            # Four tiles per forward on the CPU too: oneDNN is ~4x faster per tile than at batch 1
            # on the quick profile's small windows.
            batch_size=4,
        )
        return cls(**{**base.__dict__, **changes})


def _pad(volume: torch.Tensor, low: Sequence[int], high: Sequence[int]) -> torch.Tensor:
    pads = []
    for lo, hi in zip(reversed(low), reversed(high)):
        pads += [lo, hi]
    if not any(pads):
        return volume
    x = volume[None, None]
    fits = all(
        p < s
        for p, s in zip(
            [low[0], high[0], low[1], high[1], low[2], high[2]], np.repeat(volume.shape, 2)
        )
    )
    return F.pad(x, pads, mode="reflect" if fits else "replicate")[0, 0]


def _blend_weights(out_window: Sequence[int], blend: str, device: torch.device) -> torch.Tensor:
    if blend == "uniform":
        return torch.ones(out_window, device=device)
    if blend == "gaussian":
        axes = []
        for n in out_window:
            x = torch.arange(n, device=device, dtype=torch.float32) - (n - 1) / 2
            sigma = max(n / 8, 0.5)
            axes.append(torch.exp(-0.5 * (x / sigma) ** 2))
        w = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
        return (w / w.max()).clamp(min=1e-3)
    raise ValueError(f"blend must be 'uniform' or 'gaussian', got {blend!r}")


def _member_probabilities(
    models: Sequence[torch.nn.Module], batch: torch.Tensor, settings: InferenceSettings
) -> torch.Tensor:
    autocast = (
        torch.autocast(device_type=batch.device.type, dtype=settings.amp_dtype)
        if settings.amp_dtype is not None
        else contextlib.nullcontext()
    )
    total = None
    with autocast:
        for model in models:
            probs = torch.softmax(model(batch)["logits"].float(), dim=1)
            total = probs if total is None else total + probs
    return total / len(models)


@torch.no_grad()
def predict_chunks(
    models: torch.nn.Module | Sequence[torch.nn.Module],
    image: torch.Tensor | np.ndarray,
    in_window: Sequence[int],
    out_window: Sequence[int],
    settings: InferenceSettings | None = None,
    device: torch.device | str | None = None,
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yields ``(z0, z1, probabilities)`` slabs covering the volume in z order.

    Args:
        models: a model or the members of an ensemble (in eval mode; their outputs' ``"logits"``
            are used).
        image: normalized (z, x, y) image; a numpy array (or memmap) is read slab by slab and
            moved to ``device``, so volumes larger than device memory work.
        in_window, out_window: the nets' input and output windows (z, x, y).
        settings: autocast, channels_last, batch size, overlap, blending.
        device: where to compute; default the first model's device.

    The slabs are ``(n_classes, z1 - z0, x, y)`` float32 on ``device``.
    """
    members = [models] if isinstance(models, torch.nn.Module) else list(models)
    settings = settings or InferenceSettings()
    device = torch.device(device) if device is not None else next(members[0].parameters()).device
    shape = tuple(image.shape)
    grid = TileGrid.build(shape, in_window, out_window, settings.overlap)
    oz, ox, oy = grid.out_window
    iz, ix, iy = grid.in_window
    blend = _blend_weights(grid.out_window, settings.blend, device)
    on_device = isinstance(image, torch.Tensor)
    padded_full = (
        _pad(image.to(device, torch.float32), grid.pad_low, grid.pad_high) if on_device else None
    )
    X, Y = shape[1], shape[2]
    z_starts = grid.starts[0]
    acc: torch.Tensor | None = None
    wsum: torch.Tensor | None = None
    acc_start = 0
    for gi, zs in enumerate(z_starts):
        if padded_full is not None:
            slab = padded_full[zs : zs + iz]
        else:
            slab = _read_padded_slab(image, grid, zs, device)
        tiles, places = [], []
        for xs in grid.starts[1]:
            for ys in grid.starts[2]:
                tiles.append(slab[:, xs : xs + ix, ys : ys + iy])
                places.append((xs, ys))
        group_acc = None
        group_w = torch.zeros((oz, X + max(0, ox - X), Y + max(0, oy - Y)), device=device)
        for b in range(0, len(tiles), settings.batch_size):
            batch = torch.stack(tiles[b : b + settings.batch_size])[:, None]
            if settings.channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last_3d)
            probs = _member_probabilities(members, batch, settings)
            if tuple(probs.shape[2:]) != grid.out_window:
                raise ValueError(
                    f"model output {tuple(probs.shape[2:])} differs from the expected window {grid.out_window}"
                )
            if group_acc is None:
                group_acc = torch.zeros((probs.shape[1], *group_w.shape), device=device)
            for p, (xs, ys) in zip(probs, places[b : b + settings.batch_size]):
                group_acc[:, :, xs : xs + ox, ys : ys + oy] += p * blend
                group_w[:, xs : xs + ox, ys : ys + oy] += blend
        group_acc = group_acc[:, :, :X, :Y]
        group_w = group_w[:, :X, :Y]
        # Merge this z group into the running buffer, emitting the finished z range before it.
        if acc is None or wsum is None:
            acc, wsum, acc_start = group_acc, group_w, zs
        else:
            done = zs - acc_start
            if done > 0:
                yield acc_start, zs, (acc[:, :done] / wsum[:done]).float()
                acc, wsum = acc[:, done:], wsum[done:]
            keep = acc.shape[1]
            grow = oz - keep
            acc = torch.cat([acc, torch.zeros((acc.shape[0], grow, X, Y), device=device)], dim=1)
            wsum = torch.cat([wsum, torch.zeros((grow, X, Y), device=device)], dim=0)
            acc += group_acc
            wsum += group_w
            acc_start = zs
        last = gi == len(z_starts) - 1
        if last:
            end = min(shape[0], acc_start + oz)
            yield acc_start, end, (acc[:, : end - acc_start] / wsum[: end - acc_start]).float()


def _read_padded_slab(
    image: np.ndarray, grid: TileGrid, zs: int, device: torch.device
) -> torch.Tensor:
    """Input slab for output z start ``zs`` of a host volume, padded like the whole volume."""
    iz = grid.in_window[0]
    lo = grid.pad_low[0]
    z_idx = np.arange(zs - lo, zs - lo + iz)
    n = image.shape[0]
    # Reflect indices outside the volume (as F.pad's reflect mode does), then clamp.
    z_idx = np.where(z_idx < 0, -z_idx, z_idx)
    z_idx = np.where(z_idx >= n, 2 * (n - 1) - z_idx, z_idx).clip(0, n - 1)
    lo_z = int(z_idx.min())
    block = torch.as_tensor(
        np.asarray(image[lo_z : int(z_idx.max()) + 1], dtype=np.float32), device=device
    )
    block = block[torch.as_tensor(z_idx - lo_z, device=device)]
    return _pad(
        block, (0, grid.pad_low[1], grid.pad_low[2]), (0, grid.pad_high[1], grid.pad_high[2])
    )


def predict_probabilities(
    models, image, in_window, out_window, settings=None, device=None
) -> torch.Tensor:
    """The whole ``(n_classes, z, x, y)`` probability volume (for volumes that fit in memory)."""
    return torch.cat(
        [p for _, _, p in predict_chunks(models, image, in_window, out_window, settings, device)],
        dim=1,
    )


def confusion_on_device(
    truth: torch.Tensor, prediction: torch.Tensor, n_classes: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """``(n, n)`` int64 confusion counts computed where the tensors live (rows: truth)."""
    t = truth.reshape(-1).long()
    p = prediction.reshape(-1).long()
    if mask is not None:
        keep = mask.reshape(-1)
        t, p = t[keep], p[keep]
    return torch.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


@torch.no_grad()
def score_volume(
    models,
    image: torch.Tensor,
    labels: torch.Tensor,
    in_window: Sequence[int],
    out_window: Sequence[int],
    n_classes: int,
    settings: InferenceSettings | None = None,
    labeled: torch.Tensor | None = None,
    collect: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Confusion matrix (numpy, rows truth) of a model or ensemble on a labeled volume.

    The counts stay on the device until the end: one host transfer per evaluation. With a list
    ``collect``, the probabilities of each chunk are appended to it as float16 host arrays
    (``np.concatenate(collect, axis=1)`` is the whole ``(n_classes, z, x, y)`` volume).
    """
    device = labels.device
    total = torch.zeros((n_classes, n_classes), dtype=torch.int64, device=device)
    for z0, z1, probs in predict_chunks(models, image, in_window, out_window, settings, device):
        mask = labeled[z0:z1] if labeled is not None else None
        total += confusion_on_device(labels[z0:z1], probs.argmax(dim=0), n_classes, mask)
        if collect is not None:
            collect.append(probs.to(torch.float16).cpu().numpy())
    return total.cpu().numpy()
