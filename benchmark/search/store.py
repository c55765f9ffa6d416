"""Where a search lives on disk and how it is read back: folder, study storage, tables."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.records.folders import resolve_search_dir

__all__ = ["jsonable", "load_search", "resolve_search_dir", "safe_name"]


def storage_for(spec: str | None, search_dir: Path) -> tuple[Any, str]:
    """An Optuna storage and its description; a path (or None) is a journal file."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    if spec and "://" in spec:
        return spec, spec
    path = Path(spec) if spec else search_dir / "study.journal"
    if not path.is_absolute() and spec:
        path = Path.cwd() / path
    path.parent.mkdir(parents=True, exist_ok=True)
    # The open lock (O_EXCL lock file) works on any local file system, without symlinks.
    return JournalStorage(
        JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path)))
    ), str(path)


def load_search(search_dir: str | Path) -> tuple[dict[str, Any], Any, pd.DataFrame, pd.DataFrame]:
    """``(search.json, the Optuna study, candidates table, seeds table)`` of a search folder."""
    import optuna

    search_dir = Path(search_dir)
    meta = json.loads((search_dir / "search.json").read_text())
    storage, _ = storage_for(meta["storage"], search_dir)
    study = optuna.load_study(study_name=meta["study_name"], storage=storage)
    cands = (
        pd.read_parquet(search_dir / "candidates.parquet")
        if (search_dir / "candidates.parquet").is_file()
        else pd.DataFrame()
    )
    seeds = (
        pd.read_parquet(search_dir / "seeds.parquet")
        if (search_dir / "seeds.parquet").is_file()
        else pd.DataFrame()
    )
    return meta, study, cands, seeds


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
