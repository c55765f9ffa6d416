"""The fast path of training: which speed switches apply on a device, and what they do.

Every caller that trains or times a training step (``train_instance``, ``perf``, ``doctor``, the
search's step timing) resolves its switches here, from a :class:`TrainConfig` and the device, so
that "bf16 on CUDA, fp32 on the CPU" is decided in one place:

- ``amp``: bf16 autocast (``auto``: on CUDA);
- ``channels_last``: channels_last_3d weights and inputs (``auto``: on CUDA);
- ``conv2d_slices``: 1xkxk convolutions as 2D convolutions over z slices
  (``architectures.layers.SliceConv3d``);
- ``compile``: ``torch.compile`` of the model the step runs;
- ``cudnn_benchmark``: cuDNN's algorithm autotuning (CUDA);
- ``cuda_graphs``: the whole step captured once as a CUDA graph and replayed
  (:mod:`benchmark.training.graphs`);
- fused Adam: one kernel for every parameter (``make_optimizer`` asks for it on CPU and CUDA).

:meth:`FastPath.eager` gives the reference modes that ``perf`` and ``doctor`` measure against:
plain eager fp32 (every switch off, torch's default Adam) and eager bf16.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch

from benchmark.training import step as _step
from benchmark.training.config import TrainConfig

__all__ = ["SWITCHES", "FastPath", "StepFn", "configure_backends", "make_step"]

#: The switches a mode name can add (``+name``) or remove (``-name``), see :meth:`FastPath.variant`.
SWITCHES = (
    "channels_last",
    "conv2d_slices",
    "compile",
    "cudnn_benchmark",
    "cuda_graphs",
    "fused_adam",
)

StepFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class FastPath:
    """The speed switches of one training run on one device.

    Attributes:
        device: where training runs.
        amp_dtype: autocast dtype (``torch.bfloat16``) or None for fp32.
        channels_last: channels_last_3d weights and inputs.
        conv2d_slices: 1xkxk convolutions as 2D convolutions over z slices.
        compile: ``torch.compile`` the model of the step.
        cudnn_benchmark: cuDNN autotuning (CUDA only).
        cuda_graphs: capture and replay the whole step (CUDA only).
        fused_adam: Adam as one fused kernel (False: torch's default Adam).
    """

    device: torch.device
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    conv2d_slices: bool = False
    compile: bool = False
    cudnn_benchmark: bool = False
    cuda_graphs: bool = False
    fused_adam: bool = False

    @classmethod
    def from_config(cls, config: TrainConfig, device: torch.device) -> FastPath:
        """The switches ``config`` asks for on ``device`` (``auto`` resolved; CUDA-only ones off
        elsewhere)."""
        cuda = device.type == "cuda"
        bf16 = config.amp == "bf16" or (config.amp == "auto" and cuda)
        return cls(
            device=device,
            amp_dtype=torch.bfloat16 if bf16 else None,
            channels_last=config.channels_last == "on" or (config.channels_last == "auto" and cuda),
            conv2d_slices=config.conv2d_slices,
            compile=config.compile,
            cudnn_benchmark=cuda and config.cudnn_benchmark,
            cuda_graphs=cuda and config.cuda_graphs,
            fused_adam=device.type in ("cuda", "cpu"),
        )

    @classmethod
    def eager(cls, device: torch.device, amp_dtype: torch.dtype | None = None) -> FastPath:
        """Plain eager mode: every switch off, torch's default Adam; optionally bf16 autocast."""
        return cls(device=device, amp_dtype=amp_dtype)

    def variant(self, **switches: bool) -> FastPath:
        """A copy with some switches changed (CUDA-only ones stay off on other devices)."""
        unknown = sorted(set(switches) - set(SWITCHES))
        if unknown:
            raise ValueError(
                f"unknown fast-path switch(es) {unknown}; choose from {list(SWITCHES)}"
            )
        if self.device.type != "cuda":
            switches = {
                k: v and k not in ("cudnn_benchmark", "cuda_graphs") for k, v in switches.items()
            }
        return dataclasses.replace(self, **switches)

    def describe(self) -> str:
        """``bf16, channels_last_3d, fused Adam, ...``: the switches that are on."""
        parts = ["bf16" if self.amp_dtype == torch.bfloat16 else "fp32"]
        parts += [
            text
            for on, text in (
                (self.channels_last, "channels_last_3d"),
                (self.conv2d_slices, "2D slice convs"),
                (self.fused_adam, "fused Adam"),
                (self.cudnn_benchmark, "cudnn.benchmark"),
                (self.compile, "compile"),
                (self.cuda_graphs, "CUDA graphs"),
            )
            if on
        ]
        return ", ".join(parts)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The step's autocast context (without autocast's weight cache under CUDA graphs, which
        a captured graph must not keep)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        if self.cuda_graphs:
            return torch.autocast(self.device.type, dtype=self.amp_dtype, cache_enabled=False)
        return _step.autocast_for(self.device, self.amp_dtype)

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """Applies the model-side switches in place (memory format, 2D slice convolutions)."""
        from architectures.layers import set_conv2d_slices, to_channels_last

        if self.channels_last:
            to_channels_last(model)
        set_conv2d_slices(model, self.conv2d_slices)
        return model

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """A batch of windows ``(batch, 1, z, x, y)`` in the step's memory format."""
        return x.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else x

    def configure_optimizer(self, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        """Fused or torch's default Adam, per parameter group (read at every ``step``)."""
        for group in optimizer.param_groups:
            if "fused" in group:  # None: torch decides (foreach on CUDA, a loop on the CPU)
                group["fused"] = True if self.fused_adam else None
        return optimizer


def configure_backends(fast: FastPath) -> None:
    """Process-wide backend settings of ``fast`` (cuDNN autotuning; a no-op off CUDA)."""
    if fast.device.type == "cuda":
        torch.backends.cudnn.benchmark = fast.cudnn_benchmark


def make_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    fast: FastPath,
    objective: Callable[..., torch.Tensor],
) -> StepFn:
    """The training step ``(image, labels, weights) -> detached loss`` under ``fast``.

    ``model`` must already be prepared (:meth:`FastPath.prepare`) and ``optimizer`` loaded (a
    resumed state): under CUDA graphs the first call captures the step with that state.
    ``objective`` is the loss (``benchmark.training.loss.Objective``). The step never waits for
    the device.
    """
    fast.configure_optimizer(optimizer)
    step_model = torch.compile(model) if fast.compile else model
    autocast = fast.autocast()

    def eager(image: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return _step.train_step(step_model, optimizer, image, labels, weights, objective, autocast)

    if not fast.cuda_graphs:
        return eager
    from benchmark.training.graphs import GraphedStep

    return GraphedStep(eager, model, optimizer)
