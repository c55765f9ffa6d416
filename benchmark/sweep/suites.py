"""Suites: named sets of architectures with per-architecture overrides.

Built in: ``ablations`` (the 2D-3D net and its three ablations), ``baselines`` (the paper's five
baseline nets) and ``paper`` (both). A user suite is a TOML file::

    name = "my-suite"                       # default: the file's stem
    description = "found net vs the paper's"
    architectures = ["2d3d_3x3x3", "results/search/x/best-1.toml"]
    plugins = ["my_nets.py"]                # modules registering architectures (optional)
    profile = "quick"                       # optional default for --profile
    seeds = 26                              # optional default for --seeds (a count or a list)

    [data]                                  # optional default data: the CLI's data options with
    train_image = "train.tif"               # underscores (data, *_image, *_labels, org_classes,
                                            # n_classes, color_table, phantom_seed); paths are
                                            # relative to this file; CLI data options win
    train_labels = "train-labels.tif"
    eval_image = "eval.tif"
    eval_labels = "eval-labels.tif"

    [overrides."2d3d_3x3x3"]                # optional, per architecture
    train = { c_2d = 0.5 }                  # TrainConfig fields
    arch = { predictor_relu = false }       # builder options

An architecture's own training defaults (``c_2d = 0`` for ``2d3d_no_multiloss``) apply first,
then the suite's overrides.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmark.training.planner import TrainingPlan

__all__ = ["BUILTIN_SUITES", "Suite", "list_suites", "load_suite", "plan_suite"]


@dataclass(frozen=True)
class Suite:
    """A named set of architectures (registry names or spec files) and their overrides."""

    name: str
    architectures: tuple[str, ...]
    description: str = ""
    train_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    arch_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    plugins: tuple[str, ...] = ()
    profile: str | None = None
    seeds: tuple[int, ...] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    source: str = "built-in"

    def train_options(self, arch: str) -> dict[str, Any]:
        """The architecture's training defaults, then the suite's overrides for it."""
        from architectures import get_entry

        return dict(get_entry(arch).train_defaults, **self.train_overrides.get(arch, {}))


ABLATIONS = ("2d3d_3x3x3", "2d3d_no_3x3x3", "2d3d_no_multiloss", "2d3d_no_pyramid")
BASELINES = ("unet_original", "unet3d_thin", "unet3d_thick", "deeplab_drn", "deeplab_resnet101")

BUILTIN_SUITES = {
    "ablations": Suite(
        "ablations", ABLATIONS, "2D-3D+3x3x3 and its three ablations (paper Table 1 a/b)"
    ),
    "baselines": Suite("baselines", BASELINES, "the paper's baseline networks (Table 1 c)"),
    "paper": Suite("paper", ABLATIONS + BASELINES, "every network of the paper's Table 1"),
}


def plan_suite(
    suite: Suite, profile: str, overrides: dict[str, Any], gpus: float
) -> dict[str, TrainingPlan]:
    """Each architecture's training plan in ``suite``: the profile, the architecture's defaults,
    the suite's overrides for it, then the user's ``overrides`` (``benchmark.training.planner``);
    ``auto`` follows the GPUs of the Ray cluster."""
    from benchmark.training.planner import plan_training

    return {
        arch: plan_training(
            arch,
            profile,
            gpus=gpus,
            where="the Ray cluster",
            suite_train=suite.train_overrides.get(arch, {}),
            train_overrides=overrides,
            arch_options=suite.arch_overrides.get(arch, {}),
        )
        for arch in suite.architectures
    }


def list_suites() -> list[Suite]:
    return list(BUILTIN_SUITES.values())


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, int) and value > 0:
        return tuple(range(value))
    if isinstance(value, list) and value and all(isinstance(v, int) and v >= 0 for v in value):
        return tuple(value)
    raise ValueError(
        f"{where}: seeds must be a positive count or a list of non-negative ints, got {value!r}"
    )


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name or a user suite from a TOML file; architectures are checked."""
    from architectures import get_entry, load_plugin

    if name_or_path in BUILTIN_SUITES:
        return BUILTIN_SUITES[name_or_path]
    path = Path(name_or_path)
    if not path.suffix == ".toml":
        raise ValueError(
            f"unknown suite {name_or_path!r}; built-in suites are {sorted(BUILTIN_SUITES)}, or give a .toml file"
        )
    if not path.is_file():
        raise FileNotFoundError(f"suite file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"suite file {path}: invalid TOML: {exc}") from exc
    allowed = {
        "name",
        "description",
        "architectures",
        "plugins",
        "profile",
        "seeds",
        "data",
        "overrides",
    }
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"suite file {path}: unknown keys {unknown}; allowed: {sorted(allowed)}")
    archs = raw.get("architectures")
    if not isinstance(archs, list) or not archs or not all(isinstance(a, str) for a in archs):
        raise ValueError(
            f"suite file {path}: 'architectures' must be a non-empty list of names or spec files"
        )
    base = path.parent
    # Spec files and plug-in files are relative to the suite file.
    resolved = [
        str(base / a) if a.endswith(".toml") and not Path(a).is_absolute() else a for a in archs
    ]
    plugins = tuple(
        str(base / p) if p.endswith(".py") and not Path(p).is_absolute() else p
        for p in raw.get("plugins", [])
    )
    for plugin in plugins:
        load_plugin(plugin)
    names = []
    for arch in resolved:
        names.append(get_entry(arch).name if arch.endswith(".toml") else arch)
        get_entry(arch)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"suite file {path}: architectures {repeated} are listed more than once; each "
            "architecture is trained once per seed (overrides go in [overrides.NAME])"
        )
    train_over: dict[str, dict[str, Any]] = {}
    arch_over: dict[str, dict[str, Any]] = {}
    for arch, over in raw.get("overrides", {}).items():
        if arch not in names and arch not in archs:
            raise ValueError(
                f"suite file {path}: overrides for {arch!r}, which is not in its architectures {names}"
            )
        key = names[archs.index(arch)] if arch in archs else arch
        extra = sorted(set(over) - {"train", "arch"})
        if extra:
            raise ValueError(
                f"suite file {path}: overrides.{arch} has unknown keys {extra}; use 'train' and 'arch'"
            )
        train_over[key] = dict(over.get("train", {}))
        arch_over[key] = dict(over.get("arch", {}))
    # Spec-file architectures are run under their registered names; keep the files for workers.
    spec_plugins = tuple(a for a in resolved if a.endswith(".toml"))
    return Suite(
        name=raw.get("name", path.stem),
        architectures=tuple(names),
        description=raw.get("description", ""),
        train_overrides=train_over,
        arch_overrides=arch_over,
        plugins=plugins + spec_plugins,
        profile=raw.get("profile"),
        seeds=_seeds(raw["seeds"], str(path)) if "seeds" in raw else None,
        data=dict(raw.get("data", {})),
        source=str(path),
    )
