"""One writer per results folder: an OS file lock that dies with its process.

A run or a search folder is locked for as long as its driver lives; a second invocation on the
same folder fails at once with the holder's host and PID. The lock is an advisory ``flock`` (or
``msvcrt.locking`` on Windows) on ``<folder>/.lock``: the operating system releases it when the
process ends, however it ends (kill -9 included), so a stale lock cannot block a resume.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["FolderLocked", "folder_lock"]

LOCK_NAME = ".lock"


class FolderLocked(RuntimeError):
    """Another live process is writing the folder."""


@contextmanager
def folder_lock(folder: str | Path, what: str = "run") -> Iterator[Path]:
    """Holds the lock of ``folder`` (created if missing) for the ``with`` block.

    Raises:
        FolderLocked: another process holds it; the message names its host and PID.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    handle = open(path, "a+")  # noqa: SIM115 (closed below: the lock lives as long as the handle)
    try:
        if not _try_lock(handle):
            handle.seek(0)
            holder = handle.read().strip() or "an unknown process"
            raise FolderLocked(
                f"another {what} ({holder}) is writing {folder}; wait for it to finish or stop it "
                "(two writers would mix their results)"
            )
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        yield path
    finally:
        handle.close()  # releases the lock


def _try_lock(handle) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
