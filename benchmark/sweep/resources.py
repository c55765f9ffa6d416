"""Resources per trial: the GPU memory one training instance needs and the GPU fraction that
packs as many instances per GPU as fit."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["default_gpus_per_trial", "estimate_instance_memory_gib"]


def estimate_instance_memory_gib(
    arch: str, window: Sequence[int], width: float, options: dict[str, Any], data_voxels: int
) -> float:
    """Rough GPU memory of one training instance: bf16 activations kept for backward (every
    layer output, twice for safety), fp32 weights + grads + two Adam moments, and the data
    (image, labels, weights, their elastic copies)."""
    from architectures import summarize
    from architectures.summary import window_overrides

    s = summarize(arch, window, width=width, **dict(window_overrides(arch, window), **options))
    activations = sum(math.prod(r.output_shape) for r in s.layers) * 2 * 2
    weights = s.params * 4 * 4
    data = data_voxels * (4 + 1 + 4) * 2
    return (activations + weights + data) / 2**30 + 0.5  # + CUDA context and workspace


def default_gpus_per_trial(instance_gib: float, gpu_gib: float, max_per_gpu: int = 8) -> float:
    """Fraction of a GPU per trial that packs as many instances as memory allows (at most 8)."""
    fits = max(1, min(max_per_gpu, int((gpu_gib * 0.85) // max(instance_gib, 0.1))))
    return 1.0 / fits
