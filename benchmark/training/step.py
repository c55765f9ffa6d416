"""One optimizer step and the optimizer it uses: Adam per parameter group, under autocast."""

from __future__ import annotations

import contextlib

import torch

from benchmark.training.config import TrainConfig
from benchmark.training.loss import instance_loss

__all__ = ["autocast_for", "make_optimizer", "train_step"]


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    image: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    c_2d: float,
    autocast: contextlib.AbstractContextManager,
) -> torch.Tensor:
    """One optimizer step on a batch of windows; returns the detached loss (no host sync)."""
    with autocast:
        outputs = model(image)
    loss = instance_loss(outputs, labels, weights, c_2d)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def autocast_for(
    device: torch.device, amp_dtype: torch.dtype | None
) -> contextlib.AbstractContextManager:
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


def make_optimizer(
    model: torch.nn.Module, config: TrainConfig, device: torch.device
) -> torch.optim.Adam:
    groups = model.parameter_groups()  # type: ignore[operator]
    unknown = sorted(set(groups) - set(config.l2))
    if unknown:
        raise ValueError(
            f"no L2 weight for parameter group(s) {unknown}; config.l2 has {sorted(config.l2)}"
        )
    param_groups = [
        {"params": ps, "weight_decay": 2.0 * config.l2[g]} for g, ps in groups.items() if ps
    ]
    return torch.optim.Adam(
        param_groups,
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        eps=config.eps,
        # One fused kernel over all parameters (CUDA and, since torch 2.4, CPU): 6x faster than
        # the per-tensor loop on the quick profile's many small tensors.
        fused=device.type in ("cuda", "cpu"),
    )
