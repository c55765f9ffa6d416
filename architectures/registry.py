"""Registry of named architectures: register by decorator, build by name, list by wildcard.

A registered entry is a plain function returning a ``SegmentationNet`` from keyword arguments,
plus metadata usable without building the model (family, default window, the paper's parameter
count, training defaults such as ``c_2d`` for the No Multi-Loss ablation, quick-profile sizes).

Third-party packages register through the entry-point group ``densecell_bench.architectures``
(each entry point names a module, imported on first use of the registry) or at run time through
``load_plugin("module.path")`` (``--plugin`` on the CLI).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
import importlib.util
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from architectures.blocks import SegmentationNet
from architectures.layers import as_kernel3, init_weights

__all__ = [
    "ArchitectureEntry",
    "ArchitectureOptionError",
    "UnknownArchitectureError",
    "build",
    "ensure_loaded",
    "get_entry",
    "list_architectures",
    "load_plugin",
    "register",
]

ENTRY_POINT_GROUP = "densecell_bench.architectures"

Window = tuple[int, int, int]


class ArchitectureOptionError(TypeError, ValueError):
    """A builder option the architecture does not accept (a ValueError for the CLI, a TypeError
    like any bad keyword argument)."""


class UnknownArchitectureError(KeyError):
    """An architecture name that is not registered; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class ArchitectureEntry:
    """Metadata of a registered architecture.

    Attributes:
        name: registry name.
        family: net family (``2d3d``, ``unet2d``, ``unet3d``, ``deeplab``, ``deepvess``, or a
            plug-in's own).
        builder: function ``(**kwargs) -> SegmentationNet``.
        description: one line.
        window: default input window (z, x, y).
        paper_params: trainable parameter count stated in the paper, if any.
        train_defaults: training-config overrides the architecture implies (``{"c_2d": 0.0}``).
        quick: training-config overrides for the quick CPU profile: ``width`` and ``window``, and
            what they imply (``spacing`` for a small output window).
        defaults: the builder's keyword defaults, for display.
        source: where it was registered (module name).
    """

    name: str
    family: str
    builder: Callable[..., SegmentationNet]
    description: str
    window: Window
    paper_params: int | None = None
    train_defaults: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    source: str = ""


_REGISTRY: dict[str, ArchitectureEntry] = {}
_plugins_loaded = False


def register(
    name: str,
    *,
    family: str,
    description: str,
    window: tuple[int, int, int],
    paper_params: int | None = None,
    train_defaults: dict[str, Any] | None = None,
    quick: dict[str, Any] | None = None,
    accepts: Callable[..., Any] | None = None,
    replace: bool = False,
) -> Callable[[Callable[..., SegmentationNet]], Callable[..., SegmentationNet]]:
    """Decorator that registers ``fn(**kwargs) -> SegmentationNet`` under ``name``.

    ``accepts`` names the callable whose keyword defaults list the accepted options (the net
    class, when ``fn`` forwards ``**kwargs``); it defaults to ``fn``.

    Example:
        >>> @register("tiny_2d3d", family="2d3d", description="shallow 2D-3D", window=(5, 64, 64))
        ... def tiny_2d3d(**kwargs):
        ...     return create_2d3d(dict(depth=2, **kwargs))
    """
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"architecture names must be non-empty without spaces, got {name!r}")

    def decorator(fn: Callable[..., SegmentationNet]) -> Callable[..., SegmentationNet]:
        if name in _REGISTRY and not replace:
            raise ValueError(
                f"architecture {name!r} is already registered (by {_REGISTRY[name].source})"
            )
        signature = inspect.signature(accepts or fn)
        defaults = {
            k: p.default
            for k, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty
        }
        _REGISTRY[name] = ArchitectureEntry(
            name=name,
            family=family,
            builder=fn,
            description=description,
            window=as_kernel3(window, "window"),
            paper_params=paper_params,
            train_defaults=dict(train_defaults or {}),
            quick=dict(quick or {}),
            defaults=defaults,
            source=getattr(fn, "__module__", ""),
        )
        return fn

    return decorator


def unregister(name: str) -> None:
    """Removes ``name`` from the registry (for tests and interactive sessions)."""
    _REGISTRY.pop(name, None)


def ensure_loaded() -> None:
    """Imports the built-in families and entry-point plug-ins once."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    import architectures.nets  # noqa: F401  (registers the built-in families)

    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:  # a broken plug-in must not hide the built-in nets
            raise ImportError(
                f"architecture plug-in {ep.name!r} ({ep.value}) failed to load: {exc}"
            ) from exc
        if callable(loaded) and not inspect.isclass(loaded):
            loaded()


# Plug-in files already executed, with their modification time and size (an edited file is new).
_LOADED_PLUGIN_FILES: set[tuple[Path, int, int]] = set()


def load_plugin(module: str) -> None:
    """Imports ``module`` (a dotted path, or a ``.py`` / ``.toml`` file) so that it registers nets.

    Loading the same ``.py`` file again does nothing (a suite and the command line may both name
    it); dotted modules are imported once by Python itself.
    """
    ensure_loaded()
    if module.endswith(".toml"):
        from architectures.spec import register_spec_file

        register_spec_file(module)
        return
    if module.endswith(".py"):
        path = Path(module)
        if not path.is_file():
            raise FileNotFoundError(f"plug-in file {module} does not exist")
        stat = path.stat()
        key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
        if key in _LOADED_PLUGIN_FILES:
            return
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _LOADED_PLUGIN_FILES.add(key)
        return
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ImportError(f"plug-in module {module!r} could not be imported: {exc}") from exc


def get_entry(name: str) -> ArchitectureEntry:
    """The registry entry for ``name``; unknown names raise ``UnknownArchitectureError``.

    A path to an architecture spec (``something.toml``) registers the spec first, so every place
    that accepts a name accepts a spec file too.
    """
    ensure_loaded()
    if name.endswith(".toml") and name not in _REGISTRY:
        from architectures.spec import register_spec_file

        return register_spec_file(name)
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=4, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownArchitectureError(
            f"unknown architecture {name!r}{hint} (`python -m benchmark list` shows all {len(_REGISTRY)})"
        ) from None


def list_architectures(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style wildcard ``pattern``, sorted."""
    ensure_loaded()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def iter_entries(pattern: str = "*") -> Iterator[ArchitectureEntry]:
    for name in list_architectures(pattern):
        yield _REGISTRY[name]


def build(
    name: str,
    *,
    seed: int | None = 0,
    device: torch.device | str = "cpu",
    init: str = "xavier",
    **overrides: Any,
) -> SegmentationNet:
    """Builds the architecture ``name`` with ``overrides`` winning over its defaults.

    Weights follow ``init`` (``"xavier"``, the default, or ``"he"``; see
    :func:`architectures.layers.init_weights`) with zero biases, drawn from a generator seeded with
    ``seed`` on the CPU (the same seed gives identical weights on any device and in any process).
    The net is constructed on the CPU with torch's random state forked and seeded from ``seed``,
    so every tensor a net sets up itself (a plug-in's own parameters and buffers) has the same
    value for the same seed, and the global random state is left as it was. ``device="meta"``
    builds without memory or values (shape inspection); ``seed=None`` skips ``init``.
    """
    entry = get_entry(name)
    try:
        if str(device) == "meta":
            with torch.device("meta"):
                return entry.builder(**overrides)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if seed is None else int(seed))
            model = entry.builder(**overrides)
    except TypeError as exc:
        accepted = ", ".join(sorted(entry.defaults)) or "none"
        raise ArchitectureOptionError(f"{name}: {exc} (accepted options: {accepted})") from exc
    if seed is not None:
        init_weights(model, torch.Generator().manual_seed(int(seed)), init)
    return model.to(device)


def count_parameters(model: torch.nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
