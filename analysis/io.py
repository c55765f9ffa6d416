"""Loading a table of per-instance results (one row per architecture x seed).

The input is a run directory (``instances.parquet`` plus optional ``run.json`` and
``ensembles.parquet``) or any ``.csv`` / ``.parquet`` file with an architecture column, a seed
column and metric columns. Failed instances and instances with unusable rows are never silently
dropped: they are moved to :attr:`InstanceTable.excluded` with a reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_METRICS",
    "VALID_STATUSES",
    "InstanceTable",
    "load_instances",
    "natural_key",
    "paired_seeds",
    "read_table",
]

#: Metrics looked for first, in this order, when ``metric_cols`` is not given.
DEFAULT_METRICS: tuple[str, ...] = (
    "eval_miou_all",
    "eval_miou_org",
    "test_miou_org",
    "test_miou_all",
    "final_eval_miou_all",
)
#: Statuses whose rows are samples of the score distribution. "early_stopped" instances count:
#: the paper's early stop halts bad instances, so dropping them would bias the distribution up.
VALID_STATUSES: tuple[str, ...] = ("finished", "early_stopped")
_METRIC_PATTERN = re.compile(r"^(eval|test|final_eval|final_test)_(miou|iou)_")
_EXCLUDED_COLUMNS = ("architecture", "seed", "status", "reason")


def natural_key(name: str) -> tuple:
    """Sort key that orders ``net2`` before ``net10``."""
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(name)))


@dataclass(frozen=True)
class InstanceTable:
    """A cleaned per-instance table.

    Attributes:
        data: usable rows (status in :data:`VALID_STATUSES`), one per (architecture, seed); the
            architecture column is ``str``, the seed column ``int``. Metric values may still be NaN;
            :meth:`scores` excludes those per metric and says so.
        excluded: rows left out, with columns ``architecture, seed, status, reason``.
        metrics: metric columns found (or asked for), preferred ones first.
        source: the file or run directory read.
        run: contents of ``run.json`` when the source is a run directory that has one, else ``{}``.
        ensembles: ``ensembles.parquet`` of a run directory, or None.
        architecture_col, seed_col: names of the identifying columns in ``data``.
    """

    data: pd.DataFrame
    excluded: pd.DataFrame
    metrics: tuple[str, ...]
    source: Path | None = None
    run: Mapping[str, Any] = field(default_factory=dict)
    ensembles: pd.DataFrame | None = None
    architecture_col: str = "architecture"
    seed_col: str = "seed"

    @property
    def architectures(self) -> tuple[str, ...]:
        """Architectures with at least one usable row, in natural order."""
        return tuple(sorted(self.data[self.architecture_col].unique(), key=natural_key))

    @property
    def run_dir(self) -> Path | None:
        """The run directory when the table was loaded from one."""
        return self.source if self.source is not None and self.source.is_dir() else None

    def scores(self, metric: str) -> tuple[dict[str, pd.Series], pd.DataFrame]:
        """Scores per architecture for one metric, and the rows left out because it is NaN.

        Returns:
            ``({architecture: Series of float indexed by seed, sorted by seed}, excluded)`` where
            ``excluded`` has the columns of :attr:`excluded`. Architectures whose every value is
            NaN map to an empty Series.
        """
        _check_columns(self.data, [metric], self.source, what="metric")
        values = pd.to_numeric(self.data[metric], errors="coerce")
        missing = values.isna()
        out = {}
        for arch in self.architectures:
            rows = (self.data[self.architecture_col] == arch) & ~missing
            s = pd.Series(
                values[rows].to_numpy(dtype=float),
                index=pd.Index(
                    self.data.loc[rows, self.seed_col].to_numpy(dtype=np.int64), name="seed"
                ),
                name=arch,
            )
            out[arch] = s.sort_index()
        dropped = self.data[missing]
        excluded = pd.DataFrame(
            {
                "architecture": dropped[self.architecture_col].to_numpy(),
                "seed": dropped[self.seed_col].to_numpy(),
                "status": dropped["status"].to_numpy() if "status" in dropped else "finished",
                "reason": f"{metric} is NaN",
            },
            columns=list(_EXCLUDED_COLUMNS),
        )
        return out, excluded


def paired_seeds(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Seeds present in both score Series (indexed by seed), sorted."""
    return np.intersect1d(a.index.to_numpy(), b.index.to_numpy())


def read_table(path: str | Path) -> pd.DataFrame:
    """Reads a ``.csv``, ``.parquet`` (``.pq``) or ``.tsv`` file into a DataFrame."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or directory: {path}")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".tsv":
        return pd.read_csv(path, sep="\t")
    raise ValueError(f"{path}: unsupported table format {suffix!r}; use .csv or .parquet")


def load_instances(
    path: str | Path | pd.DataFrame,
    architecture_col: str = "architecture",
    seed_col: str = "seed",
    metric_cols: Sequence[str] | None = None,
    status_col: str = "status",
) -> InstanceTable:
    """Loads and cleans a per-instance table.

    Args:
        path: a run directory holding ``instances.parquet`` (or ``instances.csv``), a ``.csv`` /
            ``.parquet`` file, or an in-memory DataFrame.
        architecture_col: column naming the architecture; renamed to ``architecture``.
        seed_col: column holding the integer seed; renamed to ``seed``.
        metric_cols: metric columns to require; None finds them (``eval_*``/``test_*`` IoU columns,
            :data:`DEFAULT_METRICS` first).
        status_col: column with "finished" / "early_stopped" / "failed"; when absent every row
            counts as finished.

    Returns:
        An :class:`InstanceTable`; rows whose status is not in :data:`VALID_STATUSES` (or whose seed
        is missing) are in ``excluded`` with a reason.

    Raises:
        ValueError: a required column is missing (the message names the file and lists the columns
            present), no metric column is found, or an (architecture, seed) pair occurs twice among
            usable rows.
        FileNotFoundError: the path does not exist or a run directory has no instances table.
    """
    source, run, ensembles = None, {}, None
    if isinstance(path, pd.DataFrame):
        frame = path.copy()
    else:
        source = Path(path)
        if source.is_dir():
            table_path = next(
                (
                    source / n
                    for n in ("instances.parquet", "instances.csv")
                    if (source / n).exists()
                ),
                None,
            )
            if table_path is None:
                raise FileNotFoundError(f"{source} has no instances.parquet (or instances.csv)")
            if (source / "run.json").exists():
                run = json.loads((source / "run.json").read_text())
            if (source / "ensembles.parquet").exists():
                ensembles = pd.read_parquet(source / "ensembles.parquet")
            frame = read_table(table_path)
        else:
            frame = read_table(source)
    where = source or "table"
    _check_columns(frame, [architecture_col, seed_col], where, what="column")
    frame = frame.rename(
        columns={architecture_col: "architecture", seed_col: "seed", status_col: "status"}
    )
    metrics = _find_metrics(frame, metric_cols, where)

    frame["architecture"] = frame["architecture"].astype(str)
    if "status" not in frame:
        frame["status"] = "finished"
    status = frame["status"].astype("string").str.strip().str.lower()
    seed = pd.to_numeric(frame["seed"], errors="coerce")
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[~status.isin(VALID_STATUSES).fillna(False)] = [
        _status_reason(s, frame.loc[i, "error"] if "error" in frame else None)
        for i, s in status[~status.isin(VALID_STATUSES).fillna(False)].items()
    ]
    bad_seed = seed.isna() | (seed != np.round(seed))
    reason[bad_seed & (reason == "")] = "seed missing or not an integer"
    keep = reason == ""
    excluded = pd.DataFrame(
        {
            "architecture": frame.loc[~keep, "architecture"].to_numpy(),
            "seed": seed[~keep].to_numpy(),
            "status": status[~keep].astype(object).to_numpy(),
            "reason": reason[~keep].to_numpy(),
        },
        columns=list(_EXCLUDED_COLUMNS),
    )
    data = frame[keep].copy()
    data["seed"] = seed[keep].astype(np.int64)
    data["status"] = status[keep].astype(str)
    duplicated = data.duplicated(["architecture", "seed"], keep=False)
    if duplicated.any():
        pairs = sorted(
            {
                (a, int(s))
                for a, s in data.loc[duplicated, ["architecture", "seed"]].itertuples(index=False)
            }
        )
        raise ValueError(
            f"{where}: (architecture, seed) occurs more than once among usable rows: {pairs[:10]}"
        )
    return InstanceTable(
        data=data.reset_index(drop=True),
        excluded=excluded,
        metrics=metrics,
        source=source,
        run=run,
        ensembles=ensembles,
    )


def _status_reason(status: Any, error: Any) -> str:
    if status is pd.NA or status is None:
        return "status missing"
    text = f"status {status}"
    if (
        error is not None
        and not (isinstance(error, float) and np.isnan(error))
        and str(error).strip()
    ):
        text += f": {str(error).strip().splitlines()[-1][:200]}"
    return text


def _find_metrics(
    frame: pd.DataFrame, metric_cols: Sequence[str] | None, where: object
) -> tuple[str, ...]:
    if metric_cols is not None:
        _check_columns(frame, list(metric_cols), where, what="metric column")
        return tuple(metric_cols)
    found = [m for m in DEFAULT_METRICS if m in frame]
    found += [
        c
        for c in frame.columns
        if isinstance(c, str) and _METRIC_PATTERN.match(c) and c not in found
    ]
    if not found:
        raise ValueError(
            f"{where}: no metric column found (looked for {', '.join(DEFAULT_METRICS)} and "
            f"eval_/test_ IoU columns); columns present: {', '.join(map(str, frame.columns))}"
        )
    return tuple(found)


def _check_columns(frame: pd.DataFrame, needed: Sequence[str], where: object, what: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{where}: missing {what} {', '.join(repr(m) for m in missing)}; "
            f"columns present: {', '.join(map(str, frame.columns))}"
        )
