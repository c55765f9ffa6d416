"""Sections of the run report that show the run's outputs: ensembles and best of k, training
curves, IoU per class, the slice viewer and the notes."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.io import natural_key
from analysis.report.context import ReportContext
from analysis.report.figures import class_iou_figure, ensemble_figure, training_curves_figure
from analysis.report.markup import escape, hex_color, note, script_safe, swatch, table
from analysis.report.page import Page
from analysis.report.slices import SliceStack, class_palette, slice_stacks
from analysis.report.stat_figures import best_of_k_figure
from analysis.report.text import num

__all__ = [
    "best_ensembles",
    "class_section",
    "ensemble_section",
    "notes_section",
    "slice_section",
    "training_section",
]


def ensemble_section(page: Page, ctx: ReportContext) -> str:
    """Ensemble-size curves, small-component removal and the expected best of k."""
    parts = []
    ens = ctx.tables.get("ensembles")
    if ens is None or not {"architecture", "selection", "k"} <= set(ens.columns):
        parts.append(
            note(
                "no ensembles.parquet: ensemble curves omitted (run python -m benchmark ensembles)"
            )
        )
    else:
        parts.append(
            page.figure(
                ensemble_figure(ens, ctx.colors),
                "Top-k: the k instances with the best eval MIoU (all), probabilities averaged; the "
                "eval score is optimistic because the members were chosen on it. Random-k: k "
                "members drawn at random (mean and 2.5-97.5 % of the draws).",
            )
        )
    pp = ctx.tables.get("postprocess")
    if pp is not None:
        header = [escape(c.replace("_", " ")) for c in pp.columns]
        rows = [
            [num(v) if isinstance(v, float) else escape(v) for v in r]
            for r in pp.itertuples(index=False)
        ]
        parts.append("<h3>Small-component removal</h3>" + table(header, rows))
    analysis = ctx.analysis
    if analysis is not None and analysis.best_of_k:
        banded = [b for b in analysis.best_of_k if b.method and b.k_max > 0]
        methods = sorted({b.method for b in banded})
        k_max = ", ".join(f"{b.architecture} k <= {b.k_max}" for b in banded)
        band = (
            f"Band: {escape('; '.join(methods))}, drawn up to k_max ((k + 1)^2 <= n: "
            f"{escape(k_max)}); beyond, the estimate alone."
            if banded
            else "No band: too few seeds."
        )
        unbanded = [b.architecture for b in analysis.best_of_k if not (b.method and b.k_max > 0)]
        if banded and unbanded:
            band += f" No band for {escape(', '.join(unbanded))} (too few seeds)."
        parts.append(
            page.figure(
                best_of_k_figure(analysis.best_of_k, ctx.colors),
                "Expected best single instance when k seeds are trained and the best is kept "
                f"(order statistics of the observed scores, no retraining). {band}",
            )
        )
    return "\n".join(parts)


def training_section(page: Page, ctx: ReportContext) -> str:
    """Eval MIoU against training step, one line per instance."""
    curves = ctx.tables.get("curves")
    if curves is None or not {"architecture", "seed", "step", "eval_miou_all"} <= set(
        curves.columns
    ):
        return note("no curves.parquet: training curves omitted")
    return page.figure(
        training_curves_figure(curves, ctx.colors),
        "One line per instance (hover for the seed); click a legend entry to hide an architecture.",
    )


def class_section(page: Page, ctx: ReportContext) -> str:
    """IoU of each class per instance (``eval_iou_<class>`` / ``test_iou_<class>`` columns)."""
    data = ctx.table.data
    classes = list(
        dict.fromkeys(
            c.split("_iou_", 1)[1]
            for c in data.columns
            if isinstance(c, str) and (c.startswith("eval_iou_") or c.startswith("test_iou_"))
        )
    )
    if not classes or not len(data):
        return note("no per-class IoU columns (eval_iou_<class>): omitted")
    return page.figure(
        class_iou_figure(data, classes, ctx.colors),
        "IoU of each class at each instance's best checkpoint; boxes: quartiles, points: instances.",
    )


def best_ensembles(ens: pd.DataFrame | None) -> dict[str, tuple[int, float]]:
    """``{architecture: (k, eval MIoU all)}`` of each architecture's best top-k ensemble."""
    if ens is None or not {"architecture", "selection", "k", "eval_miou_all"} <= set(ens.columns):
        return {}
    top = ens[(ens["selection"].astype(str) == "top") & ens["eval_miou_all"].notna()]
    out = {}
    for arch, group in top.groupby(top["architecture"].astype(str)):
        best = group.loc[group["eval_miou_all"].idxmax()]
        out[arch] = (int(best["k"]), float(best["eval_miou_all"]))
    return out


def slice_section(page: Page, ctx: ReportContext, *, max_side: int, max_slices: int) -> str:
    """Image, ground truth, best-ensemble prediction and error map per volume, with a z slider."""
    if ctx.predictions is None:
        return note(
            "no ensembles/predictions.npz: slice viewer omitted (run python -m benchmark ensembles)"
        )
    with np.load(ctx.predictions, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    class_names = [str(c) for c in arrays.pop("class_names", [])]
    in_npz = sorted(
        {k.split("__")[0] for k in arrays} - {"image", "labels", "labeled"}, key=natural_key
    )
    order = [a for a in ctx.architectures if a in in_npz]
    order += [a for a in in_npz if a not in ctx.architectures]
    info = best_ensembles(ctx.tables.get("ensembles"))
    if info:
        order.sort(key=lambda a: -info.get(a, (None, -np.inf))[1])
    stacks = slice_stacks(arrays, order, max_side=max_side, max_slices=max_slices)
    if not stacks:
        return note("predictions.npz holds no image/labels volume: slice viewer omitted")
    parts = [_viewer(stack, order, info) for stack in stacks]
    palette = class_palette(max(len(class_names), 7))
    legend = "".join(
        f'<span class="legend-item">{swatch(hex_color(palette[i]))}{escape(name)}</span>'
        for i, name in enumerate(class_names)
    )
    if legend:
        parts.append(f'<p class="legend">{legend}</p>')
    return "\n".join(parts)


def _viewer(stack: SliceStack, order: Sequence[str], info: dict[str, tuple[int, float]]) -> str:
    """One volume's viewer: controls, panels and its data (read by ``templates/page.js``)."""
    archs = [a for a in order if a in stack.predictions]
    labels = {
        a: (f"Top-{info[a][0]} {a} (eval MIoU all {info[a][1]:.3f})" if a in info else a)
        for a in archs
    }
    data = {
        "z": list(stack.z),
        "image": list(stack.image),
        "truth": list(stack.truth),
        "pred": {a: list(v) for a, v in stack.predictions.items()},
        "error": {a: list(v) for a, v in stack.errors.items()},
    }
    options = "".join(f'<option value="{escape(a)}">{escape(labels[a])}</option>' for a in archs)
    nz, nx, ny = stack.shape
    down = f", shown at 1/{stack.step} resolution" if stack.step > 1 else ""
    select = f'<label>ensemble <select class="arch">{options}</select></label>' if archs else ""
    panels = [("v-image", "image", "image"), ("v-truth", "ground truth", "ground truth")]
    if archs:
        panels += [
            ("v-pred", "prediction", "best ensemble prediction"),
            ("v-error", "error map", "errors: red wrong, gray right"),
        ]
    figures = "".join(
        f'<figure><img class="{cls}" alt="{alt}"><figcaption>{caption}</figcaption></figure>'
        for cls, alt, caption in panels
    )
    return (
        f'<div class="viewer" data-split="{stack.split}">'
        f"<h3>{escape(stack.split)} volume: {nz} x {nx} x {ny} voxels (z, x, y){down}</h3>"
        '<div class="controls"><label>z slice <input type="range" class="zslider" min="0" '
        f'max="{len(stack.z) - 1}" value="{len(stack.z) // 2}" step="1"></label>'
        f'<span class="zlabel"></span>{select}</div>'
        f'<div class="panels">{figures}</div>'
        f'<script type="application/json" class="slice-data">{script_safe(json.dumps(data))}</script>'
        "</div>"
    )


def notes_section(notes: Sequence[str], ctx: ReportContext) -> str:
    """The notes of the analysis and the report, and the rows excluded from the statistics."""
    parts = []
    if notes:
        parts.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    analysis = ctx.analysis
    if analysis is not None and len(analysis.excluded):
        parts.append("<h3>Rows excluded from the statistics</h3>")
        parts.append(
            table(
                ["architecture", "seed", "status", "reason"],
                (
                    (
                        escape(r.architecture),
                        escape("" if pd.isna(r.seed) else int(r.seed)),
                        escape(r.status),
                        escape(r.reason),
                    )
                    for r in analysis.excluded.itertuples()
                ),
            )
        )
    return "\n".join(parts) or note("nothing to note")
