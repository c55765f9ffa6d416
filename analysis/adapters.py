"""Tables from other tools, turned into one row per (architecture, seed) with metric columns.

:func:`analysis.io.load_instances` reads four layouts (``format``):

* ``wide`` (this project's ``instances.parquet`` and most hand-made tables): one row per
  architecture and seed, one column per metric.
* ``tune``: a Ray Tune results frame (``ExperimentAnalysis.dataframe()`` /
  ``ResultGrid.get_dataframe()``): the trial's configuration in ``config/...`` columns (nested
  keys joined with ``/``), its last reported metrics as plain columns, Tune's bookkeeping
  (``trial_id``, ``training_iteration``, ``time_total_s``, ``done``, ...). ``config/`` is stripped
  (``config/instance/arch`` becomes ``arch`` when that name is free), a trial with ``done`` False
  gets status ``not done`` (listed as excluded), ``time_total_s`` becomes ``wall_time_s``.
* ``optuna``: a study's ``trials_dataframe()`` (or the :class:`optuna.study.Study` itself):
  ``number``, ``value`` (``values_<name>`` with several objectives), ``params_*``,
  ``user_attrs_*``, ``state``. The prefixes are stripped (``params_`` first), ``state`` becomes
  the status (COMPLETE: finished; PRUNED, FAIL, RUNNING: excluded with the state), ``duration``
  becomes ``wall_time_s``. A Study also gives the direction of its objective.
* ``long``: one row per architecture, seed, metric name and value (columns such as
  ``metric``/``name``/``variable`` and ``value``/``score``), pivoted to ``wide``.

:func:`detect_format` recognises them for ``format="auto"`` and says why. Every adapter returns
an :class:`Adapted` with the candidate metric columns in order, so that a hyper-parameter or a
bookkeeping number is never taken for a score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BOOKKEEPING_COLUMNS",
    "FORMATS",
    "LONG_NAME_COLUMNS",
    "LONG_VALUE_COLUMNS",
    "Adapted",
    "adapt",
    "detect_format",
    "from_long",
    "from_optuna",
    "from_tune",
    "is_optuna_study",
    "numeric_candidates",
]

#: Values of ``format``.
FORMATS: tuple[str, ...] = ("auto", "wide", "long", "tune", "optuna")
#: Columns naming the metric in a long table, and holding its value (first match wins).
LONG_NAME_COLUMNS: tuple[str, ...] = ("metric", "metric_name", "name", "variable", "key")
LONG_VALUE_COLUMNS: tuple[str, ...] = ("value", "metric_value", "score")
#: Numeric columns that are never a score: this project's, Ray Tune's and Optuna's bookkeeping.
BOOKKEEPING_COLUMNS: frozenset[str] = frozenset(
    {
        # this project
        "seed", "best_step", "steps", "epochs", "params", "wall_time_s", "resumed_from_step",
        # Ray Tune
        "training_iteration", "time_this_iter_s", "time_total_s", "timestamp", "pid",
        "time_since_restore", "iterations_since_restore", "timesteps_total", "episodes_total",
        "timesteps_since_restore", "done", "trial_id", "experiment_tag", "hostname", "node_ip",
        "date", "logdir", "checkpoint_dir_name", "should_checkpoint",
        # Optuna
        "number", "duration", "datetime_start", "datetime_complete", "state",
    }
)  # fmt: skip
_OPTUNA_STATES = {"COMPLETE": "finished", "PRUNED": "pruned", "FAIL": "failed"}


@dataclass(frozen=True)
class Adapted:
    """A table in the ``wide`` layout, before the identifying columns are checked.

    Attributes:
        frame: the rows; architecture and seed columns keep their (possibly un-prefixed) names.
        metrics: candidate metric columns in order of preference (empty: decide from the data).
        notes: what the adapter did, one sentence each (printed by ``analyze``).
        higher_is_better: the objective's direction when the source knows it (an Optuna study),
            else None.
        hyperparameters: columns that came from a configuration (``config/``, ``params_``): never
            metric candidates.
    """

    frame: pd.DataFrame
    metrics: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    higher_is_better: bool | None = None
    hyperparameters: tuple[str, ...] = ()


def is_optuna_study(obj: Any) -> bool:
    """Whether ``obj`` looks like an :class:`optuna.study.Study` (duck-typed: optuna stays optional)."""
    return hasattr(obj, "trials_dataframe") and hasattr(obj, "directions")


def detect_format(frame: pd.DataFrame) -> tuple[str, str]:
    """``(format, reason)`` for ``format="auto"``: "tune", "optuna", "long" or "wide"."""
    columns = [str(c) for c in frame.columns]
    config = [c for c in columns if c.startswith("config/")]
    if config:
        return "tune", f"{len(config)} config/ column(s), as Ray Tune writes"
    params = [c for c in columns if c.startswith(("params_", "user_attrs_"))]
    objective = [c for c in columns if c == "value" or c.startswith("values_")]
    if params and objective and ("state" in columns or "number" in columns):
        return "optuna", f"{', '.join(objective[:2])} and params_ columns, as Optuna writes"
    name = _first(columns, LONG_NAME_COLUMNS)
    value = _first(columns, LONG_VALUE_COLUMNS)
    if name is not None and value is not None and not pd.api.types.is_numeric_dtype(frame[name]):
        return "long", f"a {name!r} column naming metrics and a {value!r} column of values"
    return "wide", "one column per metric"


def adapt(frame_or_study: Any, format: str) -> Adapted:
    """Applies the ``format``'s adapter; ``wide`` and ``long`` are left for later steps."""
    if format == "tune":
        return from_tune(frame_or_study)
    if format == "optuna" or is_optuna_study(frame_or_study):
        return from_optuna(frame_or_study)
    return Adapted(frame_or_study.copy())


def from_tune(frame: pd.DataFrame) -> Adapted:
    """A Ray Tune results frame in the ``wide`` layout (see the module docstring)."""
    frame = frame.copy()
    notes = []
    config = [str(c) for c in frame.columns if str(c).startswith("config/")]
    renames = _strip_prefixes(frame, config, lambda c: c.split("/")[-1], "config/")
    frame = frame.rename(columns=renames)
    hyper = tuple(renames.get(c, c) for c in config)
    if renames:
        notes.append(
            "Ray Tune configuration columns: "
            + ", ".join(f"{old} -> {new}" for old, new in list(renames.items())[:8])
            + (" ..." if len(renames) > 8 else "")
        )
    if "status" not in frame and "done" in frame:
        done = frame["done"].map(_truthy)
        frame["status"] = np.where(done == False, "not done", "finished")  # noqa: E712
    if "wall_time_s" not in frame and "time_total_s" in frame:
        frame["wall_time_s"] = pd.to_numeric(frame["time_total_s"], errors="coerce")
        notes.append("time per instance: Tune's time_total_s")
    metrics = numeric_candidates(frame, exclude=set(hyper))
    return Adapted(frame, metrics, tuple(notes), None, hyper)


def from_optuna(frame_or_study: Any) -> Adapted:
    """An Optuna ``trials_dataframe()`` (or a Study) in the ``wide`` layout.

    A Study also gives the objective's direction (several objectives: the first one's, noted).
    """
    higher = None
    notes = []
    if is_optuna_study(frame_or_study):
        study = frame_or_study
        frame = study.trials_dataframe()
        directions = [str(getattr(d, "name", d)).upper() for d in study.directions]
        higher = directions[0] == "MAXIMIZE"
        notes.append(
            f"Optuna study {getattr(study, 'study_name', '')!r}: objective "
            f"{'maximized' if higher else 'minimized'}"
            + (f" (first of {len(directions)} objectives)" if len(directions) > 1 else "")
        )
    else:
        frame = frame_or_study.copy()
    columns = [str(c) for c in frame.columns]
    params = [c for c in columns if c.startswith("params_")]
    attrs = [c for c in columns if c.startswith("user_attrs_")]
    renames = _strip_prefixes(frame, params, lambda c: c[len("params_") :], "params_")
    taken = set(renames.values())
    renames.update(
        {
            old: new
            for old, new in _strip_prefixes(
                frame, attrs, lambda c: c[len("user_attrs_") :], "user_attrs_"
            ).items()
            if new not in taken
        }
    )
    frame = frame.rename(columns=renames)
    hyper = tuple(renames.get(c, c) for c in params)
    if "state" in frame and "status" not in frame:
        state = frame["state"].astype("string").str.upper().str.replace("TRIALSTATE.", "")
        frame["status"] = [_OPTUNA_STATES.get(s, str(s).lower()) for s in state.fillna("missing")]
    if "duration" in frame and "wall_time_s" not in frame:
        frame["wall_time_s"] = pd.to_timedelta(
            frame["duration"], errors="coerce"
        ).dt.total_seconds()
        notes.append("time per instance: Optuna's trial duration")
    objectives = [c for c in frame.columns if c == "value" or str(c).startswith("values_")]
    attrs_now = [renames.get(c, c) for c in attrs]
    metrics = tuple(objectives) + tuple(
        c for c in numeric_candidates(frame, exclude=set(hyper)) if c in attrs_now
    )
    return Adapted(frame, metrics, tuple(notes), higher, hyper)


def from_long(
    frame: pd.DataFrame,
    architecture_col: str,
    seed_col: str,
    where: object = "table",
    name_col: str | None = None,
    value_col: str | None = None,
) -> Adapted:
    """A long table (one row per architecture, seed, metric name and value) pivoted to ``wide``.

    Other columns (``status``, ``identity``, ``wall_time_s``, ...) are kept when they have one
    value per (architecture, seed), and dropped with a note otherwise.

    Raises:
        ValueError: no name/value columns, a non-numeric value, or an (architecture, seed,
            metric) given twice (the message names them).
    """
    columns = [str(c) for c in frame.columns]
    name_col = name_col or _first(columns, LONG_NAME_COLUMNS)
    value_col = value_col or _first(columns, LONG_VALUE_COLUMNS)
    if name_col is None or value_col is None:
        raise ValueError(
            f"{where}: a long table needs a metric-name column ({', '.join(LONG_NAME_COLUMNS)}) "
            f"and a value column ({', '.join(LONG_VALUE_COLUMNS)}); columns present: "
            f"{', '.join(columns)}"
        )
    keys = [architecture_col, seed_col]
    values = pd.to_numeric(frame[value_col], errors="coerce")
    bad = values.isna() & frame[value_col].notna()
    if bad.any():
        rows = ", ".join(f"{i} ({frame.loc[i, value_col]!r})" for i in frame.index[bad][:5])
        raise ValueError(f"{where}: {value_col!r} holds values that are not numbers: rows {rows}")
    frame = frame.assign(**{value_col: values, name_col: frame[name_col].astype(str)})
    dup = frame.duplicated([*keys, name_col], keep=False)
    if dup.any():
        first = frame.loc[dup, [*keys, name_col]].drop_duplicates().head(5)
        listed = ", ".join(str(tuple(r)) for r in first.itertuples(index=False))
        raise ValueError(f"{where}: (architecture, seed, metric) given more than once: {listed}")
    wide = frame.pivot(index=keys, columns=name_col, values=value_col)
    wide.columns = [str(c) for c in wide.columns]
    metrics = tuple(wide.columns)
    extra = [c for c in frame.columns if c not in (*keys, name_col, value_col)]
    notes = [f"long table: {len(metrics)} metric(s) from {name_col!r}/{value_col!r}"]
    constant = []
    for c in extra:
        if c in wide.columns:
            continue
        per_key = frame.groupby(keys, dropna=False)[c].nunique(dropna=False)
        if (per_key <= 1).all():
            constant.append(c)
        else:
            notes.append(f"column {c!r} differs between metrics of one instance: dropped")
    if constant:
        wide = wide.join(frame.groupby(keys, dropna=False)[constant].first())
    return Adapted(wide.reset_index(), metrics, tuple(notes))


def _first(columns: Sequence[str], wanted: Sequence[str]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[w] for w in wanted if w in lower), None)


def _truthy(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


def _strip_prefixes(frame: pd.DataFrame, columns: Sequence[str], short, prefix: str) -> dict:
    """``{old: new}``: the short name when it is free and unique, else the name minus ``prefix``."""
    shorts = [short(c) for c in columns]
    existing = {str(c) for c in frame.columns} - set(columns)
    out = {}
    for c, s in zip(columns, shorts):
        if s and shorts.count(s) == 1 and s not in existing:
            out[c] = s
        elif c[len(prefix) :] not in existing:
            out[c] = c[len(prefix) :]
    return out


def numeric_candidates(frame: pd.DataFrame, exclude: set[str] = frozenset()) -> tuple[str, ...]:
    """Numeric (not boolean) columns that are neither in ``exclude`` nor bookkeeping."""
    return tuple(
        str(c)
        for c in frame.columns
        if str(c) not in exclude
        and str(c) not in BOOKKEEPING_COLUMNS
        and not str(c).startswith(("system_attrs_", "datetime_"))
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    )
