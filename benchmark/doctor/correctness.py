"""Does the fast path train the same net as plain fp32?

Both runs train one net from the same weights on the same windows (random windows of the training
volume drawn from one seed, without augmentation), through the real step
(``fastpath.make_step``), loss (``Objective``), optimizer and schedule; only the fast-path switches
differ. Checks:

- the first step's loss agrees (same weights, same window: only rounding differs);
- the loss curves agree: means over blocks of steps differ by at most a stated relative tolerance;
- the loss falls in both runs;
- the 2D module's weights keep their scale (their RMS changes alike in both runs);
- the 2D-slice convolutions give the Conv3d's outputs and gradients;
- on CUDA: no step waits for the host, and CUDA-graph replays train like eager steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from benchmark.doctor.report import Check
from benchmark.doctor.settings import DoctorSettings
from benchmark.training import fastpath
from benchmark.training.device import DeviceData
from benchmark.training.fastpath import FastPath
from benchmark.training.planner import TrainingPlan

__all__ = ["Curve", "block_means", "compare_curves", "correctness_checks", "train_curve"]


@dataclass(frozen=True)
class Curve:
    """Per-step losses of one run, the change of the 2D weights' RMS (after / before) and, under
    CUDA graphs, how many steps were replays."""

    mode: str
    losses: tuple[float, ...]
    scale_2d: float
    replays: int | None = None


def _windows(shape, in_window, out_window, count: int, seed: int) -> np.ndarray:
    """``count`` random input-window corners (z, x, y) inside a volume of ``shape``."""
    rng = np.random.default_rng(seed)
    highs = [s - w + 1 for s, w in zip(shape, in_window)]
    if min(highs) < 1:
        raise ValueError(f"window {tuple(in_window)} does not fit the volume {tuple(shape)}")
    return np.stack([rng.integers(0, h, count) for h in highs], axis=1)


def _batch(data: DeviceData, corners: np.ndarray, in_window, out_window):
    from architectures.layers import center_crop

    images, labels, weights = [], [], []
    for z, x, y in corners.tolist():
        region = tuple(slice(c, c + w) for c, w in zip((z, x, y), in_window))
        images.append(data.train.image[region])
        labels.append(center_crop(data.train.labels[region], out_window))
        weights.append(center_crop(data.weights[region], out_window))
    return torch.stack(images)[:, None], torch.stack(labels), torch.stack(weights)


def _rms(params: Sequence[torch.Tensor]) -> torch.Tensor:
    total = sum(p.detach().float().pow(2).sum() for p in params)
    count = sum(p.numel() for p in params)
    return (total / max(count, 1)).sqrt()


class _SyncGuard:
    """``torch.cuda.set_sync_debug_mode("error")`` while active: a host sync raises."""

    def __init__(self, active: bool) -> None:
        self.active = active

    def __enter__(self) -> None:
        if self.active:
            torch.cuda.set_sync_debug_mode("error")

    def __exit__(self, *exc) -> None:
        if self.active:
            torch.cuda.set_sync_debug_mode("default")


def train_curve(
    plan: TrainingPlan,
    data: DeviceData,
    fast: FastPath,
    steps: int,
    *,
    seed: int = 0,
    mode: str = "",
    guard_steps: Sequence[int] = (),
) -> Curve:
    """Trains ``steps`` steps under ``fast`` and returns the loss of every step.

    Args:
        guard_steps: step indices run under ``set_sync_debug_mode("error")`` (CUDA): a host
            sync in them raises RuntimeError.
    """
    from architectures import build, output_window
    from benchmark.training.loss import Objective
    from benchmark.training.step import Schedule, make_optimizer

    config = plan.config
    device = fast.device
    options = plan.build_options(data.n_classes)
    in_window = plan.window
    out_window = output_window(
        plan.architecture, in_window, **{k: v for k, v in options.items() if k != "in_channels"}
    )
    batch = config.batch_size
    corners = _windows(data.train.image.shape, in_window, out_window, steps * batch, seed)
    fastpath.configure_backends(fast)
    guarded = set(guard_steps) if device.type == "cuda" else set()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = build(plan.architecture, seed=seed, device=device, init=config.init, **options)
        model = fast.prepare(model)
        model.train()
        before = _rms(model.parameter_groups()["2d"])
        objective = Objective(model, config)
        optimizer = make_optimizer(model, config, device)
        schedule = Schedule(optimizer, config)
        run = fastpath.make_step(model, optimizer, fast, objective)
        losses = []
        for i in range(steps):
            with _SyncGuard(i in guarded):
                x, labels, weights = _batch(
                    data, corners[i * batch : (i + 1) * batch], in_window, out_window
                )
                losses.append(run(fast.prepare_input(x), labels, weights))
                schedule.step()
        curve = torch.stack(losses).float().cpu().tolist()
        scale = float(_rms(model.parameter_groups()["2d"]) / before)
    return Curve(mode or fast.describe(), tuple(curve), scale, getattr(run, "replays", None))


def block_means(losses: Sequence[float], block: int) -> list[float]:
    """Means of consecutive blocks of ``block`` losses (a shorter last block is dropped, unless it
    is the only one)."""
    n = max(1, len(losses) // block)
    size = block if len(losses) >= block else len(losses)
    return [float(np.mean(losses[i * size : (i + 1) * size])) for i in range(n)]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def compare_curves(fast: Curve, ref: Curve, settings: DoctorSettings) -> list[Check]:
    """The correctness checks of a fast-path curve against the fp32 reference."""
    checks = []
    finite = all(math.isfinite(v) for v in fast.losses + ref.losses)
    if not finite:
        return [
            Check(
                "correctness",
                "loss curves",
                "FAIL",
                "a loss is NaN or infinite",
                dict(fast=list(fast.losses), reference=list(ref.losses)),
            )
        ]
    first = _rel(fast.losses[0], ref.losses[0])
    checks.append(
        Check(
            "correctness",
            "first step",
            "PASS" if first <= settings.first_rtol else "FAIL",
            f"loss {fast.losses[0]:.5g} vs fp32 {ref.losses[0]:.5g}: {100 * first:.3g} % "
            f"(tolerance {100 * settings.first_rtol:g} %)",
            dict(fast=fast.losses[0], reference=ref.losses[0], rel=first),
        )
    )
    fb, rb = block_means(fast.losses, settings.block), block_means(ref.losses, settings.block)
    worst = max(_rel(a, b) for a, b in zip(fb, rb))
    checks.append(
        Check(
            "correctness",
            "loss curves",
            "PASS" if worst <= settings.curve_rtol else "FAIL",
            f"{len(fast.losses)} steps: {settings.block}-step means within {100 * worst:.3g} % "
            f"of fp32 (tolerance {100 * settings.curve_rtol:g} %)",
            dict(fast=list(fast.losses), reference=list(ref.losses), worst_rel=worst),
        )
    )
    falls = [c.mode for c, b in ((fast, fb), (ref, rb)) if not b[-1] < settings.fall_ratio * b[0]]
    checks.append(
        Check(
            "correctness",
            "loss falls",
            "FAIL" if falls else "PASS",
            f"fast {fb[0]:.4g} -> {fb[-1]:.4g}, fp32 {rb[0]:.4g} -> {rb[-1]:.4g} "
            f"(last block below {settings.fall_ratio:g} x the first)"
            + (f"; does not fall: {', '.join(falls)}" if falls else ""),
            dict(fast=[fb[0], fb[-1]], reference=[rb[0], rb[-1]]),
        )
    )
    scale = _rel(fast.scale_2d, ref.scale_2d)
    sane = 0.5 < fast.scale_2d < 2.0
    checks.append(
        Check(
            "correctness",
            "2D weight scale",
            "PASS" if scale <= settings.scale_rtol and sane else "FAIL",
            f"RMS x{fast.scale_2d:.4f} (fast) vs x{ref.scale_2d:.4f} (fp32): {100 * scale:.3g} % "
            f"(tolerance {100 * settings.scale_rtol:g} %)",
            dict(fast=fast.scale_2d, reference=ref.scale_2d),
        )
    )
    return checks


def check_slices(plan: TrainingPlan, n_classes: int, device: torch.device, rtol: float) -> Check:
    """2D-slice convolutions against Conv3d: outputs and gradients of one batch, fp32."""
    from architectures import build
    from architectures.layers import set_conv2d_slices

    options = plan.build_options(n_classes)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((plan.config.batch_size, 1, *plan.window), generator=g).to(device)
    model = build(plan.architecture, seed=0, device=device, **options)
    switched = set_conv2d_slices(model, False)
    if not switched:
        return Check("correctness", "2D slice convs", "SKIP", "the net has no 1xkxk convolutions")
    results = []
    for enabled in (False, True):
        set_conv2d_slices(model, enabled)
        model.zero_grad(set_to_none=True)
        out = model(x)["logits"]
        out.float().pow(2).mean().backward()
        grads = [p.grad.detach().clone() for p in model.parameters()]
        results.append((out.detach(), grads))
    (out_a, grads_a), (out_b, grads_b) = results
    diff = float((out_a - out_b).abs().max() / out_a.abs().max().clamp_min(1e-12))
    gdiff = max(
        float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))
        for a, b in zip(grads_a, grads_b)
    )
    worst = max(diff, gdiff)
    return Check(
        "correctness",
        "2D slice convs",
        "PASS" if worst <= rtol else "FAIL",
        f"{switched} convs: outputs within {diff:.2g}, gradients within {gdiff:.2g} of Conv3d "
        f"(relative to their largest value; tolerance {rtol:g})",
        dict(convs=switched, output_rel=diff, grad_rel=gdiff),
    )


def check_host_syncs(plan: TrainingPlan, data: DeviceData, fast: FastPath, steps: int) -> Check:
    """A few fast-path steps (after three warm-up steps) under ``set_sync_debug_mode("error")``."""
    if fast.device.type != "cuda":
        return Check("correctness", "host syncs", "SKIP", "CUDA only")
    try:
        train_curve(plan, data, fast, 3 + steps, guard_steps=range(3, 3 + steps))
    except RuntimeError as exc:
        return Check(
            "correctness",
            "host syncs",
            "FAIL",
            f"a step waits for the host: {str(exc).strip().splitlines()[0][:200]}",
        )
    return Check("correctness", "host syncs", "PASS", f"none in {steps} steps (window, step, lr)")


def correctness_checks(
    plan: TrainingPlan,
    data: DeviceData,
    settings: DoctorSettings,
    log=None,
    graph_plan: TrainingPlan | None = None,
) -> list[Check]:
    """Every correctness check on ``plan.config.device`` (see the module docstring).

    ``graph_plan`` is the plan the CUDA-graph check trains (default ``plan``): one whose optimizer
    settings stay fixed between steps, so that the steps replay (see
    ``benchmark.training.graphs``).
    """
    from benchmark.training.device import resolve_device

    device = resolve_device(plan.config.device)
    fast = FastPath.from_config(plan.config, device)
    reference = FastPath.eager(device)
    say = log or (lambda _line: None)
    say(f"  correctness: {settings.steps} steps fast ({fast.describe()}) and fp32 eager")
    fast_curve = train_curve(plan, data, fast, settings.steps, mode="fast")
    ref_curve = train_curve(plan, data, reference, settings.steps, mode="fp32")
    checks = compare_curves(fast_curve, ref_curve, settings)
    checks.append(check_slices(plan, data.n_classes, device, settings.slice_rtol))
    checks.append(check_host_syncs(plan, data, fast, settings.sync_steps))
    if device.type != "cuda" or not settings.graph_steps:
        checks.append(Check("correctness", "CUDA graphs", "SKIP", "CUDA only"))
    else:
        checks.append(_check_graphs(graph_plan or plan, data, settings))
    return checks


def _check_graphs(plan: TrainingPlan, data: DeviceData, settings: DoctorSettings) -> Check:
    from benchmark.training.device import resolve_device

    fast = FastPath.from_config(plan.config, resolve_device(plan.config.device))
    steps = settings.graph_steps
    try:
        eager = train_curve(plan, data, fast.variant(cuda_graphs=False), steps, mode="eager")
        graphed = train_curve(plan, data, fast.variant(cuda_graphs=True), steps, mode="graphs")
    except Exception as exc:  # a capture that fails here is the finding
        return Check("correctness", "CUDA graphs", "FAIL", f"capture failed: {exc}"[:300])
    worst = max(
        _rel(a, b)
        for a, b in zip(
            block_means(graphed.losses, settings.block), block_means(eager.losses, settings.block)
        )
    )
    return Check(
        "correctness",
        "CUDA graphs",
        "PASS" if worst <= settings.curve_rtol and graphed.replays else "FAIL",
        f"{steps} steps ({graphed.replays} replayed): {settings.block}-step means within "
        f"{100 * worst:.3g} % of eager (tolerance {100 * settings.curve_rtol:g} %)",
        dict(graphs=list(graphed.losses), eager=list(eager.losses), replays=graphed.replays),
    )
