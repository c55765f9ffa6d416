"""The worker side of a search: one seed of one candidate, trained and scored (a Ray task)."""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from typing import Any

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
    left alone. The timing is ``benchmark.training.perf``'s, as in ``perf`` and ``doctor``."""
    from benchmark.training.device import resolve_device
    from benchmark.training.fastpath import FastPath
    from benchmark.training.perf import time_step
    from benchmark.training.planner import TrainingPlan

    fast = FastPath.from_config(config, resolve_device(config.device))
    plan = TrainingPlan(arch, config, dict(options))
    timing = time_step(plan, fast, n_classes=n_classes, steps=steps, warmup=warmup, seed=seed)
    return timing.step_ms


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
