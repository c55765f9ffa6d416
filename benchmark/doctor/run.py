"""``run_doctor``: the environment, then on each kind of device the checks of this package."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from benchmark.data.volumes import Dataset
from benchmark.doctor.environment import environment_facts, ray_gpus
from benchmark.doctor.report import Check, DoctorReport, Section
from benchmark.doctor.settings import DoctorSettings, preset
from benchmark.training.perf import error_line

__all__ = ["run_doctor"]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _devices(env: dict) -> list[str]:
    """One CUDA device per GPU model, else the CPU."""
    seen: dict[str, str] = {}
    for g in env["gpus"]:
        seen.setdefault(g["name"], f"cuda:{g['index']}")
    return list(seen.values()) or ["cpu"]


def _busy_cpu_threads(env: dict, cuda: bool) -> int | None:
    """On a CPU-only machine busier than its CPU count: sets torch to one thread and returns the
    thread count to restore; else None."""
    import torch

    load, cpus = env.get("load"), env.get("cpus") or 1
    threads = torch.get_num_threads()
    if cuda or load is None or load <= cpus or threads == 1:
        return None
    torch.set_num_threads(1)
    return threads


def _guarded(
    group: str, name: str, fn: Callable[[], list[Check]], log: Callable[[str], None]
) -> list[Check]:
    """The checks of ``fn``, or one FAIL naming the error (a check that crashes has failed)."""
    started = time.perf_counter()
    try:
        return fn()
    except Exception as exc:
        return [Check(group, name, "FAIL", f"error: {error_line(exc)}")]
    finally:
        log(f"  {group}: {time.perf_counter() - started:.1f} s")


def _plan(settings: DoctorSettings, device: str, **extra):
    from benchmark.training.planner import plan_training

    overrides = dict(settings.train_overrides, device=device, **extra)
    return plan_training(settings.arch, settings.profile, train_overrides=overrides)


def _load_dataset(plan) -> Dataset:
    from benchmark.data.spec import load_data
    from benchmark.training.planner import plan_data

    return load_data(plan_data(None, [plan]))


def run_doctor(
    quick: bool = False,
    *,
    settings: DoctorSettings | None = None,
    dataset: Dataset | None = None,
    log: Callable[[str], None] = _stderr,
) -> DoctorReport:
    """Runs every check that this machine allows.

    Args:
        quick: the shorter settings (``doctor --quick``).
        settings: sizes and tolerances for every device (default: the preset of each device).
        dataset: the data of the correctness and memory checks (default: the built-in phantom
            at the settings' size).
        log: progress lines.

    Returns:
        The report; ``report.exit_code`` is 1 when a correctness check failed.
    """
    started = time.perf_counter()
    env = environment_facts()
    report = DoctorReport(env)
    devices = _devices(env)
    cuda = devices[0] != "cpu"
    ray_started = False
    if cuda and env["ray"] is not None:
        try:
            from benchmark.sweep.ray_session import connect_ray

            ray_started = connect_ray(None)
            env["ray_gpus"] = ray_gpus()
        except Exception as exc:
            report.notes.append(f"Ray could not start: {error_line(exc)}")
    threads = _busy_cpu_threads(env, cuda)
    if threads is not None:
        report.notes.append(
            f"load average {env['load']:g} on {env['cpus']} CPUs: the CPU subset ran torch on one "
            f"thread (of {threads}); with competing processes, multi-threaded kernels spend most "
            "of their time waiting for descheduled threads (Ray trials run one thread each anyway)"
        )
    try:
        for device in devices:
            s = settings or preset("cuda" if device.startswith("cuda") else "cpu", quick)
            report.sections.append(_section(device, s, dataset, env, log))
    finally:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        if ray_started:
            import ray

            ray.shutdown()
    if not cuda:
        report.notes.append(
            "no CUDA device: the GPU checks (bf16, torch.compile and CUDA-graph speed, host "
            "syncs, memory against the packing estimate, packing through Ray) were skipped; the "
            "CPU subset ran at the quick profile's width and window"
        )
    report.wall_s = time.perf_counter() - started
    return report


def _section(device, s: DoctorSettings, dataset, env, log) -> Section:
    from benchmark.doctor.correctness import correctness_checks
    from benchmark.doctor.inference import inference_checks
    from benchmark.doctor.memory import memory_check
    from benchmark.doctor.packing import packing_checks
    from benchmark.doctor.speed import speed_checks
    from benchmark.training.device import prepare_data, resolve_device

    cuda = device.startswith("cuda")
    plan = _plan(s, device)
    c = plan.config
    section = Section(
        device,
        f"{s.arch} at window {plan.window}, width {c.width:g}, batch {c.batch_size} "
        f"(profile {c.profile})",
    )
    log(f"doctor on {device}: {section.setting}")
    checks = section.checks
    ds = dataset if dataset is not None else _load_dataset(plan)
    graph_plan = _plan(s, device, adam_eps_hat=False) if cuda and s.graph_steps else None

    def correctness() -> list[Check]:
        data = prepare_data(ds, plan.config, resolve_device(device))
        return correctness_checks(plan, data, s, log, graph_plan)

    checks += _guarded("correctness", "run", correctness, log)
    checks += _guarded("speed", "run", lambda: speed_checks(plan, s, ds.n_classes, log), log)
    memory_plan = _plan(s, device, max_steps=s.memory_steps, save_probabilities=False)
    checks += _guarded("memory", "per instance", lambda: [memory_check(memory_plan, ds, log)], log)
    if not cuda:
        checks.append(Check("packing", "Ray fractional GPUs", "SKIP", "CUDA only"))
    elif env["ray"] is None:
        checks.append(Check("packing", "Ray fractional GPUs", "SKIP", "ray is not installed"))
    elif not env["ray_gpus"]:
        checks.append(Check("packing", "Ray fractional GPUs", "SKIP", "Ray sees no GPU"))
    elif not s.packing:
        checks.append(Check("packing", "Ray fractional GPUs", "SKIP", "not asked for"))
    else:
        gpu = next(g["name"] for g in env["gpus"] if f"cuda:{g['index']}" == device)
        checks += _guarded(
            "packing", "run", lambda: packing_checks(plan, s, ds.n_classes, gpu, log), log
        )
    checks += _guarded("inference", "run", lambda: inference_checks(plan, s, device, log), log)
    return section
