"""The training loss as the original code computes it (leapmanlab ``examples``, example2
``GeneNet.model_fn``): weighted cross-entropy of the final and the auxiliary 2D output and the L2
terms.

With ``loss_reduction="sum"`` (the code) the cross-entropy terms are summed over the voxels of the
batch, and the L2 terms are added at TensorFlow's scale, ``lambda * sum(theta^2) / 2`` per group
(``l2_form="tf"``), times the fraction of non-zero raw weights in the batch's windows
(``l2_frac_nonzero``); the hyper-parameters of the paper (lambda, Adam's eps) are tuned to that
scale. ``loss_reduction="mean"`` with ``l2_form="paper"`` is Eq. 1 as printed: (1/N) sums and
``lambda * sum(theta^2)``; relative to the data, its L2 pull is 2N times stronger (N voxels per
window: 876,000 times at (5,296,296)).

The per-voxel weights W are the raw weights plus ``weight_floor`` (see
``benchmark.training.weights``). The L2 term is part of the loss (not Adam's weight decay), so the
reported loss is the whole objective, at the configured scale.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from benchmark.training.config import TrainConfig

__all__ = ["Objective", "data_loss", "l2_groups", "l2_term", "weighted_cross_entropy"]


def weighted_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, reduction: str = "sum"
) -> torch.Tensor:
    """``sum_v W(v) * CE(v)`` (``"sum"``) or its mean (``"mean"``) over a batch of windows.

    Args:
        logits: (b, c, z, x, y); labels, weights: (b, z, x, y).
    """
    ce = F.cross_entropy(logits.float(), labels.long(), reduction="none") * weights
    return ce.sum() if reduction == "sum" else ce.mean()


def data_loss(
    outputs: Mapping[str, torch.Tensor],
    labels: torch.Tensor,
    weights: torch.Tensor,
    c_2d: float,
    reduction: str = "sum",
) -> torch.Tensor:
    """The cross-entropy terms: the final output's plus ``c_2d`` times the auxiliary 2D
    output's, when the net has one. ``weights`` are the full W (floor included)."""
    loss = weighted_cross_entropy(outputs["logits"], labels, weights, reduction)
    if c_2d and "logits_2d" in outputs:
        loss = loss + c_2d * weighted_cross_entropy(
            outputs["logits_2d"], labels, weights, reduction
        )
    return loss


def l2_groups(
    model: torch.nn.Module, l2: Mapping[str, float], form: str = "tf"
) -> list[tuple[float, list[torch.nn.Parameter]]]:
    """``(coefficient, parameters)`` per group with a non-zero L2: the coefficient multiplies
    ``sum(theta^2)``, so it is ``lambda / 2`` for ``form="tf"`` and ``lambda`` for ``"paper"``.

    Raises:
        ValueError: the net has a parameter group that ``l2`` does not name.
    """
    groups = model.parameter_groups()  # type: ignore[operator]
    unknown = sorted(g for g, ps in groups.items() if ps and g not in l2)
    if unknown:
        raise ValueError(f"no L2 weight for parameter group(s) {unknown}; l2 has {sorted(l2)}")
    scale = 0.5 if form == "tf" else 1.0
    return [(scale * l2[g], list(ps)) for g, ps in groups.items() if ps and l2[g] > 0]


def l2_term(groups: list[tuple[float, list[torch.nn.Parameter]]]) -> torch.Tensor | None:
    """``sum_g coefficient_g * sum(theta^2)`` in float32; None without any group."""
    terms = [c * torch.stack([p.float().pow(2).sum() for p in ps]).sum() for c, ps in groups]
    return torch.stack(terms).sum() if terms else None


class Objective:
    """The loss one training step minimizes, for one net under one config.

    ``objective(outputs, labels, raw_weights)`` returns the data loss with the floor added to the
    raw weights, plus the L2 term (times the fraction of non-zero raw weights with
    ``l2_frac_nonzero``). ``objective.l2_only()`` gives the L2 term alone (for reports).
    """

    def __init__(self, model: torch.nn.Module, config: TrainConfig) -> None:
        self.c_2d = config.c_2d
        self.reduction = config.loss_reduction
        self.floor = config.weight_floor
        self.frac_nonzero = config.l2_frac_nonzero
        self.groups = l2_groups(model, config.l2, config.l2_form)

    def __call__(
        self, outputs: Mapping[str, torch.Tensor], labels: torch.Tensor, raw_weights: torch.Tensor
    ) -> torch.Tensor:
        loss = data_loss(outputs, labels, raw_weights + self.floor, self.c_2d, self.reduction)
        penalty = l2_term(self.groups)
        if penalty is None:
            return loss
        if self.frac_nonzero:
            penalty = penalty * (raw_weights != 0).float().mean()
        return loss + penalty

    def l2_only(self) -> float:
        with torch.no_grad():
            penalty = l2_term(self.groups)
        return 0.0 if penalty is None else float(penalty)
