"""Shape, parameter and FLOP inspection of registered nets, without allocating weights.

Nets are built on PyTorch's meta device and run on a meta tensor, so a full-width (5,300,300)
summary costs milliseconds and no memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod
from typing import Any

import torch
from torch import nn

from architectures.layers import as_kernel3
from architectures.registry import build, get_entry

__all__ = [
    "LayerRow",
    "ModelSummary",
    "WindowError",
    "output_window",
    "summarize",
    "window_overrides",
]


class WindowError(ValueError):
    """A window the net cannot process (too small for its pooling, wrong size for a fixed head)."""


@dataclass(frozen=True)
class LayerRow:
    """One leaf layer: qualified name, type, kernel, output shape (channels, z, x, y), counts."""

    name: str
    kind: str
    kernel: str
    output_shape: tuple[int, ...]
    params: int
    flops: int


@dataclass(frozen=True)
class ModelSummary:
    """Per-layer table and totals for one net at one window (batch 1)."""

    name: str
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]
    outputs: tuple[str, ...]
    params: int
    flops: int
    layers: tuple[LayerRow, ...]

    @property
    def gflops(self) -> float:
        return self.flops / 1e9


def _layer_flops(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    """Multiply-adds x 2 of a conv, transposed conv or linear layer; 0 for the rest."""
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        per_input = module.out_channels // module.groups * prod(module.kernel_size)
        return 2 * inp.numel() * per_input
    if isinstance(module, nn.modules.conv._ConvNd):
        per_output = module.in_channels // module.groups * prod(module.kernel_size)
        return 2 * out.numel() * per_output
    if isinstance(module, nn.Linear):
        return 2 * out.numel() * module.in_features
    return 0


def window_overrides(name: str, window: Sequence[int]) -> dict[str, Any]:
    """Builder overrides a window implies: nets with a fixed-size head take the window itself."""
    return {"window": tuple(window)} if "window" in get_entry(name).defaults else {}


def summarize(
    name: str, window: Sequence[int] | None = None, in_channels: int = 1, **overrides: Any
) -> ModelSummary:
    """Layer table, parameter count and forward FLOPs of ``name`` on one ``window`` (z, x, y).

    Raises:
        WindowError: the net cannot process the window.
    """
    entry = get_entry(name)
    win = as_kernel3(window if window is not None else entry.window, "window")
    overrides = dict(window_overrides(name, win), **overrides)
    model = build(name, device="meta", seed=None, in_channels=in_channels, **overrides)
    rows: list[LayerRow] = []
    hooks = []
    for qualified, module in model.named_modules():
        # Leaf layers only; a net without sub-modules (it returns a dict) has no layer rows.
        if list(module.children()) or module is model:
            continue

        def hook(
            mod: nn.Module, args: tuple, out: torch.Tensor, qualified: str = qualified
        ) -> None:
            kernel = getattr(mod, "kernel_size", "")
            rows.append(
                LayerRow(
                    name=qualified,
                    kind=type(mod).__name__,
                    kernel="x".join(map(str, kernel)) if isinstance(kernel, tuple) else str(kernel),
                    output_shape=tuple(out.shape[1:]),
                    params=sum(p.numel() for p in mod.parameters(recurse=False)),
                    flops=_layer_flops(mod, args[0], out),
                )
            )

        hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            outputs = model(torch.empty((1, in_channels, *win), device="meta"))
    except (RuntimeError, ValueError) as exc:
        raise WindowError(f"{name} cannot process window {win}: {_short(exc)}") from None
    finally:
        for h in hooks:
            h.remove()
    logits = outputs["logits"]
    if min(logits.shape[2:]) < 1:
        raise WindowError(
            f"{name} cannot process window {win}: its output would be {tuple(logits.shape[1:])}"
        )
    return ModelSummary(
        name=name,
        input_shape=(in_channels, *win),
        output_shape=tuple(logits.shape[1:]),  # type: ignore[arg-type]
        outputs=tuple(outputs),
        params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        flops=sum(r.flops for r in rows),
        layers=tuple(rows),
    )


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200]


_OUTPUT_CACHE: dict[str, tuple[int, int, int]] = {}


def output_window(
    name: str, window: Sequence[int] | None = None, **overrides: Any
) -> tuple[int, int, int]:
    """Output window (z, x, y) of ``name`` for an input ``window``; cached per arguments."""
    key = repr((name, tuple(window) if window is not None else None, sorted(overrides.items())))
    if key not in _OUTPUT_CACHE:
        _OUTPUT_CACHE[key] = summarize(name, window, **overrides).output_shape[1:]  # type: ignore[assignment]
    return _OUTPUT_CACHE[key]
