"""Plotly figures of the scores themselves: distributions, ensembles, training curves, class IoU.

Every builder takes DataFrames or dataclasses from the analysis functions and returns a
``plotly.graph_objects.Figure`` in the report's look (:mod:`analysis.report.theme`); figures of
statistics (comparisons, best of k, ranks, sequential looks) are in
:mod:`analysis.report.stat_figures`. MIoU values are fractions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.distributions import KDE, Summary
from analysis.io import natural_key
from analysis.report.theme import PALETTE, SPLITS, finish, metric_label, rgba

__all__ = [
    "class_iou_figure",
    "distribution_figure",
    "ensemble_figure",
    "training_curves_figure",
]


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
    return finish(
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


# --------------------------------------------------------------------------------- ensembles
def ensemble_figure(ensembles: pd.DataFrame, colors: Mapping[str, str]) -> go.Figure:
    """Ensemble score against ensemble size: top-k (solid) and random-k (dashed, with band).

    One panel per split (eval, test) and subset (all classes, organelles) present in
    ``ensembles`` (columns ``architecture, selection, k`` and ``<split>_miou_<subset>``, random
    rows with ``<metric>_low`` / ``<metric>_high``).
    """
    subsets = [s for s in ("all", "org") if any(f"{p}_miou_{s}" in ensembles for p in SPLITS)]
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
    return finish(
        fig,
        "Ensemble score against size: top-k by eval MIoU (solid), random-k baseline (dashed, 95% of draws)",
        height=80 + 340 * len(subsets),
        legend=dict(orientation="h", y=-0.12, yanchor="top"),
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
    return finish(fig, f"Training curves: {metric_label(metric)} at each evaluation", height=460)


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
    return finish(
        fig,
        "IoU per class of every instance",
        height=80 + 380 * max(1, len(splits)),
        boxmode="group",
    )
