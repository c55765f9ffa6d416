"""Training configuration and the ``paper`` / ``quick`` / ``auto`` profiles.

``paper`` is the recipe as the authors' code ran it (leapmanlab ``examples``, example2: that code
produced Table 1); where the paper's text says otherwise, the code wins and a field keeps the
text's reading as an option. ``docs/fidelity.md`` lists every difference with the file it comes
from. In short:

- Windows: (5,300,300) in, (5,296,296) out; output-window corners on a (2,100,100) grid, each
  drawn anew every epoch inside its bin (``window_jitter``), input windows reflect-padded at the
  volume's borders: 828 windows per epoch for the platelet volume; 40 epochs, batch 1.
- Loss at the code's scale (``loss_reduction="sum"``): ``sum W * CE(3D) + c_2D * sum W * CE(2D)``
  over the voxels of the batch, W = raw weights + floor 0.01, plus the fraction of non-zero raw
  weights in the window (``l2_frac_nonzero``) times TensorFlow's L2, ``lambda * sum(theta^2) / 2``
  per group (``l2_form="tf"``) over kernels and biases: lambda 10^-4.7 on the 2D module, 0 on the
  3D pyramid (the example overwrites the pyramid's settings, so its L2 is off), 10^-9 on the
  predictors. ``loss_reduction="mean"`` with ``l2_form="paper"`` is Eq. 1 as printed.
- Adam(1e-3, 1 - 10^-1.5, 1 - 10^-2.1, 1e-7) with TensorFlow's epsilon placement
  (``adam_eps_hat``); learning rate x 0.75 every 10^3.4 steps, staircase.
- Raw weights: class balance scaled to maximum 1 plus the diffusive edge term scaled to maximum
  25 (``benchmark.training.weights``), or a weight volume read from ``weights_file``.
- Augmentation: one elastic field per epoch for the whole volume (uniform(-1,1) on a grid of
  ``elastic_scale`` px, Gaussian-filtered with ``elastic_sigma`` cells, times ``elastic_alpha``
  px, cubic up-sampling, nearest-neighbour warp); per window brightness ``+- 0.12 x (max - min)``
  of the training volume, then contrast ``x 1 +- 0.2``; no reflections (the code's flip is a
  no-op; ``reflect=True`` turns them on).
- Early stop (``stop_check.py``): at an evaluation after 11 epochs (epoch index 10) an instance
  whose *current* eval MIoU(all) is below 0.3 stops (``early_stop_on="best"``: best so far).
- Evaluation ``evals_per_epoch`` times per epoch (2 in ``paper``).

``quick`` runs the same code paths at the same scale conventions at a small width on small
windows and volumes for a few hundred steps, so that one instance takes seconds on one CPU core.
``auto`` is ``paper`` on a CUDA device and ``quick`` otherwise, and says which it chose and why.
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

__all__ = [
    "OPERATIONAL_FIELDS",
    "AMP_CHOICES",
    "CHANNELS_LAST_CHOICES",
    "INIT_CHOICES",
    "PROFILES",
    "TrainConfig",
]


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
    # TensorFlow's Adam adds eps to sqrt(v) before the bias correction ("epsilon hat"); torch's
    # after. True applies eps the TensorFlow way (the original code); False is torch's Adam.
    adam_eps_hat: bool = True
    lr_decay: float = 0.75
    lr_decay_steps: float = 10**3.4
    lr_staircase: bool = True
    lr_warmup_steps: int = 0
    # Loss. "sum" over the voxels of the batch (the original code), "mean" = Eq. 1's 1/N.
    loss_reduction: str = "sum"
    # c_2D weights the auxiliary 2D term.
    c_2d: float = 0.33
    # L2 per parameter group (kernels and biases). The example's 3D pyramid has none: its
    # settings are overwritten in hybrid_gene_graph.py, leaving TensorFlow's default (off).
    l2: dict[str, float] = field(
        default_factory=lambda: {"2d": 10**-4.7, "3d": 0.0, "predictors": 1e-9}
    )
    # "tf": lambda * sum(theta^2) / 2 (tf l2_regularizer, the code); "paper": lambda * sum(theta^2).
    l2_form: str = "tf"
    # Multiply the L2 term by the fraction of non-zero raw weights in the window (the code).
    l2_frac_nonzero: bool = True
    # Per-voxel weights W = floor + raw, raw = class balance + edge term (benchmark.training.weights)
    # or the volume in weights_file (a TIF/NPY/... of the training volume's shape).
    weight_floor: float = 0.01
    weights_file: str | None = None
    class_balance: bool = True
    # W_cb proportional to N_class^-class_balance_power, scaled to maximum 1 (1 = the code's 1/N).
    class_balance_power: float = 1.0
    # Diffusive edge term: per class pair "S:T" (comma lists) or "each" (every class against
    # all others), 2D heat diffusion from S for edge_steps steps, thresholded, kept on T,
    # scaled to maximum edge_max; edge_symmetric adds the T:S pass. edge_pairs=() turns it off.
    edge_pairs: tuple[str, ...] = ("each",)
    edge_max: float = 25.0
    edge_steps: int = 50
    edge_diffuse: float = 0.2
    edge_decay: float = 0.98
    edge_threshold: float = 0.2
    edge_symmetric: bool = True
    # Training windows: output-window corners drawn inside their spacing bins every epoch.
    window_jitter: bool = True
    # Augmentation. The code's reflection is a no-op (np.flip's result is discarded).
    reflect: bool = False
    # Brightness shift: uniform in +- brightness x (max - min) of the training volume.
    brightness: float = 0.12
    # Contrast: the window times a factor uniform in 1 +- contrast.
    contrast: float = 0.20
    elastic: bool = True
    # Elastic field: uniform(-1, 1) on a grid of elastic_scale px, Gaussian-filtered with sigma
    # elastic_sigma grid cells, times elastic_alpha px, cubic up-sampling to the plane.
    elastic_scale: float = 40.0
    elastic_alpha: float = 20.0
    elastic_sigma: float = 0.6
    # How the image is warped: "nearest" (the code warps every volume with nearest neighbour)
    # or "bilinear"; labels and weights are always nearest.
    elastic_image: str = "nearest"
    # Early stop (stop_check.py): at an evaluation after early_stop_epochs epochs, stop when the
    # eval MIoU(all) is below early_stop_miou; "current" (the code) or "best" so far.
    early_stop_miou: float = 0.3
    early_stop_epochs: float = 11.0
    early_stop_on: str = "current"
    # Inference used for evaluation: overlap between neighbouring output tiles (fraction).
    eval_overlap: float = 0.0
    # Tiles per forward pass in evaluation (4 is ~4x faster than 1 on a CPU, and fast on GPUs).
    eval_batch_size: int = 4
    # Speed: "auto" = bf16 autocast + channels_last_3d on CUDA, fp32 contiguous on CPU.
    device: str = "auto"
    amp: str = "auto"
    channels_last: str = "auto"
    compile: bool = False
    # CUDA: cuDNN autotunes each convolution's algorithm on its first call (fixed window shapes).
    cudnn_benchmark: bool = True
    # CUDA: capture the whole training step (forward, backward, Adam) as one CUDA graph and replay
    # it; steps whose shapes differ from the first (a last, smaller batch) run eagerly.
    cuda_graphs: bool = False
    # Run the 1xkxk convolutions as 2D convolutions over the batch x z slices (same weights and
    # results up to float rounding); `python -m benchmark perf` measures whether it pays.
    conv2d_slices: bool = False
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

    def identity_dict(self) -> dict[str, Any]:
        """The fields that decide an instance's result (its identity, see
        ``benchmark.records.identity``): every field but :data:`OPERATIONAL_FIELDS`, which change
        how fast an instance trains, not what it computes (up to float rounding), so resuming
        with another value is allowed."""
        return {k: v for k, v in self.to_dict().items() if k not in OPERATIONAL_FIELDS}

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
LOSS_REDUCTIONS = ("sum", "mean")
L2_FORMS = ("tf", "paper")
ELASTIC_IMAGE_MODES = ("nearest", "bilinear")
EARLY_STOP_ON = ("current", "best")
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


def _one_of(choices: tuple[str, ...]) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in choices, f"must be one of {choices}")


def _edge_pair(text: str) -> bool:
    """``each`` or ``S:T`` with S and T comma lists of class ids (``2,3,4,5,6:1``)."""
    if text == "each":
        return True
    parts = text.split(":")
    return len(parts) == 2 and all(
        re.fullmatch(r"\s*\d+\s*(,\s*\d+\s*)*", part) is not None for part in parts
    )


def _existing_file(spec: str) -> bool:
    """A file (or a container with ``:name``, as the data readers take) that exists."""
    from benchmark.data.readers import split_spec

    return split_spec(spec)[0].exists()


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
    "loss_reduction": _one_of(LOSS_REDUCTIONS),
    "c_2d": (_non_negative, "must be a number >= 0"),
    "l2": (lambda d: all(_non_negative(v) for v in d.values()), "must map groups to numbers >= 0"),
    "l2_form": _one_of(L2_FORMS),
    "weight_floor": (_non_negative, "must be a number >= 0"),
    "weights_file": (_existing_file, "must name an existing file (a weight volume)"),
    "class_balance_power": (_non_negative, "must be a number >= 0"),
    "edge_pairs": (
        _all(_edge_pair),
        'must be "each" or class pairs "S:T" with comma lists, like "2,3:1"',
    ),
    "edge_max": (_positive, "must be a positive number"),
    "edge_steps": (lambda v: v >= 0, "must be an integer >= 0"),
    "edge_diffuse": (lambda v: 0 < v <= 1, "must be in (0, 1] (larger is unstable)"),
    "edge_decay": (lambda v: 0 < v <= 1, "must be in (0, 1]"),
    "edge_threshold": (_fraction, "must be in [0, 1)"),
    "brightness": (_non_negative, "must be a number >= 0"),
    "contrast": (_fraction, "must be in [0, 1)"),
    "elastic_scale": (lambda v: v >= 1, "must be a number >= 1 (pixels per grid cell)"),
    "elastic_alpha": (_non_negative, "must be a number >= 0"),
    "elastic_sigma": (_non_negative, "must be a number >= 0"),
    "elastic_image": _one_of(ELASTIC_IMAGE_MODES),
    "early_stop_miou": (lambda v: 0 <= v <= 1, "must be in [0, 1]"),
    "early_stop_epochs": (_non_negative, "must be a number >= 0"),
    "early_stop_on": _one_of(EARLY_STOP_ON),
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

# Quick: the same code paths at the same scale conventions (summed loss, TensorFlow L2 and
# epsilon, the code's weights, windows and augmentation) at 1/8 of the channels on (5,32,32)
# windows of a small phantom, two windows per step (on the CPU, oneDNN's fast convolutions need a
# batch above 1), 180 steps with three evaluations: about 10 s per instance on one core. The
# phantom's pixels are twice the paper's (20 nm), so the elastic field's grid and amplitude are
# halved in pixels (the same in nm). Sized for the CPU budget, not for accuracy: in 180 steps the
# 2D-3D nets learn only the easy classes (background, cell); see docs/quick-profile.md.
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
    elastic_scale=20.0,
    elastic_alpha=10.0,
    early_stop_miou=0.1,
    early_stop_epochs=0.5,
    channels_last="on",
)

PROFILES = {"paper": PAPER, "quick": QUICK}

#: Speed settings that leave the computation the same (up to float rounding): not part of an
#: instance's identity. Precision (``amp``), ``device`` and ``compile`` are.
OPERATIONAL_FIELDS = (
    "eval_batch_size",
    "cudnn_benchmark",
    "cuda_graphs",
    "conv2d_slices",
    "threads",
)
