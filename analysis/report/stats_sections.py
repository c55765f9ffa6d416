"""Sections of the run report that show statistics: Table 1, distributions and their summaries,
comparisons, the limits of these seeds, the power table and the average ranks.

Every interval names its method: a column header names the method its cells share, and a cell
whose method differs names its own; a withheld interval says how many seeds it needs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.analyze import AnalysisReport, small_sample_lines
from analysis.distributions import Estimate, kde
from analysis.report.context import ReportContext
from analysis.report.figures import distribution_figure
from analysis.report.markup import arch_label, escape, estimate_cell, note, table
from analysis.report.page import Page
from analysis.report.stat_figures import cd_diagram_figure, comparison_matrix_figure, forest_figure
from analysis.report.text import (
    bounds_text,
    correction_label,
    num,
    pvalue,
    verdict_level_label,
)
from analysis.tables import TABLE1_HEADERS, TABLE1_METRICS, TABLE1_SECTIONS

__all__ = [
    "DISTRIBUTION_METRICS",
    "HOVER_METRICS",
    "comparison_section",
    "distribution_section",
    "limits_section",
    "power_section",
    "ranks_section",
    "table1_section",
]

#: Metrics drawn as performance distributions (those present), as in the paper's Figure 4.
DISTRIBUTION_METRICS: tuple[str, ...] = TABLE1_METRICS
#: Columns of ``Table1.frame`` that are not scores.
_TABLE1_KEYS = frozenset({"section", "label", "architecture", "seed", "k", "params"})
#: Shown when hovering an instance.
HOVER_METRICS: tuple[str, ...] = (
    "eval_miou_all",
    "eval_miou_org",
    "test_miou_all",
    "test_miou_org",
    "final_eval_miou_all",
)


def _common_method(estimates: Sequence[Estimate]) -> str:
    """The method most intervals of a column were made with (withheld ones do not count)."""
    methods = Counter(e.method for e in estimates if e.method and not e.withheld)
    return methods.most_common(1)[0][0] if methods else ""


def _header(label: str, method: str) -> str:
    return f'{label}<br><span class="method">{escape(method)}</span>' if method else label


def _cells(estimates: Sequence[Estimate], digits: int = 4, signed: bool = False) -> list[str]:
    common = _common_method(estimates)
    return [estimate_cell(e, digits, signed=signed, method=e.method != common) for e in estimates]


# ------------------------------------------------------------------------------- Table 1
def table1_section(ctx: ReportContext) -> str:
    """The paper's Table 1: best ensembles, best single instances and baselines.

    Without an eval MIoU column the analysis builds it from its metric (best instance by that
    metric, in its direction); the bold best of each column follows the same direction.
    """
    analysis = ctx.analysis
    if analysis is None or analysis.table1 is None:
        return note("Table 1 unavailable (no eval_miou_all column or no usable instances)")
    frame = analysis.table1.frame
    metrics = [c for c in frame.columns if c not in _TABLE1_KEYS]
    paper = all(m in TABLE1_METRICS for m in metrics)
    higher = paper or getattr(analysis, "higher_is_better", True)
    best = {
        m: getattr(pd.to_numeric(frame[m], errors="coerce"), "max" if higher else "min")()
        for m in metrics
    }
    header = ["Model", *(TABLE1_HEADERS.get(m, m) for m in metrics), TABLE1_HEADERS["params"]]
    rows: list[list[str]] = []
    for section, group in frame.groupby("section", sort=False):
        heading = escape(TABLE1_SECTIONS.get(section, section))
        rows.append([f"<b>{heading}</b>", *[""] * (len(header) - 1)])
        for _, r in group.iterrows():
            label = r["label"] if section == "ensemble" else f"{r['label']} (seed {r['seed']})"
            cells = [escape(label)]
            for m in metrics:
                text = num(r[m], 3)
                bold = text and np.isclose(float(r[m]), best[m])
                cells.append(f"<b>{text}</b>" if bold else text)
            params = r["params"]
            cells.append("" if pd.isna(params) else f"{int(round(float(params))):,}")
            rows.append(cells)
    notes = "".join(note(n) for n in analysis.table1.notes)
    selected = (
        "selected by eval MIoU (all)"
        if paper
        else f"selected by {escape(analysis.metric)} ({'highest' if higher else 'lowest'})"
    )
    return (
        table(header, rows, numeric=range(1, len(header)), cls="table1")
        + f'<p class="caption">Layout of the paper\'s Table 1. Ensembles and single instances are '
        f"{selected}; test scores are reported, never used to select. Bold: best in the column. "
        "An ensemble's parameters count all its members.</p>" + notes
    )


# ------------------------------------------------------------------------- distributions
def distribution_section(page: Page, ctx: ReportContext) -> str:
    """One Figure-4 style distribution per metric, then the summary table."""
    analysis, data = ctx.analysis, ctx.table
    metrics = list(DISTRIBUTION_METRICS)
    if analysis is not None and analysis.metric not in metrics:
        metrics.insert(0, analysis.metric)
    metrics = [m for m in metrics if m in data.data]
    if not metrics or not data.architectures:
        return note("no usable instance with an eval/test MIoU column: distributions omitted")
    summaries = (
        {} if analysis is None else {(s.architecture, s.metric): s for s in analysis.summaries}
    )
    parts = []
    for i, m in enumerate(metrics):
        scores, _ = data.scores(m)
        kdes = {a: kde(s.to_numpy()) for a, s in scores.items() if len(s)}
        if not kdes:
            parts.append(note(f"{m}: every value is NaN; omitted"))
            continue
        fig = distribution_figure(
            data.data,
            m,
            kdes=kdes,
            summaries={a: summaries[(a, m)] for a in kdes if (a, m) in summaries},
            colors=ctx.colors,
            hover_metrics=HOVER_METRICS,
            jitter_seed=ctx.seed + i,
        )
        parts.append(
            page.figure(
                fig,
                "Histogram (density), Gaussian KDE and every instance as a point below the axis "
                "(hover for seed and scores). Bins are shared by all architectures.",
            )
        )
    if analysis is not None:
        parts.append("<h3>Summary</h3>" + _summary_table(analysis, ctx.colors))
    return "\n".join(parts)


def _summary_table(analysis: AnalysisReport, colors: dict[str, str]) -> str:
    pct = f"{analysis.level:.0%}"
    s = analysis.summaries
    columns = {name: [getattr(x, f"{name}_ci") for x in s] for name in ("mean", "median", "iqm")}
    cells = {name: _cells(ests) for name, ests in columns.items()}
    rows = [
        [
            escape(x.metric),
            arch_label(x.architecture, colors),
            str(x.n),
            cells["mean"][i],
            num(x.sd),
            cells["median"][i],
            cells["iqm"][i],
            num(x.min),
            num(x.max),
        ]
        for i, x in enumerate(s)
    ]
    header = [
        "metric",
        "architecture",
        "n",
        _header(f"mean [{pct} CI]", _common_method(columns["mean"])),
        "sd",
        _header("median [CI]", _common_method(columns["median"])),
        _header("IQM [CI]", _common_method(columns["iqm"])),
        "min",
        "max",
    ]
    return table(header, rows, numeric=range(2, 9)) + (
        '<p class="caption">Each interval\'s method is named under its column (or in the cell '
        "when it differs); hover an interval for its level. An interval is withheld below the "
        "seeds its method needs to keep its level; a median interval that cannot reach the level "
        "states its exact level (docs/statistics.md).</p>"
    )


# ---------------------------------------------------------------------------- comparisons
def comparison_section(page: Page, ctx: ReportContext) -> str:
    """Verdicts, the comparison matrix, the forest plot and the reference's comparison table."""
    analysis = ctx.analysis
    if analysis is None or not analysis.pairwise:
        return note("fewer than two architectures with two or more scores: no comparisons")
    parts = []
    if not getattr(analysis, "fixed_sample_valid", True):
        parts.append(
            note(
                "sequential run: the seeds were not fixed in advance (optional stopping), so the "
                "p-values and intervals of this section do not hold their level; the Sequential "
                "comparisons section has the valid decisions"
            )
        )
    parts += [
        "<h3>Verdicts</h3><ul class='verdicts'>"
        + "".join(f"<li><code>{escape(v)}</code></li>" for v in analysis.verdicts())
        + "</ul>"
    ]
    seed_notes = getattr(analysis, "seed_notes", ())
    if seed_notes:
        parts.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in seed_notes) + "</ul>")
    parts.append(
        page.figure(
            comparison_matrix_figure(analysis.pairwise, analysis.architectures),
            "Each cell: mean of the row architecture minus mean of the column architecture "
            "(paired by seed where the seeds are shared) and the permutation-test p-value, adjusted "
            "over all pairs. Hover for the verdict.",
        )
    )
    if not analysis.comparisons:
        parts.append(note(f"the reference {analysis.reference} cannot be compared"))
        return "\n".join(parts)
    level = verdict_level_label(analysis.correction)
    parts.append(
        page.figure(
            forest_figure(analysis.comparisons, analysis.reference),
            f"Point: difference of means; bar: permutation-test interval at the verdict's "
            f"({escape(level)}) level, so a bar excludes 0 exactly when the point is red; an "
            "arrow: an end these seeds cannot bound. Labels: the interval's level, Hedges' g, d_z "
            "(paired), Cliff's delta and adjusted p. Hover for P(improvement) and the unadjusted "
            "interval.",
        )
    )
    parts.append(_comparison_table(analysis))
    return "\n".join(parts)


def _comparison_table(analysis: AnalysisReport) -> str:
    cs = analysis.comparisons
    differences = _cells([c.difference for c in cs], signed=True)
    improvements = _cells([c.p_improvement for c in cs], digits=2)
    rows = []
    for i, c in enumerate(cs):
        v = c.verdict_interval
        verdict = (
            ""
            if v is None
            else f"{escape(bounds_text(v.low, v.high))} "
            f'<span class="method">at {v.level:.1%}</span>'
        )
        rows.append(
            [
                escape(c.b),
                "paired" if c.paired else "independent",
                str(c.n_pairs) if c.paired else f"{c.n_a} / {c.n_b}",
                differences[i],
                verdict,
                escape(pvalue(c.pvalue)),
                escape(pvalue(c.p_adjusted)),
                num(c.hedges_g, 2),
                num(c.d_z, 2) if c.paired else "",
                num(c.cliffs_delta, 2),
                improvements[i],
                "yes" if c.significant else "no",
            ]
        )
    ref, pct = escape(analysis.reference), f"{analysis.level:.0%}"
    header = [
        "architecture",
        "design",
        "n",
        _header(f"{ref} minus it [{pct} CI]", _common_method([c.difference for c in cs])),
        f"verdict interval ({escape(verdict_level_label(analysis.correction))} level)",
        "p",
        f"p ({escape(correction_label(analysis.correction))})",
        "Hedges' g",
        "d_z",
        "Cliff's delta",
        _header("P(reference better) [CI]", _common_method([c.p_improvement for c in cs])),
        "significant",
    ]
    return table(header, rows, numeric=range(2, 11))


# ------------------------------------------------------------------------------- limits
def limits_section(ctx: ReportContext) -> str:
    """What these seeds cannot resolve (``analysis.analyze.small_sample_lines``)."""
    if ctx.analysis is None:
        return note("no statistics: nothing to qualify")
    lines = small_sample_lines(ctx.analysis)
    if not lines:
        return note(
            "nothing withheld or cut: every interval above keeps its level with these seeds"
        )
    return (
        "<ul>"
        + "".join(f"<li>{escape(line)}</li>" for line in lines)
        + '</ul><p class="caption">Intervals are withheld, and bands cut, where the simulation '
        "found their coverage below the level with this many seeds (docs/statistics.md).</p>"
    )


# -------------------------------------------------------------------------------- power
def power_section(ctx: ReportContext) -> str:
    """Seeds needed for the target power, per pair."""
    analysis = ctx.analysis
    if analysis is None or not analysis.power:
        return note("no comparisons: power table omitted")
    p0 = analysis.power[0]
    rows = [
        [
            f"{escape(r.a)} vs {escape(r.b)}",
            escape(r.test),
            num(r.difference, signed=True, missing="n/a"),
            f"{num(r.effect_size, 2)} ({escape(r.effect_name)})",
            str(r.n_now),
            num(r.power_now, 2),
            num(r.mde_now, 2),
            "n/a" if r.n_analytic_seeds is None else f"{r.n_analytic_seeds:,}",
            escape(r.simulated_label()),
        ]
        for r in analysis.power
    ]
    header = [
        "comparison", "test", "difference", "effect size", "seeds now", "power now",
        "detectable effect now", "seeds needed (formula)", "seeds needed (simulation)",
    ]  # fmt: skip
    return (
        table(header, rows, numeric=range(2, 9))
        + f'<p class="caption">Seeds per architecture for {p0.target_power:.0%} power at alpha '
        f"{p0.alpha:g} to detect the observed difference: t-test formula on the observed effect "
        "size, and a simulation that resamples the observed scores. Power now: the simulated power "
        "with the seeds of this run; detectable effect: the smallest effect size found with "
        f"{p0.target_power:.0%} power at that number of seeds.</p>"
    )


# -------------------------------------------------------------------------------- ranks
def ranks_section(page: Page, ctx: ReportContext) -> str | None:
    """The critical-difference diagram of the analysis' Friedman + Nemenyi test; None when the
    analysis has none."""
    friedman: Any = getattr(ctx.analysis, "friedman", None)
    ranks = getattr(friedman, "average_ranks", None)
    if friedman is None or not ranks:
        return None
    cd = float(getattr(friedman, "critical_difference", float("nan")))
    fig = cd_diagram_figure(ranks, cd, getattr(friedman, "groups", ()) or (), colors=ctx.colors)
    facts = []
    if getattr(friedman, "statistic", None) is not None:
        facts.append(f"Friedman statistic {num(friedman.statistic, 3, missing='n/a')}")
    if getattr(friedman, "pvalue", None) is not None:
        facts.append(f"p {pvalue(friedman.pvalue)}")
    if getattr(friedman, "n_blocks", None) is not None:
        facts.append(f"{friedman.n_blocks} blocks")
    method = getattr(friedman, "method", "")
    bars = (
        f"a bar joins architectures whose average ranks differ by less than the critical "
        f"difference (CD = {num(cd, 3)})"
        if np.isfinite(cd)
        else "a bar joins architectures no two of which differ significantly"
    )
    caption = (
        f"Average rank of each architecture over the seeds (1: best); {bars}, i.e. not "
        "significantly different. "
        + escape("; ".join(facts))
        + (f" ({escape(method)})" if method else "")
        + "."
    )
    return page.figure(fig, caption)
