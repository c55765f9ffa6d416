"""GPU memory of one training instance, measured, against the estimate that sets the default
packing (``benchmark.sweep.resources``)."""

from __future__ import annotations

import gc

from benchmark.data.volumes import Dataset
from benchmark.doctor.report import Check
from benchmark.training.planner import TrainingPlan

__all__ = ["memory_check"]


def memory_check(plan: TrainingPlan, dataset: Dataset, log=None) -> Check:
    """Trains ``plan`` (a few steps, then its evaluation and test scoring) as ``train_instance``
    does and compares the peak device memory with the estimate.

    The measured figure is the allocator's peak reservation plus what the process holds besides
    (CUDA context and libraries, read from the free memory; other processes on the same GPU
    inflate it).
    """
    import torch

    from benchmark.training.device import resolve_device

    device = resolve_device(plan.config.device)
    if device.type != "cuda":
        return Check("memory", "per instance", "SKIP", "CUDA only")
    from benchmark.sweep.resources import default_gpus_per_trial, estimate_instance_memory_gib
    from benchmark.training.instance import train_instance

    if log:
        log(f"  memory: {plan.config.max_steps} steps, one evaluation, test scoring")
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    train_instance(plan.architecture, 0, dataset, plan.config, arch_overrides=plan.arch_options)
    peak_allocated = torch.cuda.max_memory_allocated(device) / 2**30
    peak_reserved = torch.cuda.max_memory_reserved(device) / 2**30
    free, total = torch.cuda.mem_get_info(device)
    context = max(0.0, (total - free) / 2**30 - torch.cuda.memory_reserved(device) / 2**30)
    measured = peak_reserved + context
    gpu_gib = total / 2**30
    estimate = estimate_instance_memory_gib(
        plan.architecture,
        plan.window,
        plan.config.width,
        plan.arch_options,
        int(dataset.train.image.size),
    )
    by_estimate = round(1 / default_gpus_per_trial(estimate, gpu_gib))
    by_measure = round(1 / default_gpus_per_trial(measured, gpu_gib))
    safe = estimate >= measured
    figure = (
        f"measured {measured:.2f} GiB (peak allocated {peak_allocated:.2f}, reserved "
        f"{peak_reserved:.2f}, context {context:.2f}) vs estimate {estimate:.2f} GiB: "
        f"{by_estimate} per {gpu_gib:.0f} GiB GPU by the estimate, {by_measure} by the measurement"
    )
    if not safe:
        figure += "; the estimate is too low: the default packing could run out of memory"
    return Check(
        "memory",
        "per instance",
        "PASS" if safe else "FAIL",
        figure,
        dict(
            measured_gib=measured,
            peak_allocated_gib=peak_allocated,
            peak_reserved_gib=peak_reserved,
            context_gib=context,
            estimate_gib=estimate,
            gpu_gib=gpu_gib,
            per_gpu_by_estimate=by_estimate,
            per_gpu_by_measurement=by_measure,
        ),
    )
