"""What the run report is built from: the instances, the analysis and the run's optional tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.analyze import AnalysisReport
from analysis.io import InstanceTable, natural_key
from analysis.report.theme import architecture_colors

__all__ = ["OPTIONAL_TABLES", "ReportContext", "load_context"]

#: The run folder's optional tables, by the name the sections use.
OPTIONAL_TABLES: dict[str, str] = {
    "ensembles": "ensembles.parquet",
    "curves": "curves.parquet",
    "postprocess": "postprocess.parquet",
    "sequential": "sequential.parquet",
}


@dataclass(frozen=True)
class ReportContext:
    """Everything a section of the run report may draw.

    Attributes:
        table: the instances (``analysis.io.load_instances``).
        source: the run folder or table file the report is of.
        analysis: the statistics, or None when no instance is usable.
        architectures: every architecture of the run (usable, failed or planned), natural order.
        colors: one color per architecture (:func:`analysis.report.theme.architecture_colors`).
        tables: the optional tables of :data:`OPTIONAL_TABLES` present and non-empty.
        predictions: ``ensembles/predictions.npz`` when present.
        seed: seed of the points' jitter.
    """

    table: InstanceTable
    source: Path
    analysis: AnalysisReport | None
    architectures: list[str]
    colors: dict[str, str]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    predictions: Path | None = None
    seed: int = 0

    @property
    def run(self) -> dict[str, Any]:
        """``run.json`` (empty for a plain table)."""
        return dict(self.table.run)

    @property
    def run_dir(self) -> Path | None:
        return self.table.run_dir


def load_context(
    table: InstanceTable, source: Path, analysis: AnalysisReport | None, seed: int = 0
) -> ReportContext:
    """Reads the run folder's optional inputs (none for a plain table)."""
    names = set(table.data["architecture"].astype(str))
    names |= set(table.excluded["architecture"].astype(str))
    names |= set(map(str, table.run.get("architectures", [])))
    archs = sorted(names, key=natural_key)
    tables: dict[str, pd.DataFrame] = {}
    predictions = None
    run_dir = table.run_dir
    if run_dir is not None:
        for key, name in OPTIONAL_TABLES.items():
            if (run_dir / name).is_file():
                frame = pd.read_parquet(run_dir / name)
                if len(frame):
                    tables[key] = frame
        npz = run_dir / "ensembles" / "predictions.npz"
        predictions = npz if npz.is_file() else None
    return ReportContext(
        table=table,
        source=source,
        analysis=analysis,
        architectures=archs,
        colors=architecture_colors(archs),
        tables=tables,
        predictions=predictions,
        seed=seed,
    )
