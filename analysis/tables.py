"""The paper's Table 1: best ensembles, best single instances and baselines.

Layout (Guay et al. 2020, Table 1): (a) for each architecture the best top-k ensemble, "Top-k
<arch>", k chosen to maximize eval MIoU(all) among its top-k ensembles; (b) the best single
instance (highest eval MIoU(all)) of each non-baseline architecture; (c) the same for baselines.
Selection uses the eval score only; test scores are reported, never used to choose.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.files import atomic_write_csv, atomic_write_text
from analysis.io import natural_key

__all__ = [
    "DEFAULT_BASELINES",
    "TABLE1_HEADERS",
    "TABLE1_METRICS",
    "TABLE1_SECTIONS",
    "Table1",
    "table1",
    "to_markdown",
    "write_csv",
    "write_markdown",
]

#: Architectures reported in section (c): the paper's comparison networks.
DEFAULT_BASELINES: frozenset[str] = frozenset(
    {"unet_original", "unet3d_thin", "unet3d_thick", "deeplab_drn", "deeplab_resnet101", "deepvess"}
)
TABLE1_METRICS: tuple[str, ...] = ("eval_miou_all", "eval_miou_org", "test_miou_org")
#: Column headings of the metrics and the parameter count (Markdown and the HTML report).
TABLE1_HEADERS = {
    "eval_miou_all": "Eval MIoU (all)",
    "eval_miou_org": "Eval MIoU (org)",
    "test_miou_org": "Test MIoU (org)",
    "test_miou_all": "Test MIoU (all)",
    "params": "Parameters",
}
#: Sub-heading of each section (Markdown and the HTML report).
TABLE1_SECTIONS = {
    "ensemble": "(a) ensembles",
    "single": "(b) single instances",
    "baseline": "(c) baselines",
}


@dataclass(frozen=True)
class Table1:
    """Rows ``section, label, architecture, seed, k, <metrics...>, params`` and notes.

    ``section`` is "ensemble", "single" or "baseline"; ``seed`` is set for single instances, ``k``
    for ensembles. ``params`` of an ensemble counts all k members.
    """

    frame: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)


def table1(
    instances: pd.DataFrame,
    ensembles: pd.DataFrame | None = None,
    *,
    baselines: Collection[str] = DEFAULT_BASELINES,
    select_by: str = "eval_miou_all",
    metrics: Sequence[str] = TABLE1_METRICS,
    architecture_col: str = "architecture",
    seed_col: str = "seed",
    params_col: str = "params",
    higher_is_better: bool = True,
) -> Table1:
    """Builds Table 1 from usable instances and, when given, scored ensembles.

    Args:
        instances: one row per usable instance (e.g. :attr:`analysis.io.InstanceTable.data`).
        ensembles: columns ``architecture, selection ("top"/"random"), k`` and the metrics; None
            omits section (a).
        baselines: architecture names reported in section (c) instead of (b).
        select_by: column maximized (minimized when ``higher_is_better`` is False) to choose the
            best instance / k.
        metrics: score columns shown; missing ones are shown as NaN with a note.
        architecture_col, seed_col, params_col: column names in ``instances``.
        higher_is_better: direction of ``select_by`` (False for a loss or a distance).
    """
    notes: list[str] = []
    if select_by not in instances:
        raise ValueError(
            f"instances have no {select_by!r} column to select by; columns: {', '.join(instances.columns)}"
        )
    for m in metrics:
        if m not in instances:
            notes.append(f"instances have no {m} column: shown as NaN")
    params = _params_per_architecture(instances, architecture_col, params_col)
    rows = _ensemble_rows(ensembles, select_by, metrics, params, notes, higher_is_better)
    scored = instances[pd.to_numeric(instances[select_by], errors="coerce").notna()]
    for arch in sorted(scored[architecture_col].unique(), key=natural_key):
        group = scored[scored[architecture_col] == arch]
        values = pd.to_numeric(group[select_by])
        best = group.loc[values.idxmax() if higher_is_better else values.idxmin()]
        section = "baseline" if arch in baselines else "single"
        row = {
            "section": section,
            "label": arch,
            "architecture": arch,
            "seed": int(best[seed_col]),
            "k": 1,
        }
        row.update({m: _float(best.get(m)) for m in metrics})
        row["params"] = params.get(arch, np.nan)
        rows.append(row)
    order = {"ensemble": 0, "single": 1, "baseline": 2}
    frame = pd.DataFrame(
        rows, columns=["section", "label", "architecture", "seed", "k", *metrics, "params"]
    )
    frame["seed"] = frame["seed"].astype("Int64")
    frame["k"] = frame["k"].astype("Int64")
    frame = frame.sort_values("section", key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True
    )
    return Table1(frame=frame, notes=tuple(notes))


def _params_per_architecture(
    instances: pd.DataFrame, arch_col: str, params_col: str
) -> dict[str, float]:
    if params_col not in instances:
        return {}
    values = pd.to_numeric(instances[params_col], errors="coerce")
    return {
        a: float(v)
        for a, v in values.groupby(instances[arch_col]).median().items()
        if np.isfinite(v)
    }


def _ensemble_rows(ensembles, select_by, metrics, params, notes, higher_is_better=True):
    if ensembles is None or len(ensembles) == 0:
        notes.append("no ensemble results: section (a) omitted")
        return []
    needed = ["architecture", "selection", "k", select_by]
    missing = [c for c in needed if c not in ensembles]
    if missing:
        notes.append(f"ensembles lack {', '.join(missing)}: section (a) omitted")
        return []
    top = ensembles[
        (ensembles["selection"].astype(str).str.lower() == "top") & ensembles[select_by].notna()
    ]
    rows = []
    for arch in sorted(top["architecture"].unique(), key=natural_key):
        group = top[top["architecture"] == arch]
        best = group.loc[
            group[select_by].idxmax() if higher_is_better else group[select_by].idxmin()
        ]
        k = int(best["k"])
        row = {
            "section": "ensemble",
            "label": f"Top-{k} {arch}",
            "architecture": arch,
            "seed": None,
            "k": k,
        }
        row.update({m: _float(best.get(m)) for m in metrics})
        row["params"] = k * params[arch] if arch in params else np.nan
        rows.append(row)
    if not rows:
        notes.append("no top-k ensembles with a score: section (a) omitted")
    return rows


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def to_markdown(table: Table1 | pd.DataFrame, digits: int = 3) -> str:
    """GitHub Markdown, one sub-heading row per section, scores with ``digits`` decimals."""
    frame = table.frame if isinstance(table, Table1) else table
    metrics = [
        c
        for c in frame.columns
        if c not in ("section", "label", "architecture", "seed", "k", "params")
    ]
    header = ["Model", *(TABLE1_HEADERS.get(m, m) for m in metrics), TABLE1_HEADERS["params"]]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|",
    ]
    for section, group in frame.groupby("section", sort=False):
        lines.append(f"| **{TABLE1_SECTIONS.get(section, section)}** |" + " |" * (len(header) - 1))
        for _, row in group.iterrows():
            label = (
                row["label"] if section == "ensemble" else f"{row['label']} (seed {row['seed']})"
            )
            cells = [label, *(_fmt(row[m], digits) for m in metrics), _fmt_params(row["params"])]
            lines.append("| " + " | ".join(cells) + " |")
    if isinstance(table, Table1):
        lines += ["", *(f"- {n}" for n in table.notes)] if table.notes else []
    return "\n".join(lines) + "\n"


def _fmt(v, digits: int) -> str:
    return "" if v is None or pd.isna(v) else f"{float(v):.{digits}f}"


def _fmt_params(v) -> str:
    return "" if v is None or pd.isna(v) else f"{int(round(float(v))):,}"


def write_csv(table: Table1, path: str | Path) -> Path:
    """Writes the table's rows as CSV (atomically)."""
    return atomic_write_csv(table.frame, path)


def write_markdown(table: Table1, path: str | Path, digits: int = 3) -> Path:
    """Writes :func:`to_markdown` (atomically)."""
    return atomic_write_text(path, to_markdown(table, digits))
