"""The one place that decides how an architecture is trained.

Every command (``train``, ``run``, ``search``, ``perf``) and every driver calls :func:`plan_training`
to turn a profile name (``paper``, ``quick`` or ``auto``), the architecture's registered defaults,
a suite's overrides and the user's overrides into the resolved :class:`TrainConfig`, and
:func:`plan_data` to size the data for it. Nothing else resolves ``auto``.

Order of precedence, lowest first:

1. the profile (``benchmark.training.config.PROFILES``);
2. the architecture's ``train_defaults`` (``c_2d = 0`` for ``2d3d_no_multiloss``);
3. in the quick profile, the architecture's ``quick`` table (its CPU-sized ``width`` and
   ``window``, and what they imply, such as the window spacing);
4. the suite's ``[overrides.ARCH] train`` table;
5. the user's ``--option`` (and the flags that stand for options: ``--max-steps``, ``--window``,
   ``--width``, ``--device``, ``--compile``).

``auto`` is ``paper`` where the training runs has a GPU (this machine for ``train``, the Ray
cluster for ``run`` and ``search``) and ``quick`` otherwise, and the plan says which and why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from benchmark.data.spec import DataSpec
from benchmark.data.volumes import Dataset
from benchmark.training.config import PROFILES, TrainConfig

__all__ = [
    "TrainingPlan",
    "build_options",
    "check_arch_options",
    "plan_data",
    "plan_training",
    "resolve_profile",
]

@dataclass(frozen=True)
class TrainingPlan:
    """How one architecture is trained.

    Attributes:
        architecture: the registered name (a spec file's registered name, not its path).
        config: the resolved training configuration.
        arch_options: builder options on top of the architecture's defaults (suite and user).
        reason: one line saying which profile was chosen and why.
    """

    architecture: str
    config: TrainConfig
    arch_options: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def window(self) -> tuple[int, int, int]:
        """The input window (z, x, y): the config's, else the architecture's default."""
        from architectures import get_entry

        return tuple(self.config.window or get_entry(self.architecture).window)  # type: ignore[return-value]

    def build_options(self, n_classes: int) -> dict[str, Any]:
        """Keyword arguments of ``architectures.build`` for data with ``n_classes`` classes."""
        return build_options(self.architecture, self.config, n_classes, self.arch_options)

    def identity(self, dataset: Dataset) -> dict[str, Any]:
        """The configuration identity of this plan on ``dataset`` (``benchmark.records.identity``):
        the same one ``train_instance`` stores in its checkpoints."""
        from benchmark.data.spec import dataset_fingerprint
        from benchmark.records.identity import configuration_identity

        return configuration_identity(
            self.architecture,
            self.build_options(dataset.n_classes),
            self.config.identity_dict(),
            dataset_fingerprint(dataset),
        )


def build_options(
    arch: str, config: TrainConfig, n_classes: int, arch_options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Keyword arguments of ``architectures.build`` for ``arch`` trained under ``config`` on data
    with ``n_classes`` classes: width, channels, classes, what the window implies, then
    ``arch_options``."""
    from architectures import get_entry
    from architectures.summary import window_overrides

    window = tuple(config.window or get_entry(arch).window)
    options: dict[str, Any] = dict(width=config.width, in_channels=1, n_classes=n_classes)
    options.update(window_overrides(arch, window))
    options.update(arch_options or {})
    return options


def resolve_profile(profile: str, gpus: float, where: str = "this machine") -> tuple[str, str]:
    """``(profile, reason)``: ``auto`` becomes ``paper`` when ``gpus > 0``, else ``quick``.

    Args:
        profile: ``paper``, ``quick`` or ``auto``.
        gpus: GPUs where the instances will train.
        where: how to name that place in the reason (``this machine``, ``the Ray cluster``).
    """
    if profile not in (*PROFILES, "auto"):
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted([*PROFILES, 'auto'])}")
    if profile != "auto":
        return profile, f"profile {profile} (asked for)"
    if gpus > 0:
        return "paper", f"profile paper (auto: {where} has {gpus:g} GPU(s))"
    return "quick", f"profile quick (auto: {where} has no GPU; the paper profile needs one)"


def local_gpus() -> int:
    """CUDA devices torch sees on this machine."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def plan_training(
    arch: str,
    profile: str = "auto",
    *,
    gpus: float | None = None,
    where: str = "this machine",
    suite_train: Mapping[str, Any] | None = None,
    train_overrides: Mapping[str, Any] | None = None,
    arch_options: Mapping[str, Any] | None = None,
) -> TrainingPlan:
    """The resolved training plan of ``arch``; see the module docstring for the precedence.

    Args:
        arch: a registered name or an architecture spec ``.toml``.
        profile: ``paper``, ``quick`` or ``auto``.
        gpus: GPUs where training runs (default: this machine's).
        where: names that place in the reason.
        suite_train: the suite's training overrides for ``arch``.
        train_overrides: the user's training options (None values are ignored).
        arch_options: builder options (suite and user), checked against the architecture.

    Raises:
        ValueError: an unknown profile, an unknown or invalid training option (named), or a
            builder option the architecture does not accept.
    """
    from architectures import get_entry

    entry = get_entry(arch)
    name, reason = resolve_profile(profile, local_gpus() if gpus is None else gpus, where)
    config = PROFILES[name].replace(**entry.train_defaults)
    if name == "quick":
        config = config.replace(**entry.quick)
    config = config.replace(**dict(suite_train or {}))
    config = config.replace(**{k: v for k, v in (train_overrides or {}).items() if v is not None})
    options = dict(arch_options or {})
    check_arch_options(entry.name, options)
    return TrainingPlan(entry.name, config, options, reason)


def check_arch_options(arch: str, options: Mapping[str, Any]) -> None:
    """Raises ValueError naming a builder option ``arch`` does not accept or cannot build with.

    The net is built on the meta device (no memory, no weights), so this is cheap and catches bad
    values as well as unknown names before any worker starts.
    """
    if not options:
        return
    from architectures import build, get_entry

    entry = get_entry(arch)
    if entry.defaults:
        unknown = sorted(set(options) - set(entry.defaults))
        if unknown:
            raise ValueError(
                f"{arch} has no builder option(s) {unknown}; it accepts {sorted(entry.defaults)}"
            )
    try:
        build(arch, seed=None, device="meta", **options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"builder options {dict(options)} of {arch}: {exc}") from None


def plan_data(spec: DataSpec | None, plans: Iterable[TrainingPlan]) -> DataSpec:
    """The data for ``plans``: the built-in phantom when ``spec`` is None; a phantom sized for the
    plans' profile (``paper`` or ``quick``) and grown to their largest window; every path made
    absolute (workers may run in other folders).

    Raises:
        ValueError: plans of different profiles share a phantom (its size would fit only one).
    """
    plans = list(plans)
    spec = spec or DataSpec(kind="phantom")
    if spec.kind == "phantom":
        profiles = sorted({p.config.profile for p in plans})
        if len(profiles) > 1:
            raise ValueError(
                f"architectures planned with different profiles {profiles} cannot share a phantom"
            )
        if profiles and spec.profile is None:
            spec = dataclasses.replace(spec, profile=profiles[0])
        from benchmark.data.phantom import PROFILES as PHANTOM_SIZES

        # The original U-Net's valid convolutions need windows larger than the quick phantom.
        need = max((max(p.window[1:]) for p in plans), default=0)
        sizes = PHANTOM_SIZES.get(spec.profile, {})
        smallest = min(
            (min(sizes[s][1:]) for s in ("train", "eval", "test") if s in sizes), default=0
        )
        if need > max(smallest, spec.min_xy):
            spec = dataclasses.replace(spec, min_xy=int(need))
    return spec.absolute()
