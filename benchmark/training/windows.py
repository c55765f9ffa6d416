"""Training windows as the original code draws them, and the per-epoch presentation plan drawn
from the data seed (leapmanlab ``examples``, ``DataHandler._gen_corner_points`` and ``input_fn``).

Along each axis the usable range of *output*-window corners, ``0 .. size - out``, is cut into bins
of the spacing; every epoch draws one corner uniformly inside each bin along each axis
(``jitter``), and the windows are all combinations (C order z, x, y). For a (50,800,800) volume,
(5,296,296) output windows and (2,100,100) spacing that is 23 * 6 * 6 = 828 windows per epoch.
Input windows extend ``(in - out) // 2`` around their output window; where that leaves the volume
the image is reflected at the border, so a valid-convolution net still sees the whole labelled
area. Each epoch presents every window once, in an order drawn from the data seed, with the
per-window augmentation draws from the same stream; the plan is a function of
``(data_seed, epoch)`` only, computed on the CPU once per epoch, so a resumed instance replays
exactly what it would have seen and the training step never waits for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["EpochPlan", "WindowGrid", "epoch_plan", "instance_seeds", "window_grid"]


@dataclass(frozen=True)
class WindowGrid:
    """The bins of output-window corners along z, x and y.

    Attributes:
        edges: per axis, the ``n_k + 1`` bin edges; bin i holds corners ``edges[i] ..
            edges[i+1] - 1``.
    """

    edges: tuple[np.ndarray, np.ndarray, np.ndarray]

    def __len__(self) -> int:
        return math.prod(len(e) - 1 for e in self.edges)

    def starts(self) -> np.ndarray:
        """``(n, 3)`` corners at the start of every bin (the grid without jitter), C order."""
        return _combine([e[:-1] for e in self.edges])

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """``(n, 3)`` corners, one uniform draw inside each bin along each axis, C order."""
        return _combine([rng.integers(e[:-1], e[1:]) for e in self.edges])


def _combine(axes: Sequence[np.ndarray]) -> np.ndarray:
    grid = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=1).astype(np.int64)


def window_grid(
    shape: Sequence[int], out_window: Sequence[int], spacing: Sequence[int]
) -> WindowGrid:
    """The corner bins of ``out_window`` windows in a volume of ``shape`` (z, x, y).

    Raises:
        ValueError: a window larger than the volume, or a spacing below 1.
    """
    edges = []
    for size, win, step, axis in zip(shape, out_window, spacing, "zxy"):
        if win > size:
            raise ValueError(
                f"window {tuple(out_window)} is larger than the volume {tuple(shape)} along {axis}"
            )
        if step < 1:
            raise ValueError(f"window spacing must be positive, got {tuple(spacing)}")
        usable = size - win + 1
        n_bins = math.ceil(usable / step)
        edges.append(np.minimum(np.arange(n_bins + 1) * step, usable))
    return WindowGrid(tuple(edges))  # type: ignore[arg-type]


def instance_seeds(seed: int) -> tuple[int, int]:
    """``(data_seed, weight_seed)`` of instance ``seed``: independent streams, identical for
    every architecture, so seed i of two architectures sees the same data presentation."""
    data, weight = np.random.SeedSequence([int(seed), 0x5EED]).spawn(2)
    return int(data.generate_state(1)[0]), int(weight.generate_state(1)[0])


@dataclass(frozen=True)
class EpochPlan:
    """Presentation of one epoch: output-window corners in order, augmentation per window.

    Attributes:
        corners: ``(n, 3)`` output-window corners (z, x, y) in presentation order.
        flips: ``(n, 3)`` bool, reflect along z, x, y.
        contrast: ``(n,)`` contrast factors.
        brightness: ``(n,)`` brightness shifts as fractions of the training volume's range.
        elastic_seed: seed of this epoch's elastic field.
    """

    corners: np.ndarray
    flips: np.ndarray
    contrast: np.ndarray
    brightness: np.ndarray
    elastic_seed: int


def epoch_plan(
    grid: WindowGrid,
    data_seed: int,
    epoch: int,
    *,
    jitter: bool = True,
    reflect: bool = False,
    brightness: float = 0.12,
    contrast: float = 0.2,
) -> EpochPlan:
    """The plan of ``epoch``: a function of ``(data_seed, epoch)`` only."""
    rng = np.random.default_rng([int(data_seed), int(epoch)])
    corners = grid.draw(rng) if jitter else grid.starts()
    n = len(corners)
    order = rng.permutation(n)
    flips = rng.random((n, 3)) < 0.5 if reflect else np.zeros((n, 3), dtype=bool)
    c = 1 + contrast * rng.uniform(-1, 1, n)
    b = brightness * rng.uniform(-1, 1, n)
    return EpochPlan(corners[order], flips, c, b, int(rng.integers(2**31)))
