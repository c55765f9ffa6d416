"""Checkpoints: ``best.pt`` (weights of the best evaluation point) and ``last.pt`` (everything
needed to resume exactly), written atomically; loading a checkpoint back as a model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from analysis.files import atomic_output
from architectures import build
from benchmark.records.identity import IdentityMismatch, identity_differences
from benchmark.training.results import EvalPoint, point_to_dict

__all__ = [
    "CHECKPOINT_FORMAT",
    "check_identity",
    "load_checkpoint",
    "read_resume_state",
    "save_atomic",
    "save_last",
]

CHECKPOINT_FORMAT = "densecell-bench/1"


def save_atomic(obj: Any, path: Path) -> None:
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(
    path: str | Path, device: torch.device | str = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuilds the model of a checkpoint and returns ``(model in eval mode, checkpoint dict)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"checkpoint {path} could not be read: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a densecell-bench checkpoint")
    arch = ckpt["architecture"]
    spec = ckpt.get("architecture_spec")
    if spec and arch not in _registered_names():
        from architectures.spec import register_spec_file

        register_spec_file(spec)
    model = build(arch, seed=None, **ckpt["build_options"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


def _registered_names() -> list[str]:
    from architectures import list_architectures

    return list_architectures()


def read_resume_state(
    ckpt_dir: Path | None, identity: dict[str, Any], seed: int, log
) -> tuple[dict, dict | None] | None:
    """``(last.pt, best weights)`` to resume from, or None to start fresh.

    A checkpoint cut short (a killed process during a copy) is not trusted: the instance starts
    again from step 0, which gives the same result because training is deterministic.

    Raises:
        IdentityMismatch: ``last.pt`` was trained under another configuration, seed or data
            (the message names what differs); it is never resumed.
    """
    if ckpt_dir is None or not (ckpt_dir / "last.pt").is_file():
        return None
    try:
        state = torch.load(ckpt_dir / "last.pt", map_location="cpu", weights_only=True)
        if not {"model", "optimizer", "scheduler", "step", "curve"} <= set(state):
            raise ValueError("missing keys")
    except Exception as exc:  # any unreadable checkpoint means: start over
        state, error = None, exc
    if state is not None:
        # Outside the try: a checkpoint of another configuration is an error, not "unreadable".
        check_identity(state, identity, seed, ckpt_dir / "last.pt")
        try:
            best = None
            if (ckpt_dir / "best.pt").is_file():
                best = torch.load(ckpt_dir / "best.pt", map_location="cpu", weights_only=True)
                best = best["model"]
            return state, best
        except Exception as exc:
            error = exc
    if log:
        log(
            f"ignoring the unreadable checkpoint in {ckpt_dir} ({type(error).__name__}: {error}); starting over"
        )
    for name in ("last.pt", "best.pt", "probabilities.npz"):
        (ckpt_dir / name).unlink(missing_ok=True)
    return None


def check_identity(ckpt: dict[str, Any], identity: dict[str, Any], seed: int, path: Path) -> None:
    """Raises IdentityMismatch unless checkpoint ``ckpt`` (read from ``path``) holds instance
    ``seed`` of configuration ``identity``."""
    stored = ckpt.get("identity")
    if stored is None:
        raise IdentityMismatch(
            f"{path} has no configuration identity (an older format); it is not resumed. "
            f"Delete {path.parent} or choose another output folder to start fresh"
        )
    differences = identity_differences(stored, identity)
    if int(ckpt.get("seed", -1)) != int(seed):
        differences.insert(0, f"seed: {ckpt.get('seed')!r} -> {seed!r}")
    if differences:
        shown = "; ".join(differences[:8]) + (
            f"; and {len(differences) - 8} more" if len(differences) > 8 else ""
        )
        raise IdentityMismatch(
            f"{path} was trained under another configuration ({shown}); it is not resumed. "
            f"Delete {path.parent} or choose another output folder to start fresh"
        )


def save_last(
    ckpt_dir: Path | None, base_ckpt: dict, state: tuple, curve: list[EvalPoint], class_names
) -> None:
    """The resumable checkpoint: model, optimizer, scheduler, step and the curve so far."""
    if ckpt_dir is None:
        return
    model, optimizer, scheduler, step, elapsed = state
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    last = dict(
        base_ckpt,
        model=model.state_dict(),
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        step=step,
        elapsed_s=elapsed,
        metrics=curve[-1].metrics(class_names),
        curve=[point_to_dict(p) for p in curve],
    )
    save_atomic(last, ckpt_dir / "last.pt")
