"""What each derived output of a run folder was built from, so that none is silently stale.

``ensembles.parquet``, ``analysis/`` and ``report.html`` are computed from the run's instances.
When one is written, :func:`record_derived` notes in ``derived.json`` the fingerprint of the
instances table it saw; :func:`stale_outputs` compares every note with the instances table as it
is now (a resumed run may have added or finished instances since) and names the outputs that no
longer match.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from analysis.files import atomic_write_text

__all__ = ["DERIVED_OUTPUTS", "instances_fingerprint", "record_derived", "stale_outputs"]

#: Derived output name -> its path in the run folder.
DERIVED_OUTPUTS = {
    "ensembles": "ensembles.parquet",
    "analysis": "analysis",
    "report": "report.html",
}
_RECORD = "derived.json"
# The columns that decide what an output derived from the instances would contain.
_KEY_COLUMNS = ("architecture", "seed", "status", "identity", "best_step", "steps")


def instances_fingerprint(instances: pd.DataFrame) -> str:
    """A short hash of the instance set: each row's architecture, seed, status, configuration
    identity and best/last step (the columns present), in a canonical order."""
    columns = [c for c in _KEY_COLUMNS if c in instances.columns]
    if instances.empty or not columns:
        return "empty"
    frame = instances[columns].astype(str).sort_values(columns, kind="stable")
    text = frame.to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _current(run_dir: Path) -> str | None:
    path = run_dir / "instances.parquet"
    return instances_fingerprint(pd.read_parquet(path)) if path.is_file() else None


def record_derived(run_dir: str | Path, name: str, fingerprint: str | None = None) -> None:
    """Notes that output ``name`` of ``run_dir`` was just built from the instances with
    ``fingerprint`` (default: the instances table as it is now)."""
    if name not in DERIVED_OUTPUTS:
        raise ValueError(f"unknown derived output {name!r}; known: {sorted(DERIVED_OUTPUTS)}")
    run_dir = Path(run_dir)
    path = run_dir / _RECORD
    records = json.loads(path.read_text()) if path.is_file() else {}
    records[name] = {
        "instances": fingerprint or _current(run_dir),
        "built": datetime.now().isoformat(timespec="seconds"),
    }
    atomic_write_text(path, json.dumps(records, indent=2))


def stale_outputs(run_dir: str | Path) -> dict[str, str]:
    """``{output name: why it is stale}`` for the derived outputs present in ``run_dir`` that were
    built from another set of instances than the one there now (or whose origin is unknown)."""
    run_dir = Path(run_dir)
    current = _current(run_dir)
    path = run_dir / _RECORD
    records = json.loads(path.read_text()) if path.is_file() else {}
    out: dict[str, str] = {}
    for name, rel in DERIVED_OUTPUTS.items():
        if not (run_dir / rel).exists():
            continue
        record = records.get(name)
        if record is None:
            out[name] = f"{rel} has no record of the instances it was built from"
        elif record["instances"] != current:
            out[name] = (
                f"{rel} was built ({record['built']}) from another set of instances than the "
                "run holds now"
            )
    return out
