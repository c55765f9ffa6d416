"""Training configuration and the ``paper`` / ``quick`` / ``auto`` profiles.

``paper`` is the recipe of Guay et al. (2020) (see ``PAPER_SPEC.md``, "Training"): (5,300,300)
windows with corner spacing (2,100,100), 40 epochs, Adam(1e-3, 1 - 10^-1.5, 1 - 10^-2.1, 1e-7) with
the learning rate multiplied by 0.75 every 10^3.4 steps, c_2D = 0.33, L2 10^-4.7 / 10^-5 / 10^-9 on
the 2D module / 3D module / predictors, per-voxel weights W = 0.01 + class balance + edge term,
reflections, brightness +-12 %, contrast +-20 %, one elastic field per epoch, early stop below
MIoU 0.3 after 10 epochs.

``quick`` runs the same code paths at a small width on small windows and volumes for a few hundred
steps, so that one instance takes seconds on one CPU core. ``auto`` is ``paper`` on a CUDA device
and ``quick`` otherwise, and says which it chose and why.

Choices where the paper is vague (each a field below):
- The decay is a staircase (``lr_staircase=True``): "lr multiplied by 0.75 every 10^3.4 steps".
- Brightness and contrast act on the normalized window: ``x' = (x - mean) * c + mean + b`` with
  ``c ~ U(1 - 0.2, 1 + 0.2)`` and ``b ~ U(-0.12, 0.12)`` (in units of the volume's sd).
- Elastic field: the paper's "(20,20,2) Gaussian values, mean 20, sd 0.6" (pixels) is taken
  literally as the default (``elastic_mean``, ``elastic_sd``, ``elastic_grid``); a mean of 20 px is
  mostly a translation, so set ``elastic_mean=0, elastic_sd=...`` for a classic elastic warp.
- Evaluation happens ``evals_per_epoch`` times per epoch (2 in ``paper``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AMP_CHOICES", "CHANNELS_LAST_CHOICES", "INIT_CHOICES", "PROFILES", "TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines how one instance is trained (besides architecture, seed and data).

    Windows are (z, x, y). ``window=None`` means the architecture's default window (quick profile:
    its quick window).
    """

    profile: str = "paper"
    window: tuple[int, int, int] | None = None
    width: float = 1.0
    spacing: tuple[int, int, int] = (2, 100, 100)
    epochs: float = 40.0
    max_steps: int | None = None
    batch_size: int = 1
    evals_per_epoch: float = 2.0
    # Initial weights: "xavier" (TensorFlow's default) or "he"; see architectures.layers.init_weights.
    init: str = "xavier"
    # Optimizer (paper: Adam, lr 1e-3, beta1 = 1 - 10^-1.5, beta2 = 1 - 10^-2.1, eps 1e-7).
    lr: float = 1e-3
    beta1: float = 1 - 10**-1.5
    beta2: float = 1 - 10**-2.1
    eps: float = 1e-7
    lr_decay: float = 0.75
    lr_decay_steps: float = 10**3.4
    lr_staircase: bool = True
    lr_warmup_steps: int = 0
    # Loss: c_2D weights the auxiliary 2D term; L2 (sum of squares) per parameter group.
    c_2d: float = 0.33
    l2: dict[str, float] = field(
        default_factory=lambda: {"2d": 10**-4.7, "3d": 1e-5, "predictors": 1e-9}
    )
    # Per-voxel weights W = floor + class balance + edge term (see benchmark.weights).
    weight_floor: float = 0.01
    class_balance: bool = True
    # W_cb proportional to N_class^-class_balance_power (1 = the paper's 1/N).
    class_balance_power: float = 1.0
    edge_sigmas: tuple[float, ...] = (2.0, 6.0)
    edge_scales: tuple[float, ...] = (1.0, 1.0)
    edge_threshold: float = 0.75
    # Augmentation.
    reflect: bool = True
    brightness: float = 0.12
    contrast: float = 0.20
    elastic: bool = True
    elastic_grid: tuple[int, int] = (20, 20)
    elastic_mean: float = 20.0
    elastic_sd: float = 0.6
    # Early stop: an instance whose best eval MIoU(all) is below min_miou after this many epochs.
    early_stop_miou: float = 0.3
    early_stop_epochs: float = 10.0
    # Inference used for evaluation: overlap between neighbouring output tiles (fraction).
    eval_overlap: float = 0.0
    # Tiles per forward pass in evaluation (4 is ~4x faster than 1 on a CPU, and fast on GPUs).
    eval_batch_size: int = 4
    # Speed: "auto" = bf16 autocast + channels_last_3d on CUDA, fp32 contiguous on CPU.
    device: str = "auto"
    amp: str = "auto"
    channels_last: str = "auto"
    compile: bool = False
    threads: int | None = None
    # Keep the best checkpoint's class probabilities on eval and test (for ensembles).
    save_probabilities: bool = True

    def __post_init__(self) -> None:
        # Every value is checked (and coerced: "no" -> False, [5, 32, 32] -> (5, 32, 32)) when a
        # config is made, so a bad option fails before any work starts, with its name.
        hints = _field_types()
        for f in dataclasses.fields(self):
            value = _coerce(f.name, getattr(self, f.name), hints[f.name])
            rule = _RULES.get(f.name)
            if rule is not None and value is not None:
                check, text = rule
                if not check(value):
                    raise ValueError(f"training option {f.name} {text}, got {value!r}")
            object.__setattr__(self, f.name, value)
        if len(self.edge_scales) != len(self.edge_sigmas):
            raise ValueError(
                f"training options edge_sigmas {self.edge_sigmas} and edge_scales "
                f"{self.edge_scales} need the same length"
            )

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes``, checked; unknown names raise ValueError listing the fields."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; options are {sorted(names)}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The inverse of :meth:`to_dict` (JSON lists become tuples); unknown keys are errors."""
        return cls().replace(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def lr_at(self, step: int) -> float:
        """Learning rate after ``step`` optimizer steps."""
        exponent = step / self.lr_decay_steps
        if self.lr_staircase:
            exponent = math.floor(exponent)
        warmup = min(1.0, (step + 1) / self.lr_warmup_steps) if self.lr_warmup_steps else 1.0
        return self.lr * warmup * self.lr_decay**exponent


# ---------------------------------------------------------------------------------- checks
PROFILE_NAMES = ("paper", "quick")
INIT_CHOICES = ("xavier", "he")
AMP_CHOICES = ("auto", "bf16", "off")
CHANNELS_LAST_CHOICES = ("auto", "on", "off")
_TRUE = ("true", "yes", "1", "on")
_FALSE = ("false", "no", "0", "off")


def _positive(v: float) -> bool:
    return math.isfinite(v) and v > 0


def _non_negative(v: float) -> bool:
    return math.isfinite(v) and v >= 0


def _fraction(v: float) -> bool:  # [0, 1)
    return 0 <= v < 1


def _all(check: Callable[[Any], bool]) -> Callable[[tuple], bool]:
    return lambda values: all(check(v) for v in values)


# field -> (check, what the value must be); types are checked from the annotations.
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "profile": (lambda v: v in PROFILE_NAMES, f"must be one of {PROFILE_NAMES}"),
    "window": (_all(lambda v: v >= 1), "must be three positive integers (z, x, y)"),
    "width": (_positive, "must be a positive number"),
    "spacing": (_all(lambda v: v >= 1), "must be three positive integers (z, x, y)"),
    "epochs": (_positive, "must be a positive number"),
    "max_steps": (
        lambda v: v >= 1,
        "must be a positive integer (leave it unset for the profile's full schedule)",
    ),
    "batch_size": (lambda v: v >= 1, "must be a positive integer"),
    "evals_per_epoch": (_positive, "must be a positive number"),
    "init": (lambda v: v in INIT_CHOICES, f"must be one of {INIT_CHOICES}"),
    "lr": (lambda v: 0 < v <= 1, "must be in (0, 1]"),
    "beta1": (_fraction, "must be in [0, 1)"),
    "beta2": (_fraction, "must be in [0, 1)"),
    "eps": (_positive, "must be a positive number"),
    "lr_decay": (lambda v: 0 < v <= 1, "must be in (0, 1]"),
    "lr_decay_steps": (_positive, "must be a positive number"),
    "lr_warmup_steps": (lambda v: v >= 0, "must be an integer >= 0"),
    "c_2d": (_non_negative, "must be a number >= 0"),
    "l2": (lambda d: all(_non_negative(v) for v in d.values()), "must map groups to numbers >= 0"),
    "weight_floor": (_non_negative, "must be a number >= 0"),
    "class_balance_power": (_non_negative, "must be a number >= 0"),
    "edge_sigmas": (_all(_positive), "must be positive numbers"),
    "edge_scales": (_all(_non_negative), "must be numbers >= 0"),
    "edge_threshold": (_non_negative, "must be a number >= 0"),
    "brightness": (_non_negative, "must be a number >= 0"),
    "contrast": (_fraction, "must be in [0, 1)"),
    "elastic_grid": (_all(lambda v: v >= 1), "must be two positive integers"),
    "elastic_mean": (math.isfinite, "must be a finite number"),
    "elastic_sd": (_non_negative, "must be a number >= 0"),
    "early_stop_miou": (lambda v: 0 <= v <= 1, "must be in [0, 1]"),
    "early_stop_epochs": (_non_negative, "must be a number >= 0"),
    "eval_overlap": (_fraction, "must be in [0, 1)"),
    "eval_batch_size": (lambda v: v >= 1, "must be a positive integer"),
    "device": (
        lambda v: v in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", v) is not None,
        "must be auto, cpu, cuda or cuda:N",
    ),
    "amp": (lambda v: v in AMP_CHOICES, f"must be one of {AMP_CHOICES}"),
    "channels_last": (
        lambda v: v in CHANNELS_LAST_CHOICES,
        f"must be one of {CHANNELS_LAST_CHOICES}",
    ),
    "threads": (lambda v: v >= 1, "must be a positive integer"),
}


_TYPES: dict[str, Any] = {}


def _field_types() -> dict[str, Any]:
    if not _TYPES:
        _TYPES.update(typing.get_type_hints(TrainConfig))
    return _TYPES


def _coerce(name: str, value: Any, kind: Any) -> Any:
    """``value`` as the annotated type ``kind``, or a ValueError naming the option."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (kind,) = [a for a in args if a is not type(None)]
        return _coerce(name, value, kind)
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"training option {name} takes true/false (yes/no, 1/0), got {value!r}")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"training option {name} takes an integer, got {value!r}")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"training option {name} takes an integer, got {value!r}")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"training option {name} takes a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"training option {name} takes a finite number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"training option {name} takes a string, got {value!r}")
        return value
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"training option {name} takes a list like [1, 2], got {value!r}")
        items = typing.get_args(kind)
        if len(items) == 2 and items[1] is Ellipsis:
            return tuple(_coerce(name, v, items[0]) for v in value)
        if len(value) != len(items):
            raise ValueError(f"training option {name} takes {len(items)} values, got {value!r}")
        return tuple(_coerce(name, v, t) for v, t in zip(value, items))
    if typing.get_origin(kind) is dict:
        if not isinstance(value, dict):
            raise ValueError(f"training option {name} takes a table like {{a = 1}}, got {value!r}")
        key_type, value_type = typing.get_args(kind)
        return {_coerce(name, k, key_type): _coerce(name, v, value_type) for k, v in value.items()}
    raise TypeError(f"no check for the type {kind!r} of training option {name}")


PAPER = TrainConfig()

# Quick: the same code paths at 1/8 of the channels on (5,32,32) windows of a small phantom, two
# windows per step (on the CPU, oneDNN's fast convolutions need a batch above 1), 180 steps with
# three evaluations: about 10 s per instance on one core. Sized for the CPU budget, not for
# accuracy: on the calibrated phantom the 2D-3D nets reach only the easy classes (background,
# cell) and the large organelles' beginnings in 180 steps; learning them well takes thousands.
QUICK = TrainConfig(
    profile="quick",
    window=(5, 32, 32),
    width=0.125,
    spacing=(2, 16, 16),
    epochs=1.0,
    max_steps=180,
    batch_size=2,
    evals_per_epoch=4.0,
    lr=3e-3,
    lr_warmup_steps=10,
    lr_decay_steps=60,
    elastic_mean=0.0,
    elastic_sd=2.0,
    early_stop_miou=0.1,
    early_stop_epochs=0.5,
    edge_sigmas=(1.0, 3.0),
    channels_last="on",
)

PROFILES = {"paper": PAPER, "quick": QUICK}
