"""Loading a table of per-instance results (one row per architecture x seed).

The input is a run directory (``instances.parquet`` plus optional ``run.json`` and
``ensembles.parquet``) or any ``.csv`` / ``.parquet`` file with an architecture column, a seed
column and metric columns, in one of the layouts of :mod:`analysis.adapters` (wide, long, a Ray
Tune or an Optuna table). The architecture and seed columns may have other names
(:data:`ARCHITECTURE_ALIASES`, :data:`SEED_ALIASES`); the table says which it used. Failed
instances and instances with unusable rows are never silently dropped: they are moved to
:attr:`InstanceTable.excluded` with a reason.
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

from analysis.adapters import (
    FORMATS,
    adapt,
    detect_format,
    from_long,
    is_optuna_study,
    numeric_candidates,
)

__all__ = [
    "ARCHITECTURE_ALIASES",
    "BOUNDED_METRIC",
    "DEFAULT_METRICS",
    "SEED_ALIASES",
    "VALID_STATUSES",
    "InstanceTable",
    "as_instance_table",
    "check_bounds",
    "check_identities",
    "format_seeds",
    "identity_counts",
    "is_bounded_metric",
    "load_instances",
    "metric_problem",
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
#: Names recognised (case-insensitively, in this order) when the table has no ``architecture``
#: / ``seed`` column and none was named.
ARCHITECTURE_ALIASES: tuple[str, ...] = ("architecture", "arch", "model", "method", "network")
SEED_ALIASES: tuple[str, ...] = ("seed", "run", "replicate")
#: Metric names whose values must lie in [0, 1]: an IoU, MIoU, Dice or Jaccard score as a word
#: of the name (``eval_miou_all``, ``Dice``, ``test_iou_org``, ``mean_jaccard``).
BOUNDED_METRIC = re.compile(r"(?:^|[^a-z0-9])m?(?:iou|dice|jaccard|dsc)(?:$|[^a-z0-9])", re.I)


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
        format: the layout read ("wide", "long", "tune", "optuna"; see :mod:`analysis.adapters`).
        columns: ``{"architecture": name, "seed": name}``: the source's columns that became them.
        notes: how the table was read (detected layout, recognised column names), one sentence
            each.
        higher_is_better: the objective's direction when the source says (an Optuna study).
    """

    data: pd.DataFrame
    excluded: pd.DataFrame
    metrics: tuple[str, ...]
    source: Path | None = None
    run: Mapping[str, Any] = field(default_factory=dict)
    ensembles: pd.DataFrame | None = None
    architecture_col: str = "architecture"
    seed_col: str = "seed"
    format: str = "wide"
    columns: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    higher_is_better: bool | None = None

    @property
    def architectures(self) -> tuple[str, ...]:
        """Architectures with at least one usable row, in natural order."""
        return tuple(sorted(self.data[self.architecture_col].unique(), key=natural_key))

    @property
    def run_dir(self) -> Path | None:
        """The run directory when the table was loaded from one."""
        return self.source if self.source is not None and self.source.is_dir() else None

    def default_metric(self) -> tuple[str, str]:
        """The metric analysed when none is named, and why.

        The first of :data:`DEFAULT_METRICS` present, else an Optuna study's objective
        (``value``), else the table's only metric column.

        Raises:
            ValueError: several columns could be the metric (the message lists them).
        """
        for m in DEFAULT_METRICS:
            if m in self.metrics:
                return m, "the default"
        if self.format == "optuna" and "value" in self.metrics:
            return "value", "the study's objective"
        if len(self.metrics) == 1:
            return self.metrics[0], "the table's only metric column"
        raise ValueError(
            f"{self.source or 'table'}: several columns could be the metric: "
            f"{', '.join(self.metrics)}; choose one with --metric NAME"
        )

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
    """Reads a ``.csv``, ``.parquet`` (``.pq``) or ``.tsv`` file into a DataFrame.

    Raises:
        FileNotFoundError: no such file.
        ValueError: another suffix, or an empty file (the message names the file).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or directory: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".tsv"):
        raise ValueError(f"{path}: unsupported table format {suffix!r}; use .csv or .parquet")
    if path.is_file() and path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty (no header, no rows)")
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the file is empty (no header, no rows)") from None


def load_instances(
    path: str | Path | pd.DataFrame | Any,
    architecture_col: str = "architecture",
    seed_col: str = "seed",
    metric_cols: Sequence[str] | None = None,
    status_col: str = "status",
    format: str = "auto",
) -> InstanceTable:
    """Loads and cleans a per-instance table.

    Args:
        path: a run directory holding ``instances.parquet`` (or ``instances.csv``), a ``.csv`` /
            ``.parquet`` file, an in-memory DataFrame or an Optuna study.
        architecture_col: column naming the architecture; renamed to ``architecture``. When it is
            the default and absent, :data:`ARCHITECTURE_ALIASES` are tried (case-insensitively)
            and :attr:`InstanceTable.notes` says which column was used.
        seed_col: column holding the integer seed; renamed to ``seed``; :data:`SEED_ALIASES` as
            above.
        metric_cols: metric columns to require; None finds them (:data:`DEFAULT_METRICS` and
            ``eval_*``/``test_*`` IoU columns first, then the layout's other numeric columns that
            are neither configuration nor bookkeeping, :data:`analysis.adapters.BOOKKEEPING_COLUMNS`).
        status_col: column with "finished" / "early_stopped" / "failed"; when absent every row
            counts as finished.
        format: "auto" (detect; a run directory is "wide"), "wide", "long", "tune" or "optuna"
            (see :mod:`analysis.adapters`).

    Returns:
        An :class:`InstanceTable`; rows whose status is not in :data:`VALID_STATUSES` (or whose seed
        is missing) are in ``excluded`` with a reason.

    Raises:
        ValueError: an empty file or table, a required column is missing (the message names the
            file and lists the columns present), several columns could be the architecture (or
            seed), no metric column is found, or an (architecture, seed) pair occurs twice among
            usable rows.
        FileNotFoundError: the path does not exist or a run directory has no instances table.
    """
    fmt = str(format).lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {format!r}; use one of {', '.join(FORMATS)}")
    source, run, ensembles = None, {}, None
    study = is_optuna_study(path)
    if isinstance(path, pd.DataFrame) or study:
        frame = path if study else path.copy()
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
            fmt = "wide" if fmt == "auto" else fmt
        else:
            frame = read_table(source)
    where = source or "table"
    notes: list[str] = []
    if fmt == "auto":
        if study:
            fmt = "optuna"
        else:
            fmt, why = detect_format(frame)
            if fmt != "wide":
                notes.append(f"format {fmt} detected ({why}); --format wide reads it as it is")
    adapted = adapt(frame, fmt)
    frame = adapted.frame
    notes += adapted.notes
    if len(frame) == 0:
        raise ValueError(
            f"{where}: the table has no rows (columns: {', '.join(map(str, frame.columns))})"
        )
    arch_name = _resolve_column(
        frame, architecture_col, "architecture", ARCHITECTURE_ALIASES, where, notes
    )
    seed_name = _resolve_column(frame, seed_col, "seed", SEED_ALIASES, where, notes)
    candidates = adapted.metrics
    if fmt == "long":
        long = from_long(frame, arch_name, seed_name, where)
        frame, candidates = long.frame, long.metrics
        notes += long.notes
    renames = {arch_name: "architecture", seed_name: "seed", status_col: "status"}
    for old, new in renames.items():
        if new in frame.columns and old != new and old in frame.columns:
            # the named column wins; the other keeps its values under another name
            frame = frame.rename(columns={new: f"{new}_original"})
            notes.append(f"the table's own {new!r} column is kept as '{new}_original'")
    frame = frame.rename(columns=renames)
    # A run whose every instance failed has no scores: it still loads (its failures are the
    # finding), with no metric.
    any_usable = "status" not in frame or bool(
        frame["status"].astype("string").str.strip().str.lower().isin(VALID_STATUSES).any()
    )
    metrics = _find_metrics(
        frame, metric_cols, where, candidates, adapted.hyperparameters, required=any_usable
    )

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
        format=fmt,
        columns={"architecture": arch_name, "seed": seed_name},
        notes=tuple(notes),
        higher_is_better=adapted.higher_is_better,
    )


def as_instance_table(
    source: str | Path | pd.DataFrame | InstanceTable | Any,
    architecture_col: str = "architecture",
    seed_col: str = "seed",
    format: str = "auto",
) -> InstanceTable:
    """``source`` itself when it is an :class:`InstanceTable` (the other arguments are then
    ignored), else :func:`load_instances` of it."""
    if isinstance(source, InstanceTable):
        return source
    return load_instances(
        source, architecture_col=architecture_col, seed_col=seed_col, format=format
    )


def _resolve_column(
    frame: pd.DataFrame,
    requested: str,
    default: str,
    aliases: Sequence[str],
    where: object,
    notes: list[str],
) -> str:
    """The column playing ``default``'s role: ``requested`` when present, else (only when it is
    the default) the one alias present, with a note saying so."""
    columns = [str(c) for c in frame.columns]
    if requested in columns:
        return requested
    flag = f"--{default}-column"
    present = f"columns present: {', '.join(columns)}"
    if requested != default:
        raise ValueError(f"{where}: missing column {requested!r}; {present}")
    found = list(dict.fromkeys(c for a in aliases for c in columns if c.lower() == a))
    if not found:
        raise ValueError(
            f"{where}: missing column {default!r}; {present} (name yours with {flag} NAME)"
        )
    if len(found) > 1:
        raise ValueError(
            f"{where}: no {default!r} column and several that could be it: {', '.join(found)}; "
            f"choose one with {flag} NAME"
        )
    notes.append(f"{default} column: {found[0]!r} (no {default!r} column; {flag} chooses another)")
    return found[0]


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
    frame: pd.DataFrame,
    metric_cols: Sequence[str] | None,
    where: object,
    candidates: Sequence[str] = (),
    hyperparameters: Sequence[str] = (),
    required: bool = True,
) -> tuple[str, ...]:
    """Metric columns: the ones asked for, else the usable (numeric, not empty) preferred ones,
    the layout's candidates, then other numeric columns that are not bookkeeping; none found is
    an error when ``required``."""
    if metric_cols is not None:
        _check_columns(frame, list(metric_cols), where, what="metric column")
        return tuple(metric_cols)
    found = [m for m in DEFAULT_METRICS if m in frame]
    found += [c for c in frame.columns if isinstance(c, str) and _METRIC_PATTERN.match(c)]
    found += list(candidates)
    if not candidates:
        found += [
            c
            for c in numeric_candidates(frame, exclude=set(hyperparameters))
            if c not in ("architecture", "status")
        ]
    found = [c for c in dict.fromkeys(found) if _usable_metric(frame, c)]
    if not found and required:
        unusable = [
            f"{c}: {metric_problem(frame, c)}"
            for c in frame.columns
            if c not in ("architecture", "seed", "status", "error") and metric_problem(frame, c)
        ]
        why = f"; {'; '.join(unusable[:5])}" if unusable else ""
        raise ValueError(
            f"{where}: no metric column found (looked for {', '.join(DEFAULT_METRICS)}, "
            f"eval_/test_ IoU columns and other numeric columns with values); columns present: "
            f"{', '.join(map(str, frame.columns))}{why}"
        )
    return tuple(found)


def _usable_metric(frame: pd.DataFrame, column: str) -> bool:
    values = frame[column]
    return (
        pd.api.types.is_numeric_dtype(values)
        and not pd.api.types.is_bool_dtype(values)
        and bool(values.notna().any())
    )


def metric_problem(frame: pd.DataFrame, column: str) -> str | None:
    """Why ``column`` cannot be a metric (missing, empty, not numeric), or None when it can."""
    if column not in frame.columns:
        return "no such column"
    values = frame[column]
    if pd.api.types.is_bool_dtype(values):
        return "it holds true/false values, not scores"
    if values.notna().sum() == 0:
        return f"the column is empty (no value in any of its {len(values)} rows)"
    if not pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna() & values.notna()]
        examples = ", ".join(repr(v) for v in list(dict.fromkeys(bad.astype(str)))[:3])
        return f"it is not numeric ({len(bad)} value(s) are not numbers, e.g. {examples})"
    return None


def _check_columns(frame: pd.DataFrame, needed: Sequence[str], where: object, what: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{where}: missing {what} {', '.join(repr(m) for m in missing)}; "
            f"columns present: {', '.join(map(str, frame.columns))}"
        )


# ------------------------------------------------------------------------------ checks
def is_bounded_metric(name: str) -> bool:
    """Whether ``name`` is an IoU/MIoU/Dice/Jaccard score (:data:`BOUNDED_METRIC`): values in [0, 1]."""
    return bool(BOUNDED_METRIC.search(str(name)))


def check_bounds(table: InstanceTable, columns: Sequence[str]) -> None:
    """Every IoU/Dice-like column among ``columns`` lies in [0, 1] on the usable rows.

    Raises:
        ValueError: one line naming the column, the rows (architecture and seed) and the values.
    """
    for column in dict.fromkeys(columns):
        if column not in table.data.columns or not is_bounded_metric(column):
            continue
        values = pd.to_numeric(table.data[column], errors="coerce")
        bad = values.notna() & ~values.between(0.0, 1.0)
        if not bad.any():
            continue
        rows = table.data.loc[bad, ["architecture", "seed"]].assign(value=values[bad])
        listed = ", ".join(
            f"{r.architecture} seed {int(r.seed)} = {r.value:g}" for r in rows.head(8).itertuples()
        )
        more = f" and {len(rows) - 8} more" if len(rows) > 8 else ""
        hint = " (percentages? divide by 100)" if (values[bad] > 1).all() else ""
        raise ValueError(
            f"{table.source or 'table'}: {column} is an IoU/Dice score but {len(rows)} row(s) lie "
            f"outside [0, 1]: {listed}{more}{hint}"
        )


def identity_counts(table: InstanceTable) -> dict[str, dict[str, int]]:
    """``{architecture: {identity: usable rows}}`` from the ``identity`` column (rows without one
    count as ``"(none)"``); ``{}`` when the table has no such column."""
    if "identity" not in table.data.columns:
        return {}
    ids = table.data["identity"].astype("string").fillna("(none)")
    counts: dict[str, dict[str, int]] = {}
    for (arch, ident), n in ids.groupby(table.data["architecture"]).value_counts().items():
        counts.setdefault(str(arch), {})[str(ident)] = int(n)
    return counts


def check_identities(table: InstanceTable, allow_mixed: bool = False) -> tuple[str, ...]:
    """Refuses to treat rows trained under different configurations as one architecture's sample.

    Instance tables have an ``identity`` column: the hash of the configuration each row was
    trained under. Tables without it pass.

    Returns:
        With ``allow_mixed``, one note per mixed architecture (else ``()``).

    Raises:
        ValueError: an architecture's usable rows carry more than one identity (one line naming
            each such architecture, its identities and their row counts).
    """
    mixed = {a: c for a, c in identity_counts(table).items() if len(c) > 1}
    if not mixed:
        return ()
    parts = [
        f"{arch}: {len(c)} configurations ("
        + ", ".join(
            f"{ident} x {n}" for ident, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        + ")"
        for arch, c in sorted(mixed.items(), key=lambda kv: natural_key(kv[0]))
    ]
    if allow_mixed:
        return tuple(
            f"mixed configurations compared as one (--allow-mixed-identities): {p}" for p in parts
        )
    raise ValueError(
        f"{table.source or 'table'}: rows of one architecture were trained under different "
        f"configurations (identity x rows): {'; '.join(parts)}; compare one configuration, or "
        "pass --allow-mixed-identities to pool them"
    )


def format_seeds(seeds: Sequence[int] | np.ndarray, limit: int = 12) -> str:
    """``"0-2, 5, 7-9"``: sorted seeds with runs as ranges (at most ``limit`` items, then "...")."""
    values = sorted({int(s) for s in seeds})
    if not values:
        return "none"
    runs: list[str] = []
    start = prev = values[0]
    for v in [*values[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(runs[:limit]) + (", ..." if len(runs) > limit else "")
