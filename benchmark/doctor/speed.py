"""Speed of the fast path against eager bf16 and plain eager fp32, with and without compile.

The modes are ``perf``'s (``benchmark.training.perf``): the same net, weights and windows, timed by
the same code. Absolute steps/s depend on the machine; the ratio to ``eager-fp32`` in the same run
is the figure that carries across machines.
"""

from __future__ import annotations

import math

from benchmark.doctor.report import Check
from benchmark.doctor.settings import DoctorSettings
from benchmark.training.perf import StepTiming, measure
from benchmark.training.planner import TrainingPlan

__all__ = ["GOALS", "speed_checks"]

#: The goals set for ``2d3d_3x3x3`` at batch 1 on an H100/H200 (steps/s; x plain eager fp32).
GOALS = dict(steps_per_s=80.0, ratio=3.4)


def _row(t: StepTiming, reference: StepTiming | None) -> Check:
    if t.error is not None:
        return Check("speed", t.mode, "FAIL", f"could not run: {t.error}", dict(error=t.error))
    ratio = (
        reference.step_ms / t.step_ms
        if reference is not None and reference.error is None and t is not reference
        else None
    )
    figure = f"{t.steps_per_s:.2f} steps/s, {t.train_tflops:.3g} TFLOP/s"
    if ratio is not None:
        figure += f", {ratio:.2f}x eager-fp32"
    if t.peak_memory_gib is not None:
        figure += f", peak {t.peak_memory_gib:.2f} GiB"
    values = dict(
        switches=t.switches,
        step_ms=t.step_ms,
        steps_per_s=t.steps_per_s,
        train_tflops=t.train_tflops,
        peak_memory_gib=t.peak_memory_gib,
        vs_eager_fp32=ratio,
    )
    return Check("speed", t.mode, "PASS", f"{figure} [{t.switches}]", values)


def speed_checks(
    plan: TrainingPlan, settings: DoctorSettings, n_classes: int, log=None
) -> list[Check]:
    """One row per mode of ``settings.speed_modes``, then the headline comparisons."""
    if not settings.speed_modes:
        return [Check("speed", "modes", "SKIP", "no modes asked for")]
    if log:
        log(f"  speed: {', '.join(settings.speed_modes)}")
    timings = measure(
        plan,
        settings.speed_modes,
        n_classes=n_classes,
        steps=settings.speed_steps,
        warmup=settings.speed_warmup,
        infer=False,
    )
    by_mode = {t.mode: t for t in timings}
    reference = by_mode.get("eager-fp32")
    checks = [_row(t, reference) for t in timings]
    fast = by_mode.get("fast")
    slices = by_mode.get("fast+conv2d_slices")
    if fast is not None and slices is not None and fast.error is None and slices.error is None:
        checks.append(
            Check(
                "speed",
                "2D slices vs Conv3d",
                "PASS",
                f"fast+conv2d_slices is {fast.step_ms / slices.step_ms:.2f}x fast "
                "(> 1: the slices pay here)",
                dict(ratio=fast.step_ms / slices.step_ms),
            )
        )
    ok = [t for t in timings if t.error is None and t.mode.startswith("fast")]
    if ok and reference is not None and reference.error is None:
        best = min(ok, key=lambda t: t.step_ms)
        ratio = reference.step_ms / best.step_ms
        figure = (
            f"best fast mode {best.mode}: {best.steps_per_s:.2f} steps/s, {ratio:.2f}x eager-fp32"
        )
        if _on_cuda(plan):
            figure += (
                f" (goal on H100/H200 at batch 1: >= {GOALS['steps_per_s']:g} steps/s and "
                f">= {GOALS['ratio']:g}x)"
            )
        checks.append(
            Check(
                "speed",
                "best fast mode",
                "PASS" if ratio >= 1.0 or not math.isfinite(ratio) else "FAIL",
                figure,
                dict(mode=best.mode, steps_per_s=best.steps_per_s, vs_eager_fp32=ratio),
            )
        )
    return checks


def _on_cuda(plan: TrainingPlan) -> bool:
    from benchmark.training.device import resolve_device

    return resolve_device(plan.config.device).type == "cuda"
