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
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PROFILES", "TrainConfig", "resolve_profile", "make_config"]


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

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes``; unknown names raise ValueError listing the fields."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; options are {sorted(names)}")
        for key in ("window", "spacing", "elastic_grid", "edge_sigmas", "edge_scales"):
            if key in changes and changes[key] is not None:
                changes[key] = tuple(changes[key])
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def lr_at(self, step: int) -> float:
        """Learning rate after ``step`` optimizer steps."""
        exponent = step / self.lr_decay_steps
        if self.lr_staircase:
            exponent = math.floor(exponent)
        warmup = min(1.0, (step + 1) / self.lr_warmup_steps) if self.lr_warmup_steps else 1.0
        return self.lr * warmup * self.lr_decay**exponent


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


def resolve_profile(profile: str, cuda_available: bool | None = None) -> tuple[str, str]:
    """Returns ``(profile, reason)``; ``auto`` becomes ``paper`` on CUDA and ``quick`` otherwise."""
    if profile not in (*PROFILES, "auto"):
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted([*PROFILES, 'auto'])}")
    if profile != "auto":
        return profile, f"profile {profile} (asked for)"
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if cuda_available:
        return "paper", "profile paper (auto: a CUDA device is available)"
    return "quick", "profile quick (auto: no CUDA device; the paper profile needs a GPU)"


def make_config(
    profile: str = "auto", arch_defaults: dict[str, Any] | None = None, **overrides: Any
) -> tuple[TrainConfig, str]:
    """Config for ``profile`` with the architecture's training defaults, then ``overrides``.

    Returns the config and a one-line description of the profile choice.
    """
    name, reason = resolve_profile(profile)
    config = PROFILES[name]
    merged = dict(arch_defaults or {})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return config.replace(**merged), reason
