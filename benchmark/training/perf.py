"""Training-step and inference speed of one architecture, fast path against plain eager fp32.

The fast path is what ``train_instance`` runs on the device: bf16 autocast and channels_last_3d
on CUDA (fp32 on the CPU), fused Adam on CUDA, optionally ``torch.compile``. Both modes run the
same ``train_step`` on random windows in one process, so the ratio is measured, not assumed.
Achieved TFLOP/s counts a training step as 3x the forward FLOPs (forward + backward).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from architectures import build, get_entry, summarize
from architectures.layers import to_channels_last
from architectures.summary import window_overrides
from benchmark.training.config import TrainConfig
from benchmark.training.device import resolve_device
from benchmark.training.step import autocast_for, make_optimizer, train_step

__all__ = ["StepTiming", "measure"]


@dataclass(frozen=True)
class StepTiming:
    """Median over timed repetitions."""

    mode: str
    step_ms: float
    steps_per_s: float
    train_tflops: float
    infer_ms: float
    peak_memory_gib: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_ms(fn, device: torch.device, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2]


def _measure_mode(
    arch, options, mode, dev, image, labels, weights, compile, steps, warmup, seed
) -> tuple[float, float, float]:
    """(median step ms, median forward ms, peak GiB) of one mode."""
    fast = mode == "fast"
    amp = torch.bfloat16 if (fast and dev.type == "cuda") else None
    channels_last = fast and dev.type == "cuda"
    model = build(arch, seed=seed, device=dev, **options)
    if channels_last:
        model = to_channels_last(model)
    x = image.contiguous(memory_format=torch.channels_last_3d) if channels_last else image
    config = TrainConfig()
    optimizer = (
        make_optimizer(model, config, dev)
        if fast
        else torch.optim.Adam(model.parameters(), lr=config.lr)
    )
    step_model = torch.compile(model) if (fast and compile) else model
    autocast = autocast_for(dev, amp)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    def one_step() -> None:
        train_step(step_model, optimizer, x, labels, weights, 0.33, autocast)

    def one_forward() -> None:
        with torch.no_grad(), autocast:
            step_model(x)

    for _ in range(warmup):
        one_step()
    step_ms = _median_ms(one_step, dev, steps)
    model.eval()
    for _ in range(2):
        one_forward()
    infer_ms = _median_ms(one_forward, dev, max(3, steps // 3))
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (process)
    return step_ms, infer_ms, peak


def measure(
    arch: str,
    window: Sequence[int] | None = None,
    *,
    width: float = 1.0,
    batch_size: int = 1,
    steps: int = 30,
    warmup: int = 5,
    device: str = "auto",
    compile: bool = False,
    modes: Sequence[str] = ("fast", "eager-fp32"),
    seed: int = 0,
) -> list[StepTiming]:
    """Times ``steps`` training steps (after ``warmup``) and forward passes in each mode."""
    dev = resolve_device(device)
    entry = get_entry(arch)
    win = tuple(window or entry.window)
    options = dict(width=width, **window_overrides(arch, win))
    summary = summarize(arch, win, **options)
    out_window = summary.output_shape[1:]
    n_classes = summary.output_shape[0]
    g = torch.Generator().manual_seed(seed)
    image = torch.randn((batch_size, 1, *win), generator=g).to(dev)
    labels = torch.randint(0, n_classes, (batch_size, *out_window), generator=g).to(dev)
    weights = torch.rand((batch_size, *out_window), generator=g).to(dev)
    flops = 3 * summary.flops * batch_size
    results = []
    for mode in modes:
        timing = _measure_mode(
            arch, options, mode, dev, image, labels, weights, compile, steps, warmup, seed
        )
        step_ms, infer_ms, peak = timing
        fast = mode == "fast" and dev.type == "cuda"
        label = mode + (
            " (bf16, channels_last_3d" + (", compile)" if compile else ")") if fast else ""
        )
        results.append(
            StepTiming(
                mode=label,
                step_ms=step_ms,
                steps_per_s=1000.0 / step_ms,
                train_tflops=flops / (step_ms / 1000) / 1e12,
                infer_ms=infer_ms,
                peak_memory_gib=peak,
            )
        )
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return results
