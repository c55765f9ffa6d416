"""Explicit random streams: every stochastic function takes an int seed or a Generator."""

from __future__ import annotations

import zlib

import numpy as np

Seed = int | np.random.Generator


def as_generator(seed: Seed) -> np.random.Generator:
    """The Generator itself, or ``default_rng(seed)`` for an int (as scipy's ``rng=`` does)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def derive(seed: Seed, *keys: object) -> np.random.Generator:
    """An independent stream named by ``keys`` (e.g. a pair of architectures).

    For an int seed the stream depends only on ``(seed, keys)``, so a result does not change when
    other architectures are added or the order of computation changes. A Generator is advanced by
    one draw to obtain the base seed.
    """
    base = int(seed.integers(2**63)) if isinstance(seed, np.random.Generator) else int(seed)
    key = tuple(zlib.crc32(str(k).encode()) for k in keys)
    return np.random.default_rng(np.random.SeedSequence(base, spawn_key=key))
