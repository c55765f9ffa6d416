"""The worker side of a search: one seed of one candidate, trained and scored (a Ray task)."""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from benchmark.data.spec import DataSpec
from benchmark.training.config import TrainConfig

__all__ = ["measure_step_ms", "train_seed"]


def measure_step_ms(
    arch: str,
    options: Mapping[str, Any],
    config: TrainConfig,
    n_classes: int,
    *,
    steps: int = 5,
    warmup: int = 2,
    seed: int = 0,
) -> float:
    """Median wall time (ms) of one training step of ``arch`` with ``options`` under ``config``
    (its window, batch size, width and fast path), on random windows; the global random state is
    left alone."""
    import torch

    from architectures import build, get_entry, output_window
    from architectures.summary import window_overrides
    from benchmark.training.device import resolve_device
    from benchmark.training.step import autocast_for, make_optimizer, train_step

    device = resolve_device(config.device)
    window = tuple(config.window or get_entry(arch).window)
    build_options = dict(
        width=config.width, in_channels=1, n_classes=n_classes, **window_overrides(arch, window)
    )
    build_options.update(options)
    out = output_window(
        arch, window, **{k: v for k, v in build_options.items() if k != "in_channels"}
    )
    fast = device.type == "cuda"
    amp = torch.bfloat16 if (config.amp == "bf16" or (config.amp == "auto" and fast)) else None
    channels_last = config.channels_last == "on" or (config.channels_last == "auto" and fast)
    with torch.random.fork_rng(devices=[device] if fast else []):
        torch.manual_seed(seed)
        model = build(arch, seed=seed, device=device, **build_options)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn((config.batch_size, 1, *window), generator=g).to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
            x = x.contiguous(memory_format=torch.channels_last_3d)
        labels = torch.randint(0, n_classes, (config.batch_size, *out), generator=g).to(device)
        weights = torch.rand((config.batch_size, *out), generator=g).to(device)
        optimizer = make_optimizer(model, config, device)
        autocast = autocast_for(device, amp)
        model.train()
        times = []
        for i in range(warmup + steps):
            if fast:
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            loss = train_step(model, optimizer, x, labels, weights, config.c_2d, autocast)
            float(loss)  # waits for the step
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def train_seed(job: dict[str, Any]) -> dict[str, Any]:
    """Trains one seed of one candidate (a Ray task, or called inline) and returns its row.

    ``job`` holds plain data: ``number``, ``seed``, ``arch`` (the space's base), ``options``,
    ``train`` (a TrainConfig dict), ``data`` (a DataSpec dict), ``plugins``, ``checkpoint_dir``.
    A training error (divergence, an impossible configuration) is a result with
    ``status = "failed"``, not an exception, so Ray does not retry it.
    """
    from architectures import load_plugin
    from benchmark.data.spec import load_data
    from benchmark.training.instance import train_instance

    started = time.time()
    row: dict[str, Any] = {"number": int(job["number"]), "seed": int(job["seed"])}
    try:
        for plugin in job.get("plugins", []):
            load_plugin(plugin)
        dataset = load_data(DataSpec.from_dict(job["data"]))
        config = TrainConfig.from_dict(job["train"])
        result = train_instance(
            job["arch"],
            int(job["seed"]),
            dataset,
            config,
            arch_overrides=job["options"],
            checkpoint_dir=job.get("checkpoint_dir"),
        )
        row.update(result.row(dataset.class_names))
        row["step_ms"] = (
            measure_step_ms(job["arch"], job["options"], config, dataset.n_classes)
            if job.get("measure_step", True)
            else float("nan")
        )
        row["error"] = None
    except Exception as exc:  # a broken candidate is a finding, not a crash
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
    row.update(
        number=int(job["number"]),
        seed=int(job["seed"]),
        host=socket.gethostname(),
        started=started,
        ended=time.time(),
    )
    row.pop("architecture", None)
    return row
