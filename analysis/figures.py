"""Plotly figures of a run's results; they draw what :mod:`analysis` computed, nothing more.

Every builder takes DataFrames or dataclasses from the analysis functions and returns a
``plotly.graph_objects.Figure`` with a transparent background, a mid-gray grid and one color per
architecture (:func:`architecture_colors`), so a figure reads the same on a light and a dark page
(the report sets the font color for the page's theme). MIoU values are fractions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.compare import Comparison
from analysis.distributions import KDE, Summary
from analysis.io import natural_key
from analysis.power import BestOfK

__all__ = [
    "PALETTE",
    "TEMPLATE",
    "architecture_colors",
    "best_of_k_figure",
    "class_iou_figure",
    "comparison_matrix_figure",
    "distribution_figure",
    "ensemble_figure",
    "forest_figure",
    "metric_label",
    "rgba",
    "training_curves_figure",
]

#: Qualitative palette (Tableau 10): mid-luminance colors readable on white and on near-black.
PALETTE: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#1f9e89", "#d4a6c8", "#86bcb6", "#f1ce63", "#8cd17d",
)  # fmt: skip
_GRID = "rgba(128,128,128,0.28)"
_LINE = "rgba(128,128,128,0.65)"
#: Neutral text color until the page applies its theme's color.
FONT_COLOR = "#7f7f7f"

_AXIS = dict(
    gridcolor=_GRID,
    linecolor=_LINE,
    zerolinecolor=_LINE,
    tickcolor=_LINE,
    showline=True,
    automargin=True,
)
#: Layout shared by every figure (no global plotly template is touched).
TEMPLATE = go.layout.Template(
    layout=dict(
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font=dict(family="system-ui, -apple-system, 'Segoe UI', sans-serif", size=13),
        colorway=list(PALETTE),
        xaxis=_AXIS,
        yaxis=_AXIS,
        legend=dict(bgcolor="rgba(0,0,0,0)"),
        hoverlabel=dict(namelength=-1),
        margin=dict(l=70, r=30, t=60, b=60),
    )
)

_SPLITS = {"eval": "eval", "test": "test", "final_eval": "final eval", "final_test": "final test"}


def metric_label(metric: str) -> str:
    """``eval_miou_org`` -> ``eval MIoU (organelles)``; ``test_iou_cell`` -> ``test IoU cell``."""
    for prefix in sorted(_SPLITS, key=len, reverse=True):
        if metric.startswith(prefix + "_"):
            rest = metric[len(prefix) + 1 :]
            split = _SPLITS[prefix]
            break
    else:
        return metric.replace("_", " ")
    if rest.startswith("miou_"):
        subset = rest[5:]
        subset = {"all": "all classes", "org": "organelles"}.get(subset, subset)
        return f"{split} MIoU ({subset})"
    if rest.startswith("iou_"):
        return f"{split} IoU {rest[4:].replace('_', ' ')}"
    return f"{split} {rest.replace('_', ' ')}"


def architecture_colors(architectures: Sequence[str]) -> dict[str, str]:
    """One palette color per architecture, assigned in natural order of the names.

    The same set of names always gets the same colors, whatever order they are passed in.
    """
    names = sorted(set(map(str, architectures)), key=natural_key)
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(names)}


def rgba(color: str, alpha: float) -> str:
    """``#rrggbb`` -> ``rgba(r,g,b,alpha)``."""
    h = color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha:g})"


def _finish(fig: go.Figure, title: str, height: int, **layout) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=dict(text=title, x=0.01), height=height, **layout)
    return fig


def _num(v: float, digits: int = 3, signed: bool = False) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def _p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


# ------------------------------------------------------------------------- distributions
def distribution_figure(
    instances: pd.DataFrame,
    metric: str,
    *,
    kdes: Mapping[str, KDE],
    summaries: Mapping[str, Summary],
    colors: Mapping[str, str],
    hover_metrics: Sequence[str] = (),
    jitter_seed: int = 0,
) -> go.Figure:
    """Figure 4 of the paper: per architecture a histogram, its KDE and every instance as a point.

    Args:
        instances: usable rows with ``architecture``, ``seed``, ``status`` and ``metric``.
        metric: column drawn on the x axis.
        kdes: KDE of each architecture's scores (:func:`analysis.distributions.kde`).
        summaries: summary of each architecture on ``metric``; its mean is drawn as a dashed line.
        colors: color per architecture.
        hover_metrics: columns shown (with the seed) when hovering an instance.
        jitter_seed: seed of the vertical jitter of the points.
    """
    archs = [a for a in kdes if (instances["architecture"] == a).any()]
    values = pd.to_numeric(instances[metric], errors="coerce")
    finite = values[np.isfinite(values)].to_numpy()
    edges = _bin_edges(finite)
    fig = make_subplots(
        rows=max(1, len(archs)),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=min(0.04, 0.3 / max(1, len(archs))),
    )
    rng = np.random.default_rng(jitter_seed)
    hover_metrics = [m for m in dict.fromkeys([metric, *hover_metrics]) if m in instances]
    template = (
        "<b>%{fullData.name}</b>, seed %{customdata[0]} (%{customdata[1]})<br>"
        + "<br>".join(
            f"{metric_label(m)}: %{{customdata[{i + 2}]:.4f}}" for i, m in enumerate(hover_metrics)
        )
    )
    for row, arch in enumerate(archs, start=1):
        rows = instances[(instances["architecture"] == arch) & np.isfinite(values)]
        x = pd.to_numeric(rows[metric]).to_numpy(float)
        color = colors[arch]
        density, _ = np.histogram(x, bins=edges, density=True) if x.size else (np.zeros(1), None)
        k = kdes[arch]
        top = max(float(np.max(density, initial=0)), float(np.max(k.density, initial=0)), 1e-9)
        fig.add_trace(
            go.Histogram(
                x=x,
                xbins=dict(start=edges[0], end=edges[-1], size=edges[1] - edges[0]),
                histnorm="probability density",
                marker=dict(color=rgba(color, 0.45), line=dict(color=color, width=1)),
                name=arch,
                legendgroup=arch,
                showlegend=False,
                hovertemplate=f"{arch}<br>%{{x}}<br>density %{{y:.3g}}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        if k.density.size:
            fig.add_trace(
                go.Scatter(
                    x=k.grid,
                    y=k.density,
                    mode="lines",
                    line=dict(color=color, width=2),
                    name=arch,
                    legendgroup=arch,
                    showlegend=False,
                    hovertemplate=f"{arch} KDE (bandwidth {k.bandwidth:.3g})<br>"
                    "%{x:.4f}: %{y:.3g}<extra></extra>",
                ),
                row=row,
                col=1,
            )
        scores = [pd.to_numeric(rows[m], errors="coerce").to_numpy(float) for m in hover_metrics]
        custom = [
            [int(seed), str(status), *(float(v[i]) if np.isfinite(v[i]) else None for v in scores)]
            for i, (seed, status) in enumerate(zip(rows["seed"], rows["status"]))
        ]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=-top * (0.08 + 0.14 * rng.random(x.size)),
                mode="markers",
                marker=dict(
                    color=color, size=7, line=dict(color="rgba(128,128,128,0.9)", width=0.5)
                ),
                name=arch,
                legendgroup=arch,
                showlegend=False,
                customdata=custom,
                hovertemplate=template + "<extra></extra>",
            ),
            row=row,
            col=1,
        )
        s = summaries.get(arch)
        if s is not None and np.isfinite(s.mean):
            fig.add_vline(x=s.mean, line=dict(color=color, dash="dash", width=1.5), row=row, col=1)
        ticks = _nice_ticks(top)
        fig.update_yaxes(
            title=dict(text=f"{arch}<br>density", font=dict(size=12)),
            range=[-top * 0.28, top * 1.1],
            tickvals=ticks,
            row=row,
            col=1,
        )
    fig.update_xaxes(range=_score_range(finite, kdes.values()))
    fig.update_xaxes(title_text=f"{metric_label(metric)}, fraction (0-1)", row=len(archs), col=1)
    return _finish(
        fig,
        f"Distribution of {metric_label(metric)} over instances (dashed: mean)",
        height=110 + 170 * max(1, len(archs)),
        bargap=0.02,
        barmode="overlay",
    )


def _score_range(x: np.ndarray, kdes: Iterable[KDE]) -> list[float] | None:
    """The data and the KDE tails, cut at 0 and 1 when the scores lie in [0, 1]."""
    grids = [k.grid for k in kdes if k.density.size] + [x]
    values = np.concatenate(grids) if grids else np.empty(0)
    if values.size == 0:
        return None
    lo, hi = float(values.min()), float(values.max())
    if x.size and x.min() >= 0 and x.max() <= 1:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    pad = 0.02 * (hi - lo) if hi > lo else 0.01
    return [lo - pad, hi + pad]


def _bin_edges(x: np.ndarray) -> np.ndarray:
    """Common bins for every architecture: numpy's 'auto' rule, 8 to 40 bins."""
    if x.size == 0:
        return np.array([0.0, 1.0])
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-9:
        return np.array([lo - 0.005, lo + 0.005])
    n = len(np.histogram_bin_edges(x, bins="auto")) - 1
    return np.linspace(lo, hi + 1e-9 * (hi - lo), int(np.clip(n, 8, 40)) + 1)


def _nice_ticks(top: float) -> list[float]:
    step = 10 ** np.floor(np.log10(top / 2))
    step *= 5 if top / step >= 10 else 2 if top / step >= 4 else 1
    return [float(v) for v in np.arange(0, top * 1.05, step)]


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
            text[r][s] = f"{sign * d:+.3f}{star}<br>p={_p(c.p_adjusted)}"
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
    return _finish(
        fig,
        f"Pairwise difference of mean {metric}; p adjusted ({label}) over all pairs, * p < alpha",
        height=max(320, 140 + 70 * n),
    )


def forest_figure(comparisons: Sequence[Comparison], reference: str) -> go.Figure:
    """Difference of means ``reference - architecture`` with its interval and effect sizes."""
    rows = list(comparisons)
    y = [c.b for c in rows]
    d = np.array([c.difference.point for c in rows], float)
    lo = np.array([c.difference.low for c in rows], float)
    hi = np.array([c.difference.high for c in rows], float)
    labels = [
        f"g={_num(c.hedges_g, 2)}"
        + (f", d_z={_num(c.d_z, 2)}" if c.paired else "")
        + f", Cliff's \u03b4={_num(c.cliffs_delta, 2)}, p adj={_p(c.p_adjusted)}"
        for c in rows
    ]
    custom = [
        [
            c.verdict(),
            c.difference.format(4, signed=True),
            _num(c.hedges_g, 2),
            _num(c.d_z, 2),
            _num(c.cliffs_delta, 2),
            c.p_improvement.format(2),
            _p(c.pvalue),
            _p(c.p_adjusted),
            "paired" if c.paired else "independent",
            c.n_pairs if c.paired else f"{c.n_a} / {c.n_b}",
        ]
        for c in rows
    ]
    colors = ["#e15759" if c.significant else "#7f7f7f" for c in rows]
    fig = go.Figure(
        go.Scatter(
            x=d,
            y=y,
            mode="markers+text",
            marker=dict(size=11, color=colors, symbol="diamond"),
            error_x=dict(
                type="data",
                symmetric=False,
                array=np.where(np.isfinite(hi), hi - d, 0),
                arrayminus=np.where(np.isfinite(lo), d - lo, 0),
                color=_LINE,
                thickness=2,
                width=6,
            ),
            text=labels,
            textposition="top center",
            customdata=custom,
            hovertemplate=(
                "<b>%{customdata[0]}</b><br>difference %{customdata[1]}<br>"
                "Hedges' g %{customdata[2]}, d_z %{customdata[3]}, Cliff's delta %{customdata[4]}"
                "<br>P(reference > architecture) %{customdata[5]}<br>"
                "p %{customdata[6]}, adjusted %{customdata[7]}<br>%{customdata[8]}, n = "
                "%{customdata[9]}<extra></extra>"
            ),
            showlegend=False,
        )
    )
    fig.add_vline(x=0, line=dict(color=_LINE, dash="dot"))
    level = rows[0].difference.level if rows else 0.95
    metric = metric_label(rows[0].metric) if rows else ""
    fig.update_xaxes(title_text=f"{reference} minus architecture, {metric} (difference of means)")
    fig.update_yaxes(title_text="architecture", autorange="reversed", type="category")
    return _finish(
        fig,
        f"Difference from the reference {reference} with {level:.0%} bootstrap interval "
        "(red: significant after correction)",
        height=max(260, 140 + 80 * len(rows)),
    )


# --------------------------------------------------------------------------------- ensembles
def ensemble_figure(ensembles: pd.DataFrame, colors: Mapping[str, str]) -> go.Figure:
    """Ensemble score against ensemble size: top-k (solid) and random-k (dashed, with band).

    One panel per split (eval, test) and subset (all classes, organelles) present in
    ``ensembles`` (columns ``architecture, selection, k`` and ``<split>_miou_<subset>``, random
    rows with ``<metric>_low`` / ``<metric>_high``).
    """
    subsets = [s for s in ("all", "org") if any(f"{p}_miou_{s}" in ensembles for p in _SPLITS)]
    splits = [p for p in ("eval", "test") if any(f"{p}_miou_{s}" in ensembles for s in subsets)]
    titles = [metric_label(f"{p}_miou_{s}") for s in subsets for p in splits]
    fig = make_subplots(
        rows=len(subsets), cols=len(splits), subplot_titles=titles, horizontal_spacing=0.08
    )
    selection = ensembles["selection"].astype(str).str.lower()
    archs = sorted(ensembles["architecture"].astype(str).unique(), key=natural_key)
    shown: set[str] = set()
    for r, subset in enumerate(subsets, start=1):
        for c, split in enumerate(splits, start=1):
            metric = f"{split}_miou_{subset}"
            if metric not in ensembles:
                continue
            for arch in archs:
                color = colors.get(arch, PALETTE[0])
                mine = ensembles["architecture"].astype(str) == arch
                top = ensembles[mine & (selection == "top")].sort_values("k")
                rand = ensembles[mine & (selection == "random")].sort_values("k")
                if {f"{metric}_low", f"{metric}_high"} <= set(rand.columns) and len(rand):
                    k = rand["k"].to_numpy()
                    fig.add_trace(
                        go.Scatter(
                            x=np.concatenate([k, k[::-1]]),
                            y=np.concatenate(
                                [
                                    rand[f"{metric}_high"].to_numpy(),
                                    rand[f"{metric}_low"].to_numpy()[::-1],
                                ]
                            ),
                            fill="toself",
                            fillcolor=rgba(color, 0.14),
                            line=dict(width=0),
                            hoverinfo="skip",
                            name=f"{arch} random-k 95% range",
                            legendgroup=arch,
                            showlegend=False,
                        ),
                        row=r,
                        col=c,
                    )
                if len(rand):
                    fig.add_trace(
                        go.Scatter(
                            x=rand["k"],
                            y=rand[metric],
                            mode="lines",
                            line=dict(color=color, dash="dash", width=1.5),
                            name=f"{arch} random-k",
                            legendgroup=arch,
                            showlegend=arch not in shown,
                            hovertemplate=f"{arch} random-k (mean of draws)<br>k=%{{x}}: "
                            "%{y:.4f}<extra></extra>",
                        ),
                        row=r,
                        col=c,
                    )
                if len(top):
                    members = top["members"].astype(str) if "members" in top else [""] * len(top)
                    fig.add_trace(
                        go.Scatter(
                            x=top["k"],
                            y=top[metric],
                            mode="lines+markers",
                            line=dict(color=color, width=2),
                            marker=dict(size=5),
                            name=f"{arch} top-k",
                            legendgroup=arch,
                            showlegend=arch not in shown,
                            customdata=np.asarray(members, dtype=object),
                            hovertemplate=f"{arch} top-k<br>k=%{{x}}: %{{y:.4f}}<br>seeds "
                            "%{customdata}<extra></extra>",
                        ),
                        row=r,
                        col=c,
                    )
                shown.add(arch)
            fig.update_xaxes(title_text="ensemble size k (instances)", row=r, col=c)
            fig.update_yaxes(title_text="MIoU (fraction)", row=r, col=c)
    return _finish(
        fig,
        "Ensemble score against size: top-k by eval MIoU (solid), random-k baseline (dashed, 95% of draws)",
        height=80 + 340 * len(subsets),
        legend=dict(orientation="h", y=-0.12, yanchor="top"),
    )


def best_of_k_figure(curves: Sequence[BestOfK], colors: Mapping[str, str]) -> go.Figure:
    """Expected best single instance among k trained, with its bootstrap band, per architecture."""
    fig = go.Figure()
    for curve in curves:
        if curve.expected.size == 0:
            continue
        color = colors.get(curve.architecture, PALETTE[0])
        k = curve.k
        if np.isfinite(curve.low).any():
            fig.add_trace(
                go.Scatter(
                    x=np.concatenate([k, k[::-1]]),
                    y=np.concatenate([curve.high, curve.low[::-1]]),
                    fill="toself",
                    fillcolor=rgba(color, 0.14),
                    line=dict(width=0),
                    hoverinfo="skip",
                    legendgroup=curve.architecture,
                    showlegend=False,
                    name=curve.architecture,
                )
            )
        fig.add_trace(
            go.Scatter(
                x=k,
                y=curve.expected,
                mode="lines+markers",
                marker=dict(size=4),
                line=dict(color=color, width=2),
                name=curve.architecture,
                legendgroup=curve.architecture,
                customdata=np.column_stack([curve.low, curve.high]),
                hovertemplate=f"{curve.architecture}<br>k=%{{x}}: %{{y:.4f}} "
                "[%{customdata[0]:.4f}, %{customdata[1]:.4f}]<extra></extra>",
            )
        )
    metric = metric_label(curves[0].metric) if curves else ""
    level = curves[0].level if curves else 0.95
    fig.update_xaxes(title_text="instances trained k (seeds)")
    fig.update_yaxes(title_text=f"expected best {metric} (fraction)")
    return _finish(
        fig,
        f"Expected best of k instances, {metric} ({level:.0%} bootstrap band)",
        height=430,
    )


# ------------------------------------------------------------------------------- training
def training_curves_figure(
    curves: pd.DataFrame, colors: Mapping[str, str], metric: str = "eval_miou_all"
) -> go.Figure:
    """``metric`` against training step, one line per instance, one color per architecture.

    Each architecture is a single trace with gaps between instances (fast with many seeds);
    hovering a point shows its seed.
    """
    fig = go.Figure()
    data = curves.dropna(subset=[metric]).sort_values(["architecture", "seed", "step"])
    for arch in sorted(data["architecture"].astype(str).unique(), key=natural_key):
        rows = data[data["architecture"].astype(str) == arch]
        xs, ys, seeds = [], [], []
        for seed, group in rows.groupby("seed", sort=True):
            xs += [*group["step"].tolist(), None]
            ys += [*group[metric].tolist(), None]
            seeds += [int(seed)] * len(group) + [None]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                customdata=seeds,
                mode="lines+markers",
                marker=dict(size=3),
                line=dict(color=colors.get(arch, PALETTE[0]), width=1),
                opacity=0.75,
                name=arch,
                legendgroup=arch,
                connectgaps=False,
                hovertemplate=f"{arch}, seed %{{customdata}}<br>step %{{x}}: %{{y:.4f}}<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="training step (iterations)")
    fig.update_yaxes(title_text=f"{metric_label(metric)} (fraction)")
    return _finish(fig, f"Training curves: {metric_label(metric)} at each evaluation", height=460)


def class_iou_figure(
    instances: pd.DataFrame,
    classes: Sequence[str],
    colors: Mapping[str, str],
    splits: Sequence[str] = ("eval", "test"),
) -> go.Figure:
    """IoU per class of every instance (box and points), grouped by architecture, per split."""
    splits = [s for s in splits if any(f"{s}_iou_{c}" in instances for c in classes)]
    fig = make_subplots(
        rows=len(splits),
        cols=1,
        subplot_titles=[f"{s} volume (best checkpoint)" for s in splits],
        vertical_spacing=0.14,
    )
    archs = sorted(instances["architecture"].astype(str).unique(), key=natural_key)
    for r, split in enumerate(splits, start=1):
        present = [c for c in classes if f"{split}_iou_{c}" in instances]
        for arch in archs:
            rows = instances[instances["architecture"].astype(str) == arch]
            x = np.repeat([c.replace("_", " ") for c in present], len(rows))
            y = np.concatenate(
                [pd.to_numeric(rows[f"{split}_iou_{c}"], errors="coerce") for c in present]
            )
            seeds = np.tile(rows["seed"].to_numpy(), len(present))
            fig.add_trace(
                go.Box(
                    x=x,
                    y=y,
                    customdata=seeds,
                    name=arch,
                    legendgroup=arch,
                    showlegend=r == 1,
                    marker=dict(color=colors.get(arch, PALETTE[0]), size=3),
                    line=dict(width=1.2),
                    boxpoints="all",
                    jitter=0.4,
                    pointpos=0,
                    hovertemplate=f"{arch}, seed %{{customdata}}<br>%{{x}}: IoU %{{y:.4f}}"
                    "<extra></extra>",
                ),
                row=r,
                col=1,
            )
        fig.update_yaxes(title_text="IoU (fraction)", row=r, col=1)
        fig.update_xaxes(title_text="class", row=r, col=1)
    return _finish(
        fig,
        "IoU per class of every instance",
        height=80 + 380 * max(1, len(splits)),
        boxmode="group",
    )
