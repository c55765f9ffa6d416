"""Plotly figures of statistics: comparisons, best of k, average ranks and sequential looks.

Each builder draws what :mod:`analysis` computed (comparisons, best-of-k curves, Friedman ranks,
the looks of a sequential run); nothing is re-estimated here. Intervals that these seeds cannot
bound are drawn as open bars ending in arrows at the plot's edge, never left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.compare import Comparison
from analysis.power import BestOfK
from analysis.report.text import bounds_text, estimate_text, num, p_phrase, pvalue
from analysis.report.theme import (
    LINE,
    NEUTRAL,
    PALETTE,
    SIGNIFICANT,
    finish,
    metric_label,
    rgba,
)

__all__ = [
    "best_of_k_figure",
    "cd_diagram_figure",
    "comparison_matrix_figure",
    "forest_figure",
    "sequential_figure",
]


# ------------------------------------------------------------------------------ comparisons
def comparison_matrix_figure(
    pairwise: Sequence[Comparison], architectures: Sequence[str]
) -> go.Figure:
    """Heatmap of mean differences, row minus column, with the adjusted p-value in each cell."""
    names = [a for a in architectures if any(a in (c.a, c.b) for c in pairwise)]
    index = {a: i for i, a in enumerate(names)}
    n = len(names)
    z = np.full((n, n), np.nan)
    text = [["" for _ in range(n)] for _ in range(n)]
    hover = [["" for _ in range(n)] for _ in range(n)]
    for c in pairwise:
        i, j = index[c.a], index[c.b]
        d = c.difference.point
        star = "*" if c.significant else ""
        for (r, s), sign in (((i, j), 1.0), ((j, i), -1.0)):
            z[r, s] = sign * d
            text[r][s] = f"{sign * d:+.3f}{star}<br>{p_phrase(c.p_adjusted)}"
            hover[r][s] = c.verdict()
    for i in range(n):
        text[i][i] = "-"
    label = pairwise[0].correction if pairwise else "none"
    vmax = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            colorscale="RdBu",
            zmid=0,
            zmin=-vmax,
            zmax=vmax,
            xgap=2,
            ygap=2,
            colorbar=dict(title=dict(text="row - column<br>(MIoU)", side="right")),
        )
    )
    fig.update_yaxes(autorange="reversed", title_text="architecture (row)", showgrid=False)
    fig.update_xaxes(title_text="architecture (column)", showgrid=False, side="bottom")
    metric = metric_label(pairwise[0].metric) if pairwise else ""
    return finish(
        fig,
        f"Pairwise difference of mean {metric}; p adjusted ({label}) over all pairs, * p < alpha",
        height=max(320, 140 + 70 * n),
    )


def _axis_range(values: Sequence[float]) -> tuple[float, float]:
    """The finite values and 0, padded by 8 % of their span on both sides."""
    finite = [float(v) for v in values if np.isfinite(v)] + [0.0]
    lo, hi = min(finite), max(finite)
    pad = 0.08 * (hi - lo) if hi > lo else 0.01
    return lo - pad, hi + pad


def forest_figure(comparisons: Sequence[Comparison], reference: str) -> go.Figure:
    """Difference of means ``reference - architecture`` with its verdict interval.

    The bar is :attr:`Comparison.verdict_interval`, the permutation test inverted at the level
    its family-wise decision used (Holm: the step's ``1 - alpha / k``), so a bar excludes 0
    exactly when the point is red (significant after correction). A bound these seeds cannot
    set (an unbounded interval) is an open bar ending in an arrow at the plot's edge.
    """
    rows = list(comparisons)
    intervals = [c.verdict_interval or c.difference for c in rows]
    y = [c.b for c in rows]
    d = np.array([c.difference.point for c in rows], float)
    x0, x1 = _axis_range([*d, *(e.low for e in intervals), *(e.high for e in intervals)])
    bars: dict[bool, tuple[list, list]] = {True: ([], []), False: ([], [])}
    caps: dict[bool, tuple[list, list]] = {True: ([], []), False: ([], [])}
    arrows: dict[str, tuple[list, list, list]] = {"left": ([], [], []), "right": ([], [], [])}
    for c, est, name in zip(rows, intervals, y):
        if np.isnan(est.low) or np.isnan(est.high):
            continue  # withheld or untestable: the point alone
        sig = c.significant
        lo = est.low if np.isfinite(est.low) else x0
        hi = est.high if np.isfinite(est.high) else x1
        bars[sig][0].extend([lo, hi, None])
        bars[sig][1].extend([name, name, None])
        for bound, edge, side in ((est.low, lo, "left"), (est.high, hi, "right")):
            if np.isfinite(bound):
                caps[sig][0].append(edge)
                caps[sig][1].append(name)
            else:
                arrows[side][0].append(edge)
                arrows[side][1].append(name)
                arrows[side][2].append(SIGNIFICANT if sig else NEUTRAL)
    fig = go.Figure()
    for sig, (xs, ys) in bars.items():
        color = SIGNIFICANT if sig else NEUTRAL
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line=dict(color=color, width=2.5),
                    hoverinfo="skip",
                    showlegend=False,
                    name="significant" if sig else "not significant",
                )
            )
        if caps[sig][0]:
            fig.add_trace(
                go.Scatter(
                    x=caps[sig][0],
                    y=caps[sig][1],
                    mode="markers",
                    hoverinfo="skip",
                    marker=dict(
                        symbol="line-ns-open",
                        size=12,
                        color=color,
                        line=dict(color=color, width=2.5),
                    ),
                    showlegend=False,
                    name="interval bound",
                )
            )
    for side, (xs, ys, colors) in arrows.items():
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="markers",
                    hoverinfo="skip",
                    showlegend=False,
                    marker=dict(symbol=f"triangle-{side}", size=12, color=colors),
                    name=f"unbounded ({side})",
                )
            )
    labels = [
        f"{est.level:.1%} interval; g={num(c.hedges_g, 2, missing='n/a')}"
        + (f", d_z={num(c.d_z, 2, missing='n/a')}" if c.paired else "")
        + f", Cliff's \u03b4={num(c.cliffs_delta, 2, missing='n/a')}, {p_phrase(c.p_adjusted, 'p adj')}"
        for c, est in zip(rows, intervals)
    ]
    custom = [
        [
            c.verdict(),
            estimate_text(est, 4, signed=True),
            f"{est.level:.1%}",
            estimate_text(c.difference, 4, signed=True),
            f"{c.difference.level:.0%}",
            c.p_improvement.format(2),
            pvalue(c.pvalue),
            pvalue(c.p_adjusted),
            "paired" if c.paired else "independent",
            c.n_pairs if c.paired else f"{c.n_a} / {c.n_b}",
        ]
        for c, est in zip(rows, intervals)
    ]
    fig.add_trace(
        go.Scatter(
            x=d,
            y=y,
            mode="markers",
            marker=dict(
                size=11,
                symbol="diamond",
                color=[SIGNIFICANT if c.significant else NEUTRAL for c in rows],
            ),
            customdata=custom,
            hovertemplate=(
                "<b>%{customdata[0]}</b><br>difference %{customdata[1]} (%{customdata[2]}, the "
                "verdict's level)<br>unadjusted %{customdata[4]} interval: %{customdata[3]}<br>"
                "P(reference > architecture) %{customdata[5]}<br>p %{customdata[6]}, adjusted "
                "%{customdata[7]}<br>%{customdata[8]}, n = %{customdata[9]}<extra></extra>"
            ),
            showlegend=False,
            name="difference of means",
        )
    )
    for name, label in zip(y, labels):  # right-aligned above each row: never cut at an edge
        fig.add_annotation(
            x=1, xref="paper", xanchor="right", y=name, yshift=16, text=label, showarrow=False
        )
    fig.add_vline(x=0, line=dict(color=LINE, dash="dot"))
    metric = metric_label(rows[0].metric) if rows else ""
    fig.update_xaxes(
        title_text=f"{reference} minus architecture, {metric} (difference of means)",
        range=[x0, x1],
    )
    fig.update_yaxes(title_text="architecture", autorange="reversed", type="category")
    return finish(
        fig,
        f"{reference} minus each architecture, with the verdict's interval (red: significant)",
        height=max(260, 140 + 80 * len(rows)),
    )


# -------------------------------------------------------------------------------- best of k
def best_of_k_figure(curves: Sequence[BestOfK], colors: Mapping[str, str]) -> go.Figure:
    """Expected best single instance among k trained, per architecture, with its band.

    The band (``BestOfK.method``) is drawn for ``k <= BestOfK.k_max`` only: beyond, no interval
    the calibration tried kept its level, and the curve is the estimate alone.
    """
    fig = go.Figure()
    for curve in curves:
        if curve.expected.size == 0:
            continue
        color = colors.get(curve.architecture, PALETTE[0])
        k = np.asarray(curve.k)
        banded = np.isfinite(curve.low) & np.isfinite(curve.high) & (k <= curve.k_max)
        if banded.any():
            kb = k[banded]
            fig.add_trace(
                go.Scatter(
                    x=np.concatenate([kb, kb[::-1]]),
                    y=np.concatenate([curve.high[banded], curve.low[banded][::-1]]),
                    mode="lines",
                    fill="toself",
                    fillcolor=rgba(color, 0.14),
                    line=dict(width=0),
                    hoverinfo="skip",
                    legendgroup=curve.architecture,
                    showlegend=False,
                    name=f"{curve.architecture} band",
                )
            )
        band_text = [
            f"[{lo:.4f}, {hi:.4f}]" if ok else f"no band (k > {curve.k_max})"
            for lo, hi, ok in zip(curve.low, curve.high, banded)
        ]
        fig.add_trace(
            go.Scatter(
                x=k,
                y=curve.expected,
                mode="lines+markers",
                marker=dict(size=4),
                line=dict(color=color, width=2),
                name=curve.architecture,
                legendgroup=curve.architecture,
                customdata=band_text,
                hovertemplate=f"{curve.architecture}<br>k=%{{x}}: %{{y:.4f}} %{{customdata}}"
                "<extra></extra>",
            )
        )
    metric = metric_label(curves[0].metric) if curves else ""
    level = curves[0].level if curves else 0.95
    methods = sorted({c.method for c in curves if c.method and c.k_max > 0})
    band = f"{level:.0%} band: {'; '.join(methods)}, k <= k_max" if methods else "no band"
    fig.update_xaxes(title_text="instances trained k (seeds)")
    fig.update_yaxes(title_text=f"expected best {metric} (fraction)")
    return finish(fig, f"Expected best of k instances, {metric} ({band})", height=430)


# ------------------------------------------------------------------------- average ranks
def cd_diagram_figure(
    average_ranks: Mapping[str, float],
    critical_difference: float,
    groups: Sequence[Sequence[str]],
    *,
    colors: Mapping[str, str] | None = None,
    title: str = "Average ranks (1: best) with the Nemenyi critical difference",
) -> go.Figure:
    """Critical-difference diagram (Demšar 2006; the layout of autorank and Orange).

    An axis of ranks from 1 (left, best) to k; each architecture hangs from its average rank,
    the better half labeled on the left, the other half on the right; a thick bar joins the
    members of each group whose ranks are not significantly different; the critical difference is
    drawn above the axis from rank 1.

    Args:
        average_ranks: ``{architecture: average rank}``, 1 best.
        critical_difference: the Nemenyi critical difference in rank units (NaN: not drawn).
        groups: sets of architectures not significantly different; groups of one are skipped.
        colors: marker color per architecture (default neutral).
        title: the figure's title.
    """
    names = sorted(average_ranks, key=lambda a: (average_ranks[a], a))
    k = max(len(names), 2)
    colors = colors or {}
    cliques = [tuple(g) for g in groups if len(g) >= 2 and all(a in average_ranks for a in g)]
    fig = go.Figure()
    # axis with integer ticks and half ticks; labels above
    fig.add_trace(
        go.Scatter(
            x=[1, k],
            y=[0, 0],
            mode="lines",
            line=dict(color=LINE, width=1.5),
            hoverinfo="skip",
            showlegend=False,
            name="rank axis",
        )
    )
    ticks_x, ticks_y = [], []
    for t in np.arange(1, k + 0.01, 0.5):
        h = 0.1 if float(t).is_integer() else 0.05
        ticks_x += [t, t, None]
        ticks_y += [0, h, None]
    fig.add_trace(
        go.Scatter(
            x=ticks_x,
            y=ticks_y,
            mode="lines",
            line=dict(color=LINE, width=1.5),
            hoverinfo="skip",
            showlegend=False,
            name="ticks",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=list(range(1, k + 1)),
            y=[0.22] * k,
            mode="text",
            text=[str(i) for i in range(1, k + 1)],
            hoverinfo="skip",
            showlegend=False,
            name="tick labels",
        )
    )
    if np.isfinite(critical_difference) and critical_difference > 0:
        cd = float(critical_difference)
        fig.add_trace(
            go.Scatter(
                x=[1, 1 + cd],
                y=[0.55, 0.55],
                mode="lines+markers",
                line=dict(color=NEUTRAL, width=2.5),
                marker=dict(symbol="line-ns-open", size=10, line=dict(color=NEUTRAL, width=2.5)),
                hovertemplate=f"critical difference {cd:.3f}<extra></extra>",
                showlegend=False,
                name="CD",
            )
        )
        fig.add_annotation(x=1 + cd / 2, y=0.55, text=f"CD = {cd:.2f}", showarrow=False, yshift=12)
    # group bars just below the axis
    group_y = [-0.25 - 0.16 * j for j in range(len(cliques))]
    for j, (clique, gy) in enumerate(zip(cliques, group_y)):
        ranks = [average_ranks[a] for a in clique]
        fig.add_trace(
            go.Scatter(
                x=[min(ranks), max(ranks)],
                y=[gy, gy],
                mode="lines",
                line=dict(color=NEUTRAL, width=5),
                hovertemplate=f"not significantly different: {', '.join(clique)}<extra></extra>",
                showlegend=False,
                name=f"group {j + 1}",
            )
        )
    # elbows to the labels
    top = (group_y[-1] if group_y else 0.0) - 0.3
    step = 0.32
    half = math.ceil(len(names) / 2)
    left, right = names[:half], names[half:][::-1]
    edge_left, edge_right = 1 - 0.12 * k, k + 0.12 * k
    for side, members, edge in (("left", left, edge_left), ("right", right, edge_right)):
        for i, name in enumerate(members):
            r = float(average_ranks[name])
            yy = top - i * step
            fig.add_trace(
                go.Scatter(
                    x=[r, r, edge],
                    y=[0, yy, yy],
                    mode="lines",
                    line=dict(color=colors.get(name, NEUTRAL), width=1.5),
                    hoverinfo="skip",
                    showlegend=False,
                    name=f"{name} line",
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=[r, edge],
                    y=[0, yy],
                    mode="markers+text",
                    marker=dict(size=[8, 1], color=colors.get(name, NEUTRAL)),
                    text=["", f"{name} ({r:.2f})" if side == "left" else f"({r:.2f}) {name}"],
                    textposition="middle left" if side == "left" else "middle right",
                    cliponaxis=False,
                    hovertemplate=f"{name}: average rank {r:.3f}<extra></extra>",
                    showlegend=False,
                    name=name,
                )
            )
    rows = max(len(left), len(right), 1)
    fig.update_xaxes(visible=False, range=[edge_left - 0.05 * k, edge_right + 0.05 * k])
    fig.update_yaxes(visible=False, range=[top - rows * step, 0.85])
    return finish(
        fig,
        title,
        height=int(160 + 34 * rows + 20 * len(cliques)),
        margin=dict(l=200, r=200, t=60, b=20),
    )


# ----------------------------------------------------------------------- sequential looks
def sequential_figure(
    looks: pd.DataFrame,
    *,
    max_seeds: int,
    min_effect: float | None = None,
    two_sided: bool = True,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Each comparison of a sequential run, look by look: statistic against boundary, and the
    repeated confidence interval narrowing.

    Args:
        looks: one row per look per comparison (``FamilyState.frame()``: ``reference, other,
            look, seeds, estimate, z, boundary, low, high, p_adjusted, decision``).
        max_seeds: seeds per architecture at the last planned look (the x axis ends there).
        min_effect: futility margin, drawn as a band on the interval panel (None: none).
        two_sided: draw the lower boundary too.
        colors: color per architecture (the other one of each comparison).
    """
    colors = colors or {}
    others = list(dict.fromkeys(looks["other"].astype(str)))
    titles = []
    for other in others:
        ref = str(looks.loc[looks["other"].astype(str) == other, "reference"].iloc[0])
        titles += [f"{ref} vs {other}: z against the boundary", "repeated confidence interval"]
    fig = make_subplots(
        rows=max(1, len(others)),
        cols=2,
        subplot_titles=titles,
        horizontal_spacing=0.1,
        vertical_spacing=min(0.12, 0.5 / max(1, len(others))),
    )
    for r, other in enumerate(others, start=1):
        rows = looks[looks["other"].astype(str) == other].sort_values("look")
        color = colors.get(other, PALETTE[0])
        seeds = rows["seeds"].to_numpy(float)
        bound = rows["boundary"].to_numpy(float)
        bound = np.where(np.isfinite(bound), bound, np.nan)
        for sign in (1, -1) if two_sided else (1,):
            fig.add_trace(
                go.Scatter(
                    x=seeds,
                    y=sign * bound,
                    mode="lines+markers",
                    line=dict(color=NEUTRAL, dash="dash", width=1.5),
                    marker=dict(size=5),
                    name="boundary",
                    showlegend=False,
                    hovertemplate="look at %{x} seeds: boundary %{y:.3f}<extra></extra>",
                ),
                row=r,
                col=1,
            )
        decided = rows["decision"].astype(str) != "undecided"
        fig.add_trace(
            go.Scatter(
                x=seeds,
                y=rows["z"],
                mode="lines+markers",
                line=dict(color=color, width=2),
                marker=dict(
                    size=[12 if d else 6 for d in decided],
                    symbol=["star" if d else "circle" for d in decided],
                ),
                customdata=np.column_stack(
                    [rows["decision"].astype(str), [pvalue(p) for p in rows["p_adjusted"]]]
                ),
                name=other,
                showlegend=False,
                hovertemplate=f"{other}<br>%{{x}} seeds: z = %{{y:.3f}}<br>p(seq) %{{customdata[1]}}"
                "<br>%{customdata[0]}<extra></extra>",
            ),
            row=r,
            col=1,
        )
        low = rows["low"].to_numpy(float)
        high = rows["high"].to_numpy(float)
        point = rows["estimate"].to_numpy(float)
        text = [bounds_text(lo, hi) for lo, hi in zip(low, high)]
        fig.add_trace(
            go.Scatter(
                x=seeds,
                y=point,
                mode="markers",
                marker=dict(color=color, size=8),
                error_y=dict(
                    type="data",
                    symmetric=False,
                    color=color,
                    thickness=1.5,
                    width=5,
                    array=np.where(np.isfinite(high), high - point, 0),
                    arrayminus=np.where(np.isfinite(low), point - low, 0),
                ),
                customdata=text,
                name=other,
                showlegend=False,
                hovertemplate=f"{other}<br>%{{x}} seeds: %{{y:+.4f}} %{{customdata}}<extra></extra>",
            ),
            row=r,
            col=2,
        )
        fig.add_hline(y=0, line=dict(color=LINE, dash="dot"), row=r, col=2)
        if min_effect:
            for y in (min_effect, -min_effect) if two_sided else (min_effect,):
                fig.add_hline(y=y, line=dict(color=NEUTRAL, dash="dash", width=1), row=r, col=2)
        for c in (1, 2):
            fig.update_xaxes(range=[0, max_seeds + 1], row=r, col=c)
        fig.update_yaxes(title_text="z", row=r, col=1)
        fig.update_yaxes(title_text="reference - other", row=r, col=2)
    last = max(1, len(others))
    for c in (1, 2):
        fig.update_xaxes(title_text="seeds per architecture at the look", row=last, col=c)
    return finish(
        fig,
        "Sequential looks: statistic against its boundary (star: decision) and the repeated "
        "confidence interval",
        height=120 + 280 * last,
    )
