"""densecell-bench's training, sweeps, search and inference; ``python -m benchmark`` is its CLI.

The public entry points are importable from here (lazily: ``import benchmark`` stays cheap and
does not import torch or Ray until one is used)::

    from benchmark import plan_training, plan_data, load_data, train_instance
    plan = plan_training("2d3d_3x3x3", "quick")
    dataset = load_data(plan_data(None, [plan]))
    result = train_instance(plan.architecture, 0, dataset, plan.config)

Folders: ``data/`` (volumes, readers, the phantom, ``DataSpec``), ``training/`` (profiles, the
planner, one instance), ``sweep/`` (seed sweeps on Ray Tune), ``search/`` (Optuna architecture
search), ``inference/`` (sliding windows, ensembles, segmentation), ``records/`` (the results
format: statuses, rows, identity, locks, folders), ``doctor/`` (environment and speed checks),
``cli/`` (the command line).
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it.
_ENTRY_POINTS = {
    "DataSpec": "benchmark.data.spec",
    "Dataset": "benchmark.data.volumes",
    "Volume": "benchmark.data.volumes",
    "load_data": "benchmark.data.spec",
    "load_volumes": "benchmark.data.loaders",
    "load_platelet_dir": "benchmark.data.loaders",
    "phantom_dataset": "benchmark.data.phantom",
    "TrainConfig": "benchmark.training.config",
    "PROFILES": "benchmark.training.config",
    "plan_training": "benchmark.training.planner",
    "plan_data": "benchmark.training.planner",
    "train_instance": "benchmark.training.instance",
    "load_checkpoint": "benchmark.training.checkpoints",
    "Suite": "benchmark.sweep.suites",
    "load_suite": "benchmark.sweep.suites",
    "run_sweep": "benchmark.sweep.driver",
    "SearchSettings": "benchmark.search.settings",
    "run_search": "benchmark.search.runner",
    "segment_volume": "benchmark.inference.segment",
    "run_ensembles": "benchmark.inference.ensembles",
    "predict_probabilities": "benchmark.inference.sliding_window",
    "analyze": "analysis.analyze",
    "build_report": "analysis.report",
}

__all__ = sorted(_ENTRY_POINTS)


def __getattr__(name: str) -> Any:
    if name not in _ENTRY_POINTS:
        raise AttributeError(f"module 'benchmark' has no attribute {name!r}")
    value = getattr(importlib.import_module(_ENTRY_POINTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_ENTRY_POINTS])
