"""Results tables on disk: atomic parquet and JSON writers and the instances that reached a final
status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.files import atomic_write_parquet, atomic_write_text
from benchmark.records.statuses import FINAL_STATUSES

__all__ = ["final_keys", "write_json", "write_table"]


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Writes a parquet table atomically (temporary file in the same folder, then rename)."""
    atomic_write_parquet(frame, path)


def write_json(obj: Any, path: Path) -> None:
    """Writes ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, default=str))


def final_keys(run_dir: Path) -> set[tuple[str, int]]:
    path = run_dir / "instances.parquet"
    if not path.is_file():
        return set()
    frame = pd.read_parquet(path, columns=["architecture", "seed", "status"])
    frame = frame[frame["status"].isin(FINAL_STATUSES)]
    return {(a, int(s)) for a, s in zip(frame["architecture"], frame["seed"])}
