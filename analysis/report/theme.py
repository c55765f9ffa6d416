"""The look shared by every figure of the run and search reports: palette, plotly template, labels.

Figures have a transparent background and a mid-gray grid, so they read the same on a light and a
dark page (the page sets the font color for its theme, see ``templates/page.js``); each
architecture keeps one color everywhere (:func:`architecture_colors`).
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from analysis.io import natural_key

__all__ = [
    "GRID",
    "LINE",
    "NEUTRAL",
    "PALETTE",
    "SIGNIFICANT",
    "SPLITS",
    "TEMPLATE",
    "architecture_colors",
    "finish",
    "metric_label",
    "rgba",
]

#: Qualitative palette (Tableau 10): mid-luminance colors readable on white and on near-black.
PALETTE: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#1f9e89", "#d4a6c8", "#86bcb6", "#f1ce63", "#8cd17d",
)  # fmt: skip
#: Grid lines, and axis lines / neutral marks, visible on light and dark pages.
GRID = "rgba(128,128,128,0.28)"
LINE = "rgba(128,128,128,0.65)"
#: Marks of a significant result, and of one that is not.
SIGNIFICANT = "#e15759"
NEUTRAL = "#7f7f7f"

_AXIS = dict(
    gridcolor=GRID, linecolor=LINE, zerolinecolor=LINE, tickcolor=LINE, showline=True,
    automargin=True,
)  # fmt: skip
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

#: Metric-name prefixes and how they read.
SPLITS: dict[str, str] = {
    "eval": "eval",
    "test": "test",
    "final_eval": "final eval",
    "final_test": "final test",
}


def metric_label(metric: str) -> str:
    """``eval_miou_org`` -> ``eval MIoU (organelles)``; ``test_iou_cell`` -> ``test IoU cell``."""
    for prefix in sorted(SPLITS, key=len, reverse=True):
        if metric.startswith(prefix + "_"):
            rest = metric[len(prefix) + 1 :]
            split = SPLITS[prefix]
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


def finish(fig: go.Figure, title: str, height: int, **layout) -> go.Figure:
    """Applies :data:`TEMPLATE`, the title (left) and the height; ``layout`` goes on top."""
    fig.update_layout(template=TEMPLATE, title=dict(text=title, x=0.01), height=height, **layout)
    return fig
