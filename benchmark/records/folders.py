"""Where a run or a search lives: ``results/<suite>/<run>/`` and ``results/search/<name>/``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

__all__ = ["resolve_results_dir", "resolve_run_dir", "resolve_search_dir"]


def resolve_results_dir(
    parent: Path,
    name: str | None,
    resume: bool,
    *,
    marker: str,
    what: str,
    prefix: str = "",
    existing_name_resumes: bool = True,
) -> tuple[Path, bool]:
    """The folder of a run or a search under ``parent`` and whether it continues an existing one.

    Args:
        parent: the folder holding the runs (``results/<suite>``) or searches (``results/search``).
        name: the folder's name; default a timestamp (after ``prefix``).
        resume: continue ``name``, or the most recent folder holding ``marker``.
        marker: the file that makes a folder an existing run or search (``run.json``...).
        what: ``run of suite 'x'`` / ``search``, for messages.
        existing_name_resumes: whether naming an existing folder without ``resume`` continues it
            (runs) or is refused (searches, whose stored settings would silently win).

    Raises:
        FileNotFoundError: ``resume`` and nothing to resume.
        ValueError: an existing name that may not be continued without ``resume``.
    """
    if name:
        path = parent / name
        exists = (path / marker).is_file()
        if resume and not exists:
            raise FileNotFoundError(f"--resume: no {what} named {name!r} in {parent}")
        if exists and not resume and not existing_name_resumes:
            raise ValueError(
                f"{what} {name!r} exists in {path}; add --resume to continue it, or choose "
                "another --name"
            )
        return path, exists
    if resume:
        found = sorted(
            (p for p in parent.glob("*") if (p / marker).is_file()),
            key=lambda p: p.stat().st_mtime,
        )
        if not found:
            raise FileNotFoundError(f"--resume: no earlier {what} under {parent}")
        return found[-1], True
    return parent / f"{prefix}{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}", False


def resolve_run_dir(
    results_root: Path, suite: str, name: str | None, resume: bool
) -> tuple[Path, bool]:
    """The run folder ``results_root/<suite>/<name>`` and whether it continues an existing run
    (the name of an existing run resumes it)."""
    return resolve_results_dir(
        results_root / suite, name, resume, marker="run.json", what=f"run of suite {suite!r}"
    )


def resolve_search_dir(
    results_root: Path, space: str, name: str | None, resume: bool
) -> tuple[Path, bool]:
    """The search folder ``results_root/search/<name>`` (default ``<space>-<timestamp>``) and
    whether it continues an existing search."""
    return resolve_results_dir(
        results_root / "search",
        name,
        resume,
        marker="search.json",
        what="search",
        prefix=f"{space}-",
        existing_name_resumes=False,
    )
