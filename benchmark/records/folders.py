"""Where a run or a search lives: ``results/<suite>/<run>/`` and ``results/search/<name>/``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

__all__ = ["resolve_run_dir"]


def resolve_run_dir(
    results_root: Path, suite: str, name: str | None, resume: bool
) -> tuple[Path, bool]:
    """The run folder and whether it continues an existing run."""
    suite_dir = results_root / suite
    if name:
        run_dir = suite_dir / name
        return run_dir, (run_dir / "run.json").is_file()
    if resume:
        runs = sorted(
            (p for p in suite_dir.glob("*") if (p / "run.json").is_file()),
            key=lambda p: p.stat().st_mtime,
        )
        if not runs:
            raise FileNotFoundError(
                f"--resume: no earlier run of suite {suite!r} under {suite_dir}"
            )
        return runs[-1], True
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return suite_dir / stamp, False
