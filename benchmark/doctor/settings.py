"""How big each check of ``doctor`` is, per kind of device and ``--quick``.

On CUDA the checks use the paper's net, window and width on a paper-size phantom (the figures the
paper profile's 33,000-step instances depend on); on the CPU they use the quick profile's sizes,
which show that every code path works and what the switches do there, in a few minutes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["DoctorSettings", "preset"]


@dataclass(frozen=True)
class DoctorSettings:
    """Sizes and tolerances of the checks.

    Attributes:
        arch: the net every check trains.
        profile: training profile the checks plan with (``paper`` or ``quick``).
        phantom: size of the built-in phantom (``paper`` or ``quick``).
        train_overrides: training options on top of the profile (window, width, batch size).
        steps: training steps of the correctness check (per mode).
        block: steps per block in the loss-curve comparison.
        curve_rtol: largest relative difference of block means, fast path vs fp32.
        first_rtol: largest relative difference of the first step's loss.
        fall_ratio: the last block's mean loss must be below this fraction of the first's.
        scale_rtol: largest relative difference of the 2D weights' RMS change, fast vs fp32.
        slice_rtol: largest difference of 2D-slice and Conv3d outputs, relative to their size.
        sync_steps: steps checked for host syncs (CUDA).
        graph_steps: steps of the CUDA-graphs comparison (CUDA; 0 skips it).
        speed_modes: ``perf`` modes of the speed check.
        speed_steps, speed_warmup: timed and untimed steps per mode.
        memory_steps: steps of the training instance whose peak memory is measured (CUDA).
        packing: instances per GPU to measure (CUDA, Ray).
        packing_seconds: how long each packing measurement runs.
        ensemble: members of the inference ensemble.
        volume: (z, x, y) of the synthetic inference volume.
        overlap: tile overlap of the inference check (``segment``'s default).
    """

    arch: str = "2d3d_3x3x3"
    profile: str = "paper"
    phantom: str = "paper"
    train_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    steps: int = 200
    block: int = 20
    curve_rtol: float = 0.10
    first_rtol: float = 0.02
    fall_ratio: float = 0.9
    scale_rtol: float = 0.05
    slice_rtol: float = 1e-4
    sync_steps: int = 5
    graph_steps: int = 60
    speed_modes: tuple[str, ...] = (
        "fast",
        "fast+compile",
        "fast+cuda_graphs",
        "fast+compile+cuda_graphs",
        "fast+conv2d_slices",
        "eager-bf16",
        "eager-bf16+compile",
        "eager-fp32",
        "eager-fp32+compile",
    )
    speed_steps: int = 30
    speed_warmup: int = 10
    memory_steps: int = 20
    packing: tuple[int, ...] = (1, 2, 4)
    packing_seconds: float = 15.0
    ensemble: int = 4
    volume: tuple[int, int, int] = (40, 2048, 2048)
    overlap: float = 0.25

    def replace(self, **changes: Any) -> DoctorSettings:
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.train_overrides.items())
        return f"{self.arch}, profile {self.profile}" + (f" ({extra})" if extra else "")


_CUDA = DoctorSettings()
_CUDA_QUICK = _CUDA.replace(
    steps=100,
    graph_steps=40,
    speed_modes=(
        "fast",
        "fast+compile",
        "fast+cuda_graphs",
        "fast+conv2d_slices",
        "eager-bf16",
        "eager-fp32",
    ),
    speed_steps=20,
    speed_warmup=5,
    packing_seconds=8.0,
    volume=(20, 1024, 1024),
)
# CPU: the quick profile's net size and windows; fp32 on both sides, so tolerances are tight.
_CPU = DoctorSettings(
    profile="quick",
    phantom="quick",
    steps=200,
    curve_rtol=0.02,
    first_rtol=1e-4,
    scale_rtol=0.01,
    graph_steps=0,
    speed_modes=("fast", "fast+conv2d_slices", "eager-fp32"),
    speed_steps=10,
    speed_warmup=3,
    packing=(),
    volume=(12, 128, 128),
)
_CPU_QUICK = _CPU.replace(steps=100, speed_steps=6, speed_warmup=2, volume=(8, 64, 64))

_PRESETS = {
    ("cuda", False): _CUDA,
    ("cuda", True): _CUDA_QUICK,
    ("cpu", False): _CPU,
    ("cpu", True): _CPU_QUICK,
}


def preset(device_type: str, quick: bool) -> DoctorSettings:
    """The settings for a ``cuda`` or ``cpu`` device, full or ``--quick``."""
    return _PRESETS[("cuda" if device_type == "cuda" else "cpu", bool(quick))]
