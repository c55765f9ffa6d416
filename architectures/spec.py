"""Architecture specs in TOML: a registered base architecture plus option and training overrides.

A spec is how a found architecture (``python -m benchmark search`` exports them) becomes a name
usable everywhere a registered name is: ``--arch path.toml``, a suite's architecture list,
``describe``. Format::

    name = "search_2d3d_t07"            # registry name (default: the file's stem)
    base = "2d3d_3x3x3"                 # registered architecture to start from
    description = "found by search ..." # optional
    [options]                           # builder overrides (the family's arguments)
    depth = 2
    inserted_blocks = ["e0", "d0"]
    [train]                             # training-config overrides (c_2d, lr, ...)
    c_2d = 0.5
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from architectures.registry import _REGISTRY, ArchitectureEntry, get_entry, register

__all__ = ["register_spec_file", "spec_to_toml", "toml_value", "write_spec"]


def toml_value(value: Any) -> str:
    """``value`` (bool, number, string or a list of them) as a TOML literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def spec_to_toml(
    name: str, base: str, options: dict[str, Any], train: dict[str, Any], description: str = ""
) -> str:
    """TOML text of a spec (see the module docstring)."""
    lines = [f"name = {toml_value(name)}", f"base = {toml_value(base)}"]
    if description:
        lines.append(f"description = {toml_value(description)}")
    lines.append("\n[options]")
    lines += [f"{k} = {toml_value(v)}" for k, v in options.items()]
    lines.append("\n[train]")
    lines += [f"{k} = {toml_value(v)}" for k, v in train.items()]
    return "\n".join(lines) + "\n"


def write_spec(
    path: str | Path,
    name: str,
    base: str,
    options: dict[str, Any],
    train: dict[str, Any],
    description: str = "",
) -> Path:
    """Writes a spec atomically and returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(spec_to_toml(name, base, options, train, description))
    tmp.replace(path)
    return path


def register_spec_file(path: str | Path) -> ArchitectureEntry:
    """Registers the spec in ``path`` (idempotent for an unchanged file) and returns its entry."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"architecture spec {path} does not exist")
    try:
        spec = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"architecture spec {path}: invalid TOML: {exc}") from exc
    unknown = set(spec) - {"name", "base", "description", "options", "train"}
    if unknown:
        raise ValueError(f"architecture spec {path}: unknown keys {sorted(unknown)}")
    if "base" not in spec:
        raise ValueError(
            f"architecture spec {path}: missing 'base' (a registered architecture name)"
        )
    base = get_entry(spec["base"])
    name = spec.get("name", path.stem)
    options = dict(spec.get("options", {}))
    train = dict(spec.get("train", {}))
    accepted = set(base.defaults)
    bad = sorted(set(options) - accepted) if accepted else []
    if bad:
        raise ValueError(
            f"architecture spec {path}: options {bad} are not accepted by {base.name} (accepted: {sorted(accepted)})"
        )

    def builder(**kwargs: Any):
        return base.builder(**dict(options, **kwargs))

    builder.__module__ = f"spec:{path}"
    existing = _REGISTRY.get(name)
    if existing is not None and not existing.source.startswith("spec:"):
        raise ValueError(f"architecture spec {path}: name {name!r} is a built-in architecture")
    register(
        name,
        family=base.family,
        description=spec.get("description", f"{base.name} with {options}"),
        window=base.window,
        train_defaults=dict(base.train_defaults, **train),
        quick=base.quick,
        replace=True,
    )(builder)
    entry = _REGISTRY[name]
    # The spec's options are its defaults for display; accepted names are the base's.
    object.__setattr__(entry, "defaults", dict(base.defaults, **options))
    return entry
