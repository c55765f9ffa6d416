"""The Ray Tune trainable: one trial trains one instance through ``train_instance``.

It lives in the installed package because Ray workers import trainables by module. Everything it
needs arrives in the trial's config (plain data): the instance (architecture, seed), its training
config and builder options, the data spec and the plug-ins to import.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any


def instance_config(
    arch: str, seed: int, train: dict[str, Any], arch_options: dict[str, Any]
) -> dict[str, Any]:
    """The per-trial part of a sweep's parameter space."""
    return {"arch": arch, "seed": int(seed), "train": train, "arch_options": arch_options}


def instance_entries(plans: dict[str, Any], seeds: dict[str, list[int]]) -> list[dict[str, Any]]:
    """The parameter-space entries of ``seeds[arch]`` for each architecture's plan
    (``benchmark.training.planner.TrainingPlan``)."""
    return [
        instance_config(arch, seed, plan.config.to_dict(), plan.arch_options)
        for arch, plan in plans.items()
        for seed in seeds.get(arch, [])
    ]


def train_trial(config: dict[str, Any]) -> None:
    """Trains ``config["instance"]`` and reports every evaluation point with a checkpoint.

    A retried or resumed trial (``tune.get_checkpoint()`` is set) copies its last checkpoint into
    a fresh local directory and ``train_instance`` continues from it exactly.
    """
    import ray
    from ray import tune

    from architectures import load_plugin
    from benchmark.data.spec import DataSpec, load_data
    from benchmark.training.config import TrainConfig
    from benchmark.training.instance import train_instance

    for plugin in config.get("plugins", []):
        load_plugin(plugin)
    inst = config["instance"]
    dataset = load_data(DataSpec.from_dict(config["data"]))
    train_config = TrainConfig.from_dict(inst["train"])
    node_id = ray.get_runtime_context().get_node_id()
    workdir = Path(tempfile.mkdtemp(prefix=f"dcb-{inst['arch']}-{inst['seed']}-"))
    try:
        restored = tune.get_checkpoint()
        if restored is not None:
            with restored.as_directory() as ckpt:
                shutil.copytree(ckpt, workdir, dirs_exist_ok=True)

        def on_eval(point) -> bool:
            metrics = point.metrics(dataset.class_names)
            # work_dir lets the driver remove the folder of an attempt killed with it (kill -9
            # skips the ``finally`` below); a resumed attempt works in a new folder.
            metrics.update(
                architecture=inst["arch"], seed=inst["seed"], node_id=node_id, work_dir=str(workdir)
            )
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(workdir)))
            return False

        train_instance(
            inst["arch"],
            inst["seed"],
            dataset,
            train_config,
            arch_overrides=inst["arch_options"],
            on_eval=on_eval,
            checkpoint_dir=workdir,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
