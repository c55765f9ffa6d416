"""The run report's section on a sequential run (``run --until-decided``).

A sequential run trains seeds in rounds and compares the reference with every other architecture
after each round by a group-sequential test (:mod:`analysis.sequential`); ``sequential.parquet``
holds one row per look per comparison (``FamilyState.frame()``) and ``run.json`` the design
(``"sequential": {"design": {...}, "reference": ARCH}``). The section shows, per comparison, the
statistic's path against its boundary and the repeated interval narrowing, the decision and the
look that reached it, and the seeds spent against the fixed plan (``max_seeds`` per architecture).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.report.context import ReportContext
from analysis.report.markup import arch_label, escape, note, table
from analysis.report.page import Page
from analysis.report.stat_figures import sequential_figure
from analysis.report.text import bounds_text, num, pvalue
from analysis.sequential import SequentialDesign

__all__ = [
    "SequentialView",
    "decision_text",
    "seeds_spent",
    "sequential_section",
    "sequential_view",
]

#: The columns of ``sequential.parquet`` the section reads.
_LOOK_COLUMNS = frozenset(
    {"reference", "other", "look", "seeds", "estimate", "z", "boundary", "low", "high"}
    | {"p_adjusted", "decision"}
)


def decision_text(decision: str, reference: str, other: str, design: Mapping[str, Any]) -> str:
    """A decision code of :data:`analysis.sequential.DECISIONS` in words."""
    if decision == "reference_better":
        return f"{reference} better"
    if decision == "other_better":
        return f"{other} better"
    if decision == "futile":
        margin = design.get("min_effect")
        return f"futile: no difference as large as {margin:g}" if margin else "futile"
    return "undecided"


def seeds_spent(ctx: ReportContext, architectures: list[str]) -> dict[str, int]:
    """Seeds trained (finished, failed or stopped) per architecture of the sequential family,
    counted from the instances table."""
    frames = [ctx.table.data[["architecture", "seed"]]]
    if len(ctx.table.excluded):
        frames.append(ctx.table.excluded[["architecture", "seed"]])
    every = pd.concat(frames, ignore_index=True).dropna()
    every = every.assign(architecture=every["architecture"].astype(str))
    pairs = set(zip(every["architecture"], every["seed"].astype(int)))
    return {a: sum(1 for arch, _ in pairs if arch == a) for a in architectures}


@dataclass(frozen=True)
class SequentialView:
    """What the section draws, from the analysis (recomputed) or from the run's files.

    Attributes:
        reference: the architecture every other is compared with.
        looks: one row per look per comparison (``FamilyState.frame()`` columns).
        design: the design's fields (``SequentialDesign``); {} when unknown.
        spent: seeds trained per architecture, the reference first.
        notes: where the numbers come from and whether the stored file agrees.
    """

    reference: str
    looks: pd.DataFrame
    design: dict[str, Any]
    spent: dict[str, int]
    notes: tuple[str, ...] = ()


def sequential_view(ctx: ReportContext) -> SequentialView | None:
    """The analysis' recomputed sequential decisions (``AnalysisReport.sequential``) when it has
    them, else ``sequential.parquet`` and ``run.json`` as stored; None for other runs."""
    seq: Any = getattr(ctx.analysis, "sequential", None)
    if seq is not None and len(getattr(seq, "looks", ())):
        design = asdict(seq.design) if seq.design is not None else {}
        others = list(dict.fromkeys(seq.looks["other"].astype(str)))
        spent = seeds_spent(ctx, [seq.reference, *others])
        if len(seq.seeds) and {"architecture", "trained"} <= set(seq.seeds.columns):
            trained = dict(zip(seq.seeds["architecture"].astype(str), seq.seeds["trained"]))
            spent = {a: int(trained.get(a, n)) for a, n in spent.items()}
        notes = list(seq.notes)
        if seq.matches_stored:
            notes.append("decisions recomputed from the instances; sequential.parquet agrees")
        notes += [f"sequential.parquet differs: {d}" for d in seq.differences]
        return SequentialView(seq.reference, seq.looks, design, spent, tuple(notes))
    looks = ctx.tables.get("sequential")
    info = ctx.run.get("sequential") or {}
    if looks is None and not info:
        return None
    if looks is None or not set(looks.columns) >= _LOOK_COLUMNS:
        looks = pd.DataFrame(columns=sorted(_LOOK_COLUMNS))
    reference = str(info.get("reference") or (looks["reference"].iloc[0] if len(looks) else ""))
    others = list(dict.fromkeys(looks["other"].astype(str)))
    design = dict(info.get("design") or {})
    notes = ("decisions as stored in sequential.parquet",) if len(looks) else ()
    return SequentialView(reference, looks, design, seeds_spent(ctx, [reference, *others]), notes)


def sequential_section(page: Page, ctx: ReportContext) -> str | None:
    """The section's HTML; None when the run is not sequential."""
    view = sequential_view(ctx)
    if view is None:
        return None
    if not len(view.looks):
        return note("sequential run without looks yet (no sequential.parquet): nothing decided")
    looks, design, reference = view.looks, view.design, view.reference
    max_seeds = int(design.get("max_seeds") or looks["seeds"].max())
    planned = max_seeds * len(view.spent)
    total = sum(view.spent.values())
    share = f" ({total / planned:.0%})" if planned else ""
    parts = [_design_line(design, reference)]
    parts.append(
        f"<p><b>spent {total} seeds of {planned}{share}</b> that the fixed plan ({max_seeds} per "
        "architecture) would train: "
        + ", ".join(f"{arch_label(a, ctx.colors)} {n}" for a, n in view.spent.items())
        + ".</p>"
    )
    if not getattr(ctx.analysis, "fixed_sample_valid", True):
        parts.append(
            note(
                "the number of seeds depended on the scores (optional stopping): the fixed-sample "
                "p-values and intervals of the sections below do not hold their level here; the "
                "repeated p-values and intervals of this section do"
            )
        )
    parts.append(_decision_table(looks, reference, design, ctx.colors))
    parts.append(
        page.figure(
            sequential_figure(
                looks,
                max_seeds=max_seeds,
                min_effect=design.get("min_effect"),
                two_sided=bool(design.get("two_sided", True)),
                colors=ctx.colors,
            ),
            "Left: the t statistic of each look on the z scale (same tail probability) and the "
            "alpha-spending boundary at the comparison's Holm level; a star marks the decision. "
            "Right: the difference reference - other with its repeated confidence interval (valid "
            "at every look at once); dashed: the futility margin. Seeds are per architecture.",
        )
    )
    parts += [note(n) for n in view.notes]
    return "\n".join(parts)


def _design_line(design: Mapping[str, Any], reference: str) -> str:
    if not design:
        return note("run.json holds no sequential design: boundaries as recorded per look")
    try:
        looks = ", ".join(map(str, SequentialDesign(**design).looks))
    except (TypeError, ValueError):  # a design of another version: say what it holds
        looks = "?"
    spending = f"{design.get('spending', '?')} spending"
    if design.get("spending") in ("hsd", "power"):
        spending += f" (parameter {design.get('parameter')})"
    margin = design.get("min_effect")
    text = (
        f"Reference {reference} against each other architecture: group-sequential "
        f"{'paired t' if design.get('paired', True) else 'Welch t'} tests, "
        f"{'two' if design.get('two_sided', True) else 'one'}-sided, family-wise alpha "
        f"{design.get('alpha')} ({design.get('correction', 'holm')} over the comparisons), "
        f"{spending}; looks at {looks} seeds per architecture; "
        + (f"futility margin {margin:g}." if margin else "no futility stop.")
    )
    return f"<p>{escape(text)}</p>"


def _decision_table(
    looks: pd.DataFrame, reference: str, design: Mapping[str, Any], colors: Mapping[str, str]
) -> str:
    rows = []
    max_seeds = design.get("max_seeds")
    for other, group in looks.groupby(looks["other"].astype(str), sort=False):
        group = group.sort_values("look")
        last = group.iloc[-1]
        decided = group[group["decision"].astype(str) != "undecided"]
        decision = str(last["decision"])
        words = decision_text(decision, reference, other, design)
        if decision == "undecided":
            at_max = max_seeds is not None and int(last["seeds"]) >= int(max_seeds)
            words = "inconclusive at max seeds" if at_max else "undecided (more rounds to come)"
        when = (
            f"look {int(decided.iloc[0]['look'])} ({int(decided.iloc[0]['seeds'])} seeds)"
            if len(decided)
            else ""
        )
        low, high = float(last.get("low", np.nan)), float(last.get("high", np.nan))
        rows.append(
            [
                f"{escape(reference)} vs {arch_label(other, colors)}",
                f'<span class="decision-yes">{escape(words)}</span>'
                if len(decided)
                else escape(words),
                escape(when),
                str(len(group)),
                f"{num(last.get('estimate'), signed=True)} "
                f'<span class="ci">{escape(bounds_text(low, high))}</span>',
                escape(pvalue(last.get("p_adjusted"))),
            ]
        )
    header = [
        "comparison",
        "decision",
        "reached at",
        "looks",
        "reference - other [repeated CI], last look",
        "repeated p (Holm)",
    ]
    return table(header, rows, numeric=(3, 5))
