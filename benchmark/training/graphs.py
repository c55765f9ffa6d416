"""Whole-step CUDA graphs: a training step (forward, backward, Adam) captured once and replayed.

A replay launches the step's hundreds of kernels as one graph, which removes the CPU's launch
overhead (the step of the paper's net at batch 1 launches ~600 kernels). Requirements, handled
here: static shapes and addresses (each call copies its batch into the captured input tensors; a
batch of another shape runs eagerly), a capturable optimizer whose learning rate is a device
tensor (so a scheduler's changes reach the graph: ``LRScheduler`` fills it in place), autocast
without its weight cache (``FastPath.autocast``), and no host synchronization inside the step.

Capturing needs a few warm-up steps, which change the weights and the optimizer state: both are
restored after the capture, so the graphed run trains exactly the steps the eager run would.

A graph keeps the optimizer's plain-number settings (``eps``, ``betas``, ``weight_decay``) of its
capture. Where a scheduler changes one between steps (``Schedule`` sets TensorFlow's per-step eps
with ``adam_eps_hat``), a step whose settings differ from the captured ones by more than
``SETTINGS_RTOL`` runs eagerly, and the step is captured again at most every
``RECAPTURE_EVERY`` steps. With the paper's beta2 the eps settles within that tolerance after
about 800 steps, so the rest of a 33,000-step run replays.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = [
    "GraphedStep",
    "make_capturable",
    "optimizer_settings",
    "restore_training_state",
    "settings_match",
    "snapshot_training_state",
]

_WARMUP_STEPS = 3
SETTINGS_RTOL = 1e-3
RECAPTURE_EVERY = 100


def make_capturable(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Capturable parameter groups with the learning rate as a tensor on ``device``.

    Raises:
        ValueError: the optimizer cannot be captured (no ``capturable`` option).
    """
    for group in optimizer.param_groups:
        if "capturable" not in group:
            raise ValueError(
                f"{type(optimizer).__name__} has no capturable mode; CUDA graphs need one "
                "(torch's Adam has)"
            )
        group["capturable"] = True
        lr = group["lr"]
        if not (isinstance(lr, torch.Tensor) and lr.device == device):
            group["lr"] = torch.tensor(float(lr), dtype=torch.float32, device=device)


def snapshot_training_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[int, dict[str, torch.Tensor]]]:
    """Copies of the model's parameters and buffers and of the optimizer's per-parameter state."""
    weights = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    state = {
        id(p): {k: v.detach().clone() for k, v in s.items() if isinstance(v, torch.Tensor)}
        for p, s in optimizer.state.items()
    }
    return weights, state


def optimizer_settings(optimizer: torch.optim.Optimizer) -> list[tuple[float, ...]]:
    """The plain-number settings of each parameter group (``eps``, ``betas``, ...; not ``lr``,
    which is a tensor under CUDA graphs), in a fixed order."""
    out = []
    for group in optimizer.param_groups:
        values: list[float] = []
        for key in sorted(group):
            if key in ("params", "lr", "initial_lr"):
                continue
            value = group[key]
            items = value if isinstance(value, tuple) else (value,)
            values += [
                float(v) for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)
            ]
        out.append(tuple(values))
    return out


def settings_match(
    a: list[tuple[float, ...]], b: list[tuple[float, ...]], rtol: float = SETTINGS_RTOL
) -> bool:
    """Whether two :func:`optimizer_settings` agree within ``rtol``."""
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b)):
        return False
    return all(abs(u - v) <= rtol * max(abs(u), abs(v)) for x, y in zip(a, b) for u, v in zip(x, y))


@torch.no_grad()
def restore_training_state(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    snapshot: tuple[dict[str, torch.Tensor], dict[int, dict[str, torch.Tensor]]],
) -> None:
    """Writes a :func:`snapshot_training_state` back in place (addresses are kept: a captured
    graph keeps using them). Optimizer state created since the snapshot is zeroed, which is
    Adam's initial state (step 0, zero moments)."""
    weights, state = snapshot
    for k, v in model.state_dict(keep_vars=True).items():
        v.detach().copy_(weights[k])
    for p, s in optimizer.state.items():
        saved = state.get(id(p))
        for k, v in s.items():
            if not isinstance(v, torch.Tensor):
                continue
            if saved is None:
                v.zero_()
            else:
                v.copy_(saved[k])


class GraphedStep:
    """``step(image, labels, weights) -> loss`` replayed from one CUDA graph.

    The first call captures: it runs ``_WARMUP_STEPS`` eager steps on a side stream (allocator
    and cuDNN warm-up, ``torch.compile``), restores the weights and the optimizer state, captures
    one step and replays it for the batch at hand. Later calls of the same shapes and optimizer
    settings copy their batch into the captured inputs and replay; other calls run ``eager`` (see
    the module docstring for when the step is captured again).

    Args:
        eager: the eager step (``make_step``'s), which the graph captures.
        model: the trained model (its state is snapshot and restored around the warm-up).
        optimizer: made capturable here (learning rate as a device tensor).
    """

    def __init__(
        self,
        eager: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
    ) -> None:
        self.device = next(model.parameters()).device
        if self.device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, the model is on {self.device}")
        self.eager = eager
        self.model = model
        self.optimizer = optimizer
        make_capturable(optimizer, self.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: tuple[torch.Tensor, ...] = ()
        self.loss: torch.Tensor | None = None
        self.settings: list[tuple[float, ...]] = []
        self.calls = 0
        self.captured_at = 0
        self.captures = 0
        self.replays = 0

    def _capture(self, batch: tuple[torch.Tensor, ...]) -> None:
        self.graph = None  # frees the previous graph's memory pool first
        self.inputs = tuple(t.detach().clone() for t in batch)
        snapshot = snapshot_training_state(self.model, self.optimizer)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(_WARMUP_STEPS):
                self.eager(*self.inputs)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.loss = self.eager(*self.inputs)
        restore_training_state(self.model, self.optimizer, snapshot)
        self.graph = graph
        self.settings = optimizer_settings(self.optimizer)
        self.captured_at = self.calls
        self.captures += 1

    def _same_shapes(self, batch: tuple[torch.Tensor, ...]) -> bool:
        return all(
            t.shape == s.shape and t.dtype == s.dtype and t.stride() == s.stride()
            for t, s in zip(batch, self.inputs)
        )

    def __call__(
        self, image: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        batch = (image, labels, weights)
        self.calls += 1
        if self.graph is None:
            self._capture(batch)
        elif not self._same_shapes(batch):
            return self.eager(*batch)
        elif not settings_match(self.settings, optimizer_settings(self.optimizer)):
            if self.calls - self.captured_at < RECAPTURE_EVERY:
                return self.eager(*batch)
            self._capture(batch)
        for static, value in zip(self.inputs, batch):
            static.copy_(value)
        self.graph.replay()  # type: ignore[union-attr]
        self.replays += 1
        return self.loss.clone()  # type: ignore[union-attr]
