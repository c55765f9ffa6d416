"""Training-step and inference speed of one architecture under named fast-path modes.

A mode is a base, ``fast`` (the switches the training config asks for on this device, what
``train_instance`` runs), ``eager-bf16`` (bf16 autocast, nothing else) or ``eager-fp32`` (plain
eager: fp32, contiguous, torch's default Adam), followed by any number of ``+switch`` /
``-switch`` changes (``benchmark.training.fastpath.SWITCHES``): ``fast+compile``,
``fast+cuda_graphs``, ``fast-conv2d_slices``, ``eager-fp32+compile``. Every mode runs the same
step (``fastpath.make_step``) on the same random windows from the same weights, in one process,
so ratios between modes are measured, not assumed. Achieved TFLOP/s counts a training step as 3x
the forward FLOPs (forward + backward).

:func:`time_ms` is the one timing loop of the package (``perf``, ``doctor`` and the search's
per-candidate step time use it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from benchmark.training.device import resolve_device
from benchmark.training.fastpath import SWITCHES, FastPath, configure_backends, make_step
from benchmark.training.loss import Objective
from benchmark.training.planner import TrainingPlan
from benchmark.training.step import make_optimizer

__all__ = [
    "BASE_MODES",
    "StepTiming",
    "error_line",
    "measure",
    "median",
    "parse_mode",
    "time_ms",
    "time_step",
]

BASE_MODES = ("fast", "eager-bf16", "eager-fp32")


@dataclass(frozen=True)
class StepTiming:
    """Median times of one mode; ``error`` is set (and the figures NaN) when the mode failed.

    Attributes:
        mode: the mode's name (``fast+compile``).
        switches: what the mode runs (``bf16, channels_last_3d, fused Adam``).
        step_ms: median training step (forward, backward, optimizer) in ms.
        steps_per_s: ``1000 / step_ms``.
        train_tflops: achieved TFLOP/s of the training step.
        infer_ms: median forward pass without gradients, ms (NaN when not measured).
        peak_memory_gib: peak allocated device memory of the mode (CUDA; None elsewhere).
        error: why the mode could not run.
    """

    mode: str
    switches: str
    step_ms: float
    steps_per_s: float
    train_tflops: float
    infer_ms: float = float("nan")
    peak_memory_gib: float | None = None
    error: str | None = None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(
    fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 0
) -> list[float]:
    """Wall times (ms) of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls; each call is
    waited for on ``device``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return float("nan")
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


def parse_mode(name: str, fast: FastPath) -> FastPath:
    """The switches of mode ``name``; ``fast`` is what the base ``fast`` means here.

    Raises:
        ValueError: an unknown base or switch (the message lists the choices).
    """
    base = next((b for b in sorted(BASE_MODES, key=len, reverse=True) if name.startswith(b)), None)
    if base is None:
        raise ValueError(
            f"unknown mode {name!r}: it starts with one of {list(BASE_MODES)}, then +switch or "
            f"-switch for switches {list(SWITCHES)}"
        )
    rest = name[len(base) :]
    changes = re.findall(r"([+-])([a-z0-9_]+)", rest)
    if "".join(sign + switch for sign, switch in changes) != rest:
        raise ValueError(f"mode {name!r}: after {base!r} only +switch / -switch may follow")
    if base == "fast":
        mode = fast
    else:
        mode = FastPath.eager(fast.device, torch.bfloat16 if base == "eager-bf16" else None)
    return mode.variant(**{switch: sign == "+" for sign, switch in changes})


def _random_batch(plan: TrainingPlan, n_classes: int, out_window, device, seed: int):
    g = torch.Generator().manual_seed(seed)
    b = plan.config.batch_size
    image = torch.randn((b, 1, *plan.window), generator=g).to(device)
    labels = torch.randint(0, n_classes, (b, *out_window), generator=g).to(device)
    weights = torch.rand((b, *out_window), generator=g).to(device)
    return image, labels, weights


def time_step(
    plan: TrainingPlan,
    fast: FastPath,
    *,
    n_classes: int = 7,
    steps: int = 20,
    warmup: int = 5,
    seed: int = 0,
    infer: bool = False,
    mode: str = "",
) -> StepTiming:
    """Times ``steps`` training steps of ``plan``'s net (after ``warmup``) under ``fast``, on random
    windows of the plan's window and batch size; the global random state is left alone.

    Returns:
        The timing (a failing mode raises; :func:`measure` turns that into ``error``).
    """
    from architectures import build, summarize

    device = fast.device
    options = plan.build_options(n_classes)
    summary = summarize(plan.architecture, plan.window, **options)
    out_window = summary.output_shape[1:]
    configure_backends(fast)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        image, labels, weights = _random_batch(plan, n_classes, out_window, device, seed)
        model = fast.prepare(build(plan.architecture, seed=seed, device=device, **options))
        model.train()
        optimizer = make_optimizer(model, plan.config, device)
        train = make_step(model, optimizer, fast, Objective(model, plan.config))
        x = fast.prepare_input(image)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        step_ms = median(time_ms(lambda: train(x, labels, weights), device, steps, warmup))
        infer_ms = float("nan")
        if infer:
            model.eval()
            forward = torch.compile(model) if fast.compile else model

            def one_forward() -> None:
                with torch.no_grad(), fast.autocast():
                    forward(x)

            infer_ms = median(time_ms(one_forward, device, max(3, steps // 3), 2))
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    flops = 3 * summary.flops * plan.config.batch_size
    return StepTiming(
        mode=mode or fast.describe(),
        switches=fast.describe(),
        step_ms=step_ms,
        steps_per_s=1000.0 / step_ms,
        train_tflops=flops / (step_ms / 1000) / 1e12,
        infer_ms=infer_ms,
        peak_memory_gib=peak,
    )


def measure(
    plan: TrainingPlan,
    modes: Sequence[str] = ("fast", "eager-fp32"),
    *,
    n_classes: int = 7,
    steps: int = 20,
    warmup: int = 5,
    seed: int = 0,
    infer: bool = True,
) -> list[StepTiming]:
    """Times each of ``modes`` (see the module docstring) for ``plan``'s net, window and batch.

    A mode that fails (``torch.compile`` without a compiler, CUDA graphs on a step that syncs)
    gives a row with ``error`` instead of stopping the others.
    """
    device = resolve_device(plan.config.device)
    fast = FastPath.from_config(plan.config, device)
    switches = [parse_mode(m, fast) for m in modes]  # bad names fail before any timing
    results = []
    for name, mode in zip(modes, switches):
        try:
            results.append(
                time_step(
                    plan,
                    mode,
                    n_classes=n_classes,
                    steps=steps,
                    warmup=warmup,
                    seed=seed,
                    infer=infer,
                    mode=name,
                )
            )
        except Exception as exc:  # a mode that cannot run here is a finding, not a crash
            nan = float("nan")
            results.append(StepTiming(name, mode.describe(), nan, nan, nan, error=error_line(exc)))
        if device.type == "cuda":
            torch.cuda.empty_cache()
    configure_backends(fast)
    return results


def error_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}" if text else type(exc).__name__
