"""The training loss: the paper's Eq. 1 (weighted cross-entropy of the final and the auxiliary 2D
output) and its L2 terms."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["instance_loss", "l2_penalty", "weighted_cross_entropy"]


def weighted_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """``(1/N) sum_v W(v) * CE(v)`` over a batch of windows; logits (b, c, z, x, y)."""
    ce = F.cross_entropy(logits.float(), labels.long(), reduction="none")
    return (ce * weights).mean()


def instance_loss(
    outputs: dict[str, torch.Tensor], labels: torch.Tensor, weights: torch.Tensor, c_2d: float
) -> torch.Tensor:
    """Paper Eq. 1 without the L2 terms (applied as weight decay): the final output's weighted CE
    plus ``c_2d`` times the auxiliary 2D output's, when the net has one."""
    loss = weighted_cross_entropy(outputs["logits"], labels, weights)
    if c_2d and "logits_2d" in outputs:
        loss = loss + c_2d * weighted_cross_entropy(outputs["logits_2d"], labels, weights)
    return loss


def l2_penalty(model: torch.nn.Module, l2: dict[str, float]) -> float:
    """The L2 terms of Eq. 1 (for reporting; training applies them as weight decay)."""
    groups = model.parameter_groups()  # type: ignore[operator]
    with torch.no_grad():
        return float(
            sum(
                l2.get(g, 0.0) * sum(p.float().pow(2).sum() for p in ps)
                for g, ps in groups.items()
                if ps
            )
        )
