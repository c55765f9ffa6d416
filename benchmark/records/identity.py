"""The identity of a trained instance: everything that decides its result.

An instance is the architecture (its registered name, family, builder defaults and the code that
builds it), the resolved builder options, the resolved :class:`TrainConfig`, a fingerprint of the
data, the seed and the package version. :func:`configuration_identity` is that without the seed
(the same for every seed of one architecture in a run); its short hash goes into every results
row, every checkpoint carries the full identity, and nothing is ever resumed or reused under a
different one: :func:`identity_differences` names what changed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "IdentityMismatch",
    "architecture_identity",
    "configuration_identity",
    "identity_differences",
    "identity_hash",
    "package_version",
]


class IdentityMismatch(ValueError):
    """Results of another configuration where this one was asked for."""


def package_version() -> str:
    try:
        return importlib.metadata.version("densecell-bench")
    except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
        return "unknown"


def _file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def architecture_identity(arch: str) -> dict[str, Any]:
    """Name, family, builder defaults and code of a registered architecture.

    The code of the built-in families is the package version; a plug-in's is the content hash of
    the file that defines its builder, so editing a plug-in between invocations is noticed.
    """
    from architectures import get_entry

    entry = get_entry(arch)
    source = entry.source
    if source.startswith("spec:"):
        # A spec's content is its options (in ``defaults``) and training overrides (in the
        # config); its path is not part of it (the same spec may be named relatively or not).
        code = "spec"
    elif source.split(".")[0] == "architectures":
        code = f"densecell-bench {package_version()}"
    else:
        try:
            code = f"{source}:{_file_hash(inspect.getsourcefile(entry.builder) or '')}"
        except (OSError, TypeError):
            code = source
    return {
        "name": entry.name,
        "family": entry.family,
        "defaults": _plain(entry.defaults),
        "code": code,
    }


def configuration_identity(
    arch: str,
    build_options: Mapping[str, Any],
    config: Mapping[str, Any],
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """The identity shared by every seed of one configuration.

    Args:
        arch: registered architecture name.
        build_options: resolved keyword arguments of ``architectures.build``.
        config: ``TrainConfig.to_dict()`` of the resolved config.
        data: the data fingerprint (``benchmark.data.spec.dataset_fingerprint``).
    """
    return {
        "architecture": architecture_identity(arch),
        "build_options": _plain(build_options),
        "train": _plain(config),
        "data": _plain(data),
        "package": package_version(),
    }


def identity_hash(identity: Mapping[str, Any]) -> str:
    """A short, stable hash of an identity (canonical JSON, 12 hex digits)."""
    text = json.dumps(_plain(identity), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def identity_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``["train.lr: 0.003 -> 0.01", ...]``: every leaf that differs, by dotted path."""
    out: list[str] = []
    _diff(_plain(old), _plain(new), "", out)
    return out


def _diff(old: Any, new: Any, path: str, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(f"{sub}: (absent) -> {new[key]!r}")
            elif key not in new:
                out.append(f"{sub}: {old[key]!r} -> (absent)")
            else:
                _diff(old[key], new[key], sub, out)
    elif old != new:
        out.append(f"{path}: {old!r} -> {new!r}")


def _plain(value: Any) -> Any:
    """JSON-shaped copy: tuples become lists, keys strings, other objects their repr."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return repr(value)
