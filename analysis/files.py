"""Atomic file writes: write a temporary file next to the target, then ``os.replace`` it.

Readers (a resumed sweep, a user's notebook, the test that kills a driver) see the old file or the
new one, never half of one. Every results file of the project is written through this module.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yields a unique temporary path next to ``path``; renames it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left as it was. The temporary
    name keeps the target's suffix, so writers that look at it (numpy's ``.npz``) behave.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")
    return Path(path)


def atomic_write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """``frame.to_csv(path, index=False)``, atomically."""
    return atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def atomic_write_parquet(frame: pd.DataFrame, path: str | Path) -> Path:
    """``frame.to_parquet(path, index=False)``, atomically."""
    with atomic_output(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)
