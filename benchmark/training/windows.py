"""The paper's window grid and the per-epoch presentation plan drawn from the data seed.

Training windows have their corners on a grid: along each axis ``range(0, size - window + 1,
spacing)``. For a (50,800,800) volume, (5,300,300) windows and (2,100,100) spacing that is
23 * 6 * 6 = 828 windows per epoch. Each epoch presents every window once, in an order drawn from
the data seed, with per-window reflections and brightness/contrast factors drawn from the same
stream; the plan is computed on the CPU once per epoch so the training step never waits for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["EpochPlan", "epoch_plan", "instance_seeds", "window_corners"]


def window_corners(
    shape: Sequence[int], window: Sequence[int], spacing: Sequence[int]
) -> np.ndarray:
    """``(n, 3)`` int array of window corners (z, x, y) on the spacing grid, in C order."""
    axes = []
    for size, win, step, axis in zip(shape, window, spacing, "zxy"):
        if win > size:
            raise ValueError(
                f"window {tuple(window)} is larger than the volume {tuple(shape)} along {axis}"
            )
        if step < 1:
            raise ValueError(f"window spacing must be positive, got {tuple(spacing)}")
        axes.append(np.arange(0, size - win + 1, step))
    grid = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=1)


def instance_seeds(seed: int) -> tuple[int, int]:
    """``(data_seed, weight_seed)`` of instance ``seed``: independent streams, identical for
    every architecture, so seed i of two architectures sees the same data presentation."""
    data, weight = np.random.SeedSequence([int(seed), 0x5EED]).spawn(2)
    return int(data.generate_state(1)[0]), int(weight.generate_state(1)[0])


@dataclass(frozen=True)
class EpochPlan:
    """Presentation of one epoch: window order, reflections and intensity factors per step.

    Attributes:
        corners: ``(n, 3)`` window corners in presentation order.
        flips: ``(n, 3)`` bool, reflect along z, x, y.
        contrast: ``(n,)`` contrast factors.
        brightness: ``(n,)`` brightness shifts.
        elastic_seed: seed of this epoch's elastic field.
    """

    corners: np.ndarray
    flips: np.ndarray
    contrast: np.ndarray
    brightness: np.ndarray
    elastic_seed: int


def epoch_plan(
    corners: np.ndarray,
    data_seed: int,
    epoch: int,
    *,
    reflect: bool = True,
    brightness: float = 0.12,
    contrast: float = 0.2,
) -> EpochPlan:
    """The plan of ``epoch``: a function of ``(data_seed, epoch)`` only, so a resumed instance
    replays exactly the presentation it would have seen."""
    rng = np.random.default_rng([int(data_seed), int(epoch)])
    n = len(corners)
    order = rng.permutation(n)
    flips = rng.random((n, 3)) < 0.5 if reflect else np.zeros((n, 3), dtype=bool)
    c = rng.uniform(1 - contrast, 1 + contrast, n)
    b = rng.uniform(-brightness, brightness, n)
    return EpochPlan(corners[order], flips, c, b, int(rng.integers(2**31)))
