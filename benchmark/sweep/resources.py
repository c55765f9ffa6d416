"""Resources per trial: the GPU memory one training instance needs and the GPU fraction that
packs as many instances per GPU as fit and, once ``python -m benchmark doctor`` has measured it on
this GPU model, as many as raise the throughput.

Without MPS, processes sharing a GPU time-slice it: a second instance helps only as far as one
instance leaves the GPU idle (launch gaps, host work). ``doctor`` measures the total steps/s of 1,
2 and 4 instances per GPU and records the smallest count within 5 % of the best in
:func:`packing_record_path` (per GPU model); :func:`default_gpus_per_trial` then packs no more.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "best_packing",
    "default_gpus_per_trial",
    "estimate_instance_memory_gib",
    "gpus_per_trial_for",
    "measured_instances_per_gpu",
    "packing_record_path",
    "record_packing",
]


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


def default_gpus_per_trial(
    instance_gib: float,
    gpu_gib: float,
    max_per_gpu: int = 8,
    gpu_name: str | None = None,
) -> float:
    """Fraction of a GPU per trial that packs as many instances as memory allows (at most
    ``max_per_gpu``), and no more than ``doctor`` measured to pay on this GPU model.

    Args:
        gpu_name: the GPU model whose measured packing applies; default: this machine's first
            CUDA device, if any.
    """
    fits = max(1, min(max_per_gpu, int((gpu_gib * 0.85) // max(instance_gib, 0.1))))
    measured = measured_instances_per_gpu(gpu_name or _local_gpu_name())
    if measured is not None:
        fits = max(1, min(fits, measured))
    return 1.0 / fits


def gpus_per_trial_for(plans: Sequence[Any], data_voxels: int, scale: float = 1.0) -> float:
    """The default GPU fraction per trial for instances trained under ``plans``
    (``benchmark.training.planner.TrainingPlan``) on a training volume of ``data_voxels``: sized
    for the most demanding plan times ``scale`` (a search sizes for candidates larger than its
    base), on this machine's first GPU (16 GiB assumed when the driver sees none)."""
    import torch

    need = scale * max(
        estimate_instance_memory_gib(
            p.architecture, p.window, p.config.width, p.arch_options, data_voxels
        )
        for p in plans
    )
    gpu_gib = (
        torch.cuda.get_device_properties(0).total_memory / 2**30
        if torch.cuda.is_available()
        else 16.0
    )
    return default_gpus_per_trial(need, gpu_gib)


def _local_gpu_name() -> str | None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def packing_record_path() -> Path:
    """Where measured packings live: ``$DENSECELL_PACKING_FILE``, else
    ``$XDG_CACHE_HOME/densecell-bench/packing.json`` (``~/.cache`` by default)."""
    explicit = os.environ.get("DENSECELL_PACKING_FILE")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "densecell-bench" / "packing.json"


def _read_records(path: Path) -> dict[str, Any]:
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return records if isinstance(records, dict) else {}


def measured_instances_per_gpu(gpu_name: str | None, path: Path | None = None) -> int | None:
    """The instances per GPU ``doctor`` recorded for ``gpu_name``, or None."""
    if not gpu_name:
        return None
    entry = _read_records(path or packing_record_path()).get(gpu_name)
    try:
        return max(1, int(entry["instances"])) if entry else None
    except (KeyError, TypeError, ValueError):
        return None


def best_packing(throughput: Mapping[int, float], tolerance: float = 0.05) -> int:
    """The smallest instance count whose total steps/s is within ``tolerance`` of the best."""
    if not throughput:
        raise ValueError("no packing measured")
    best = max(throughput.values())
    return min(k for k, v in throughput.items() if v >= (1 - tolerance) * best)


def record_packing(
    gpu_name: str, instances: int, details: Mapping[str, Any], path: Path | None = None
) -> Path:
    """Records ``instances`` per GPU for ``gpu_name`` (with what was measured) for
    :func:`default_gpus_per_trial`; returns the file."""
    from analysis.files import atomic_output

    path = path or packing_record_path()
    records = _read_records(path)
    records[gpu_name] = dict(details, instances=int(instances))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(records, indent=2, sort_keys=True))
    return path
