"""The machine as ``doctor`` sees it: torch, CUDA, cuDNN, GPUs, bf16, Ray and its GPUs, MONAI."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from typing import Any

__all__ = ["environment_facts", "environment_lines", "package_version", "ray_gpus"]


def package_version(name: str) -> str | None:
    """The installed version of ``name``, or None (without importing it)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment_facts() -> dict[str, Any]:
    """Versions and devices; Ray's view of the GPUs is added by :func:`ray_gpus` when Ray runs."""
    import torch

    cuda = torch.cuda.is_available()
    gpus = []
    for i in range(torch.cuda.device_count() if cuda else 0):
        props = torch.cuda.get_device_properties(i)
        gpus.append(
            dict(
                index=i,
                name=props.name,
                memory_gib=round(props.total_memory / 2**30, 1),
                capability=f"{props.major}.{props.minor}",
                multiprocessors=props.multi_processor_count,
            )
        )
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:  # not on every platform
        load = None
    return dict(
        python=platform.python_version(),
        platform=platform.platform(),
        cpus=os.cpu_count(),
        load=load,
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        cuda=torch.version.cuda if cuda else None,
        cudnn=torch.backends.cudnn.version() if cuda else None,
        gpus=gpus,
        bf16=bool(cuda and torch.cuda.is_bf16_supported()),
        ray=package_version("ray"),
        ray_gpus=None,
        monai=package_version("monai"),
    )


def ray_gpus() -> float:
    """GPUs in the Ray cluster this process is connected to."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))


def environment_lines(env: dict[str, Any]) -> list[str]:
    """The environment as a few readable lines."""
    lines = [
        f"python {env['python']} on {env['platform']}, {env['cpus']} CPUs "
        f"(torch uses {env['torch_threads']} threads)",
    ]
    load, cpus = env.get("load"), env.get("cpus") or 1
    if load is not None and load > cpus:
        lines.append(
            f"load average {load:g} on {cpus} CPUs: other processes compete for the CPUs, so "
            "CPU timings are slow and noisy (multi-threaded kernels wait on descheduled threads)"
        )
    lines += [
        f"torch {env['torch']}, CUDA {env['cuda'] or '-'}, cuDNN {env['cudnn'] or '-'}",
    ]
    if env["gpus"]:
        for g in env["gpus"]:
            lines.append(
                f"GPU {g['index']}: {g['name']}, {g['memory_gib']} GiB, compute capability "
                f"{g['capability']}, {g['multiprocessors']} SMs"
            )
        lines.append(f"bf16: {'supported' if env['bf16'] else 'NOT supported'}")
    else:
        lines.append("GPUs: none (torch sees no CUDA device)")
    if env["ray"] is None:
        lines.append("ray: not installed (packing checks skipped; `run` and `search` need it)")
    elif env["ray_gpus"] is None:
        lines.append(f"ray {env['ray']} (not started: no GPU to check)")
    else:
        lines.append(f"ray {env['ray']}: sees {env['ray_gpus']:g} GPU(s)")
    lines.append(
        f"monai {env['monai']}" if env["monai"] else "monai: not installed (its comparison skipped)"
    )
    return lines
