"""A run's results as one self-contained, interactive HTML page.

>>> build_report("results/ablations/main1")             # doctest: +SKIP
PosixPath('results/ablations/main1/report.html')

The page embeds plotly.js once and works offline. It shows the run's metadata, Table 1, the
performance distribution of every architecture (the paper's Figure 4), the comparisons with the
reference (matrix and forest plot), ensemble-size and expected best-of-k curves, the seeds needed
for 80 % power, training curves, IoU per class and a slice viewer of the best ensembles. Every
number comes from :func:`analysis.analyze.analyze` or the run's tables; this module only lays them
out (figures in :mod:`analysis.figures`). Sections whose inputs are missing (no ensembles, no
curves, a plain table without ``run.json``) are replaced by a one-line note.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import struct
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.analyze import AnalysisReport, analyze
from analysis.derived import record_derived, stale_outputs
from analysis.distributions import kde
from analysis.files import atomic_write_text
from analysis.io import VALID_STATUSES, InstanceTable, load_instances, natural_key

__all__ = [
    "CLASS_COLORS",
    "DISTRIBUTION_METRICS",
    "SliceStack",
    "build_report",
    "png_bytes",
    "png_data_uri",
    "slice_stacks",
]

#: Metrics drawn as performance distributions (those present), as in the paper's Figure 4.
DISTRIBUTION_METRICS: tuple[str, ...] = ("eval_miou_all", "eval_miou_org", "test_miou_org")
#: Shown when hovering an instance.
HOVER_METRICS: tuple[str, ...] = (
    "eval_miou_all",
    "eval_miou_org",
    "test_miou_all",
    "test_miou_org",
    "final_eval_miou_all",
)
#: Label colors of the platelet-em data set (class id -> RGB), used for the slice viewer.
CLASS_COLORS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (1, 1, 224),
    (1, 171, 254),
    (1, 254, 1),
    (255, 224, 0),
    (250, 94, 0),
    (245, 0, 203),
)
_EXTRA_COLORS = ((148, 103, 189), (140, 86, 75), (188, 189, 34), (23, 190, 207), (227, 119, 194))
_TABLE1_HEADERS = {
    "eval_miou_all": "Eval MIoU (all)",
    "eval_miou_org": "Eval MIoU (org)",
    "test_miou_org": "Test MIoU (org)",
    "test_miou_all": "Test MIoU (all)",
}
_TABLE1_SECTIONS = {
    "ensemble": "(a) Ensembles",
    "single": "(b) Single instances",
    "baseline": "(c) Baselines",
}


# ------------------------------------------------------------------------------------- PNG
def png_bytes(
    array: np.ndarray,
    palette: Sequence[Sequence[int]] | None = None,
    transparent: int | None = None,
) -> bytes:
    """Encodes a 2-D uint8 array ``(rows, columns)`` as an 8-bit PNG.

    Args:
        array: gray values, or palette indices when ``palette`` is given.
        palette: RGB triples; the image becomes an indexed-color PNG.
        transparent: a palette index drawn fully transparent.
    """
    a = np.ascontiguousarray(array, dtype=np.uint8)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"expected a non-empty 2-D array, got shape {a.shape}")
    h, w = a.shape
    if palette is None:
        # Filter "Sub" (each byte minus its left neighbour): smooth gray images compress better.
        body = np.empty_like(a)
        body[:, 0] = a[:, 0]
        body[:, 1:] = a[:, 1:] - a[:, :-1]
        filt, color_type = 1, 0
    else:
        body, filt, color_type = a, 0, 3
    raw = np.hstack([np.full((h, 1), filt, np.uint8), body]).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    out = b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    )
    if palette is not None:
        out += chunk(b"PLTE", bytes(int(c) & 255 for rgb in palette for c in rgb[:3]))
        if transparent is not None:
            out += chunk(
                b"tRNS", bytes(0 if i == transparent else 255 for i in range(len(palette)))
            )
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def png_data_uri(array: np.ndarray, **kwargs: Any) -> str:
    """``data:image/png;base64,...`` of :func:`png_bytes`."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(array, **kwargs)).decode("ascii")


# ------------------------------------------------------------------------------ slice viewer
@dataclass(frozen=True)
class SliceStack:
    """Downsampled z slices of one volume (eval or test) as PNG data URIs, for the slice viewer.

    Attributes:
        split: "eval" or "test".
        z: original z index of each slice shown.
        shape: ``(z, x, y)`` of the full volume; ``step`` is the x/y downsampling factor.
        image, truth: one data URI per slice (gray image; labels in :data:`CLASS_COLORS`).
        predictions, errors: per architecture, its best ensemble's segmentation and error map
            (red: wrong class, gray: right, transparent: unlabeled).
    """

    split: str
    z: tuple[int, ...]
    shape: tuple[int, int, int]
    step: int
    image: tuple[str, ...]
    truth: tuple[str, ...]
    predictions: Mapping[str, tuple[str, ...]]
    errors: Mapping[str, tuple[str, ...]]


def _class_palette(n: int) -> list[tuple[int, int, int]]:
    colors = list(CLASS_COLORS) + [_EXTRA_COLORS[i % len(_EXTRA_COLORS)] for i in range(max(0, n))]
    return colors[: max(n, 1)]


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Gray values 0..255 between the 0.5 and 99.5 percentiles of the whole volume."""
    x = image.astype(np.float32)
    sample = x.ravel()[:: max(1, x.size // 200_000)]
    sample = sample[np.isfinite(sample)]
    lo, hi = np.percentile(sample, [0.5, 99.5]) if sample.size else (0.0, 1.0)
    scaled = (x - lo) / max(float(hi - lo), 1e-6) * 255
    return np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)


def _shrink_mean(a: np.ndarray, step: int) -> np.ndarray:
    """Block mean over ``step x step`` in the last two axes (edges cropped)."""
    if step == 1:
        return a
    z, x, y = a.shape
    x2, y2 = x // step * step, y // step * step
    blocks = a[:, :x2, :y2].reshape(z, x2 // step, step, y2 // step, step).astype(np.float32)
    return blocks.mean(axis=(2, 4)).round().astype(np.uint8)


def _shrink_nearest(a: np.ndarray, step: int) -> np.ndarray:
    if step == 1:
        return a
    z, x, y = a.shape
    x2, y2 = x // step * step, y // step * step
    return a[:, step // 2 : x2 : step, step // 2 : y2 : step]


def slice_stacks(
    predictions: Mapping[str, np.ndarray],
    architectures: Sequence[str],
    *,
    max_side: int = 256,
    max_slices: int = 48,
) -> list[SliceStack]:
    """Slice-viewer data from the arrays of ``ensembles/predictions.npz``.

    Args:
        predictions: ``image__<split>`` (float, ``(z, x, y)``), ``labels__<split>`` (uint8) and
            ``<arch>__<split>`` (uint8 segmentations), optionally ``labeled__<split>`` (bool).
        architectures: architectures whose ``<arch>__<split>`` arrays are used, in this order.
        max_side: largest x/y size shown; larger slices are downsampled by an integer factor.
        max_slices: at most this many z slices, evenly spaced.
    """
    stacks = []
    for split in ("eval", "test"):
        if f"image__{split}" not in predictions or f"labels__{split}" not in predictions:
            continue
        image = np.asarray(predictions[f"image__{split}"])
        labels = np.asarray(predictions[f"labels__{split}"]).astype(np.uint8)
        if image.ndim != 3 or image.shape != labels.shape:
            continue
        nz, nx, ny = image.shape
        zs = np.unique(np.linspace(0, nz - 1, min(nz, max_slices)).round().astype(int))
        step = max(1, int(np.ceil(max(nx, ny) / max_side)))
        gray = _shrink_mean(_to_uint8(image[zs]), step)
        truth = _shrink_nearest(labels[zs], step)
        labeled = predictions.get(f"labeled__{split}")
        mask = None if labeled is None else _shrink_nearest(np.asarray(labeled, bool)[zs], step)
        segs = {
            a: predictions[f"{a}__{split}"] for a in architectures if f"{a}__{split}" in predictions
        }
        n_classes = 1 + max([6, int(labels.max())] + [int(np.max(s)) for s in segs.values()])
        palette = _class_palette(n_classes)
        preds, errors = {}, {}
        for arch in architectures:
            seg = segs.get(arch)
            if seg is None or np.shape(seg) != labels.shape:
                continue
            seg = _shrink_nearest(np.asarray(seg)[zs].astype(np.uint8), step)
            err = (seg != truth).astype(np.uint8)
            if mask is not None:
                err[~mask] = 2
            preds[arch] = tuple(png_data_uri(s, palette=palette) for s in seg)
            errors[arch] = tuple(
                png_data_uri(e, palette=[(96, 96, 96), (235, 40, 40), (0, 0, 0)], transparent=2)
                for e in err
            )
        stacks.append(
            SliceStack(
                split=split,
                z=tuple(int(z) for z in zs),
                shape=(nz, nx, ny),
                step=step,
                image=tuple(png_data_uri(s) for s in gray),
                truth=tuple(png_data_uri(s, palette=palette) for s in truth),
                predictions=preds,
                errors=errors,
            )
        )
    return stacks


# ------------------------------------------------------------------------------------- build
def build_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    reference: str | None = None,
    metric: str = "eval_miou_all",
    correction: str = "holm",
    seed: int = 0,
    analysis: AnalysisReport | None = None,
    n_resamples: int = 10_000,
    max_side: int = 256,
    max_slices: int = 48,
) -> Path:
    """Writes the HTML report of a run directory (or of a plain results table).

    Args:
        run_dir: a run directory (``instances.parquet``, optional ``run.json``, ``curves.parquet``,
            ``ensembles.parquet``, ``ensembles/predictions.npz``, ``postprocess.parquet``), or a
            ``.csv``/``.parquet`` table of per-instance scores.
        out: the HTML file; default ``RUN_DIR/report.html`` (``<table>.report.html`` for a table).
        reference, metric, correction, seed, n_resamples: passed to :func:`~analysis.analyze.analyze`
            (unless ``analysis`` is given); ``seed`` also places the points' jitter.
        analysis: an already computed analysis of the same table, reused as is.
        max_side, max_slices: size limits of the slice viewer's images.

    Returns:
        The path written (atomically: a temporary file, then ``os.replace``).
    """
    started = time.perf_counter()
    source = Path(run_dir)
    table = load_instances(source)
    is_dir = table.run_dir is not None
    if out is None:
        out = source / "report.html" if is_dir else source.with_name(f"{source.stem}.report.html")
    notes: list[str] = []
    if analysis is None:
        if table.architectures:
            analysis = analyze(
                table,
                reference=reference,
                metric=metric,
                correction=correction,
                seed=seed,
                n_resamples=n_resamples,
                write=False,
            )
        else:
            notes.append("no usable instance: statistics omitted")
    page = _Page()
    archs = _all_architectures(table)
    colors = _colors(archs)
    run_dir_path = table.run_dir
    optional = _optional_inputs(run_dir_path)

    page.section("run", "Run", _run_section(table, source, colors))
    page.section("table1", "Table 1", _table1_section(analysis))
    page.section(
        "distributions",
        "Performance distributions",
        _distribution_section(page, table, analysis, colors, seed),
    )
    page.section("comparisons", "Comparisons", _comparison_section(page, analysis))
    page.section(
        "ensembles", "Ensembles and best of k", _ensemble_section(page, optional, analysis, colors)
    )
    page.section("power", "Seeds needed", _power_section(analysis))
    page.section("training", "Training curves", _training_section(page, optional, colors))
    page.section("classes", "IoU per class", _class_section(page, table, colors))
    page.section(
        "slices",
        "Slice viewer",
        _slice_section(page, optional, archs, max_side=max_side, max_slices=max_slices),
    )
    if analysis is not None:
        notes += list(analysis.notes)
    if run_dir_path is not None:
        stale = stale_outputs(run_dir_path)
        if "ensembles" in stale:
            notes.append(
                f"stale: {stale['ensembles']}; the ensemble curves and Table 1(a) may not match "
                f"the instances (rebuild: python -m benchmark ensembles {run_dir_path})"
            )
    page.section("notes", "Notes", _notes_section(notes, analysis))

    title = _title(table, source)
    elapsed = time.perf_counter() - started
    text = page.render(title, _subtitle(table, analysis, elapsed))
    path = atomic_write_text(out, text)
    path.chmod(0o644)  # the temporary file was private (mkstemp); a report is meant to be shared
    if is_dir and Path(out).resolve() == (source / "report.html").resolve():
        record_derived(source, "report")
    return path


def _all_architectures(table: InstanceTable) -> list[str]:
    names = set(table.data["architecture"].astype(str))
    names |= set(table.excluded["architecture"].astype(str))
    names |= set(map(str, table.run.get("architectures", [])))
    return sorted(names, key=natural_key)


def _colors(archs: Sequence[str]) -> dict[str, str]:
    from analysis.figures import architecture_colors

    return architecture_colors(archs)


def _optional_inputs(run_dir: Path | None) -> dict[str, Any]:
    """The run's optional tables (None where absent)."""
    found: dict[str, Any] = {"ensembles": None, "curves": None, "postprocess": None, "npz": None}
    if run_dir is None:
        return found
    for key, name in (
        ("ensembles", "ensembles.parquet"),
        ("curves", "curves.parquet"),
        ("postprocess", "postprocess.parquet"),
    ):
        if (run_dir / name).is_file():
            frame = pd.read_parquet(run_dir / name)
            found[key] = frame if len(frame) else None
    npz = run_dir / "ensembles" / "predictions.npz"
    if npz.is_file():
        found["npz"] = npz
    return found


# ------------------------------------------------------------------------------------ page
class _Page:
    """Collects sections and figures and renders the HTML document."""

    def __init__(self) -> None:
        self.sections: list[tuple[str, str, str]] = []
        self.figures: list[tuple[str, str]] = []
        self.scripts: list[str] = []

    def section(self, anchor: str, title: str, body: str) -> None:
        self.sections.append((anchor, title, body))

    def figure(self, fig: Any, caption: str = "") -> str:
        """Registers a plotly figure; returns the HTML of its container."""
        import plotly.io as pio

        div = f"fig-{len(self.figures)}"
        spec = pio.to_json(fig, validate=False, pretty=False)
        self.figures.append((div, _script_safe(spec)))
        cap = f'<p class="caption">{caption}</p>' if caption else ""
        # The container has the figure's height: plotly's responsive resizing (window resize,
        # theme relayout) sizes the figure from its container and forgets layout.height.
        height = int(fig.layout.height or 450)
        return (
            f'<div class="figure"><div id="{div}" class="plot" style="height:{height}px"></div>'
            f"{cap}</div>"
        )

    def render(self, title: str, subtitle: str) -> str:
        import plotly.offline

        nav = "".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t, _ in self.sections)
        body = "\n".join(
            f'<section id="{a}"><h2>{html.escape(t)}</h2>\n{b}\n</section>'
            for a, t, b in self.sections
        )
        specs = "\n".join(
            f'<script type="application/json" class="plotly-figure" data-target="{d}">{s}</script>'
            for d, s in self.figures
        )
        return _HTML.format(
            title=html.escape(title),
            subtitle=subtitle,
            css=_CSS,
            nav=nav,
            body=body,
            specs=specs,
            plotly=plotly.offline.get_plotlyjs(),
            script=_SCRIPT,
        )


def _script_safe(text: str) -> str:
    """JSON that can sit inside a ``<script>`` element (``<`` only occurs inside strings)."""
    return text.replace("<", "\\u003c")


def _e(value: Any) -> str:
    return html.escape(str(value))


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _f(value: Any, digits: int = 4) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if not np.isfinite(v) else f"{v:.{digits}f}"


def _table(
    header: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = (), cls: str = ""
) -> str:
    """An HTML table; cells are HTML already (escape before)."""
    head = "".join(
        f"<th{' class=num' if i in numeric else ''}>{h}</th>" for i, h in enumerate(header)
    )
    lines = []
    for row in rows:
        cells = "".join(
            f"<td{' class=num' if i in numeric else ''}>{c}</td>" for i, c in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    return f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table></div>'


def _swatch(color: str) -> str:
    return f'<span class="swatch" style="background:{color}"></span>'


def _hex(rgb: Sequence[int]) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb[:3])


def _arch(name: str, colors: Mapping[str, str]) -> str:
    return f"{_swatch(colors.get(name, '#7f7f7f'))}{_e(name)}"


# ------------------------------------------------------------------------------- sections
def _title(table: InstanceTable, source: Path) -> str:
    suite = table.run.get("suite")
    name = source.name if table.run_dir is not None else source.stem
    return f"densecell-bench report: {suite}/{name}" if suite else f"densecell-bench report: {name}"


def _subtitle(table: InstanceTable, analysis: AnalysisReport | None, elapsed: float) -> str:
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    parts = [f"source <code>{_e(table.source)}</code>"]
    if analysis is not None:
        parts.append(
            f"metric <b>{_e(analysis.metric)}</b>, reference <b>{_e(analysis.reference)}</b>, "
            f"{analysis.level:.0%} intervals (bootstrap {_e(analysis.ci_method)}, "
            f"{analysis.n_resamples:,} resamples, seed {analysis.seed}), correction "
            f"{_e(analysis.correction)}"
        )
    parts.append(f"generated {now} in {elapsed:.1f} s")
    return "; ".join(parts)


def _seed_ranges(seeds: Iterable[int]) -> str:
    s = sorted({int(x) for x in seeds})
    if not s:
        return "none"
    parts, start, prev = [], s[0], s[0]
    for x in [*s[1:], None]:
        if x is not None and x == prev + 1:
            prev = x
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if x is not None:
            start = prev = x
    return f"{', '.join(parts)} ({len(s)} seeds)"


def _duration(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(s):
        return ""
    if s < 120:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.2f} h"


def _run_section(table: InstanceTable, source: Path, colors: Mapping[str, str]) -> str:
    run = dict(table.run)
    parts = []
    if not run:
        parts.append(_note(f"no run.json: metadata unavailable (source {source})"))
    else:
        invocations = run.get("invocations") or []
        total = sum(float(i.get("wall_time_s") or 0) for i in invocations)
        data = run.get("data") or {}
        data_text = ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, "", [], {}))
        items = [
            ("suite", f"{_e(run.get('suite', ''))}: {_e(run.get('suite_description') or '')}"),
            ("profile", _e(run.get("profile", ""))),
            ("architectures", ", ".join(_arch(a, colors) for a in run.get("architectures", []))),
            ("seeds", _e(_seed_ranges(run.get("seeds", [])))),
            ("data", _e(data_text)),
            ("train overrides", _e(json.dumps(run.get("train_overrides") or {}))),
            ("plugins", _e(", ".join(run.get("plugins") or []) or "none")),
            ("git revision", f"<code>{_e(run.get('git_revision'))}</code>"),
            ("wall time", _e(f"{_duration(total)} over {len(invocations)} invocation(s)")),
            (
                "versions",
                _e(", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items() if v)),
            ),
            (
                "hardware",
                _e(", ".join(f"{k}: {v}" for k, v in (run.get("hardware") or {}).items())),
            ),
        ]
        parts.append(
            '<dl class="meta">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"
        )
        if invocations:
            rows = [
                (
                    f"<code>{_e(i.get('command', ''))}</code>",
                    _e(i.get("started", "")),
                    _e(i.get("ended", "")),
                    _e(_duration(i.get("wall_time_s"))),
                    _e(i.get("complete", "")),
                    _e(json.dumps(i.get("resources", {}))),
                    _e(json.dumps(i.get("cluster", {}))),
                    _e(i.get("address", "")),
                )
                for i in invocations
            ]
            parts.append("<h3>Invocations</h3>")
            parts.append(
                _table(
                    [
                        "command",
                        "started",
                        "ended",
                        "wall time",
                        "complete",
                        "per trial",
                        "cluster",
                        "address",
                    ],
                    rows,
                )
            )
        if run.get("configs"):
            configs = "".join(
                f"<details><summary>{_arch(a, colors)}</summary><pre>{_e(json.dumps(c, indent=1))}</pre></details>"
                for a, c in run["configs"].items()
            )
            parts.append(f"<h3>Training configuration</h3>{configs}")
    parts.append("<h3>Instances</h3>")
    parts.append(_status_table(table, colors))
    failed = table.excluded
    if len(failed):
        parts.append(f"<h3>Failed or unfinished instances ({len(failed)})</h3>")
        parts.append(
            _table(
                ["architecture", "seed", "status", "reason"],
                (
                    (
                        _arch(str(r.architecture), colors),
                        _e("" if pd.isna(r.seed) else int(r.seed)),
                        _e(r.status),
                        _e(r.reason),
                    )
                    for r in failed.itertuples()
                ),
            )
        )
    else:
        parts.append(_note("no failed instances"))
    return "\n".join(parts)


def _status_table(table: InstanceTable, colors: Mapping[str, str]) -> str:
    frames = [table.data.assign(status=table.data["status"].astype(str))]
    if len(table.excluded):
        frames.append(table.excluded[["architecture", "seed", "status"]])
    every = pd.concat(frames, ignore_index=True)
    statuses = [*VALID_STATUSES, "failed", "running"]
    statuses += sorted(set(every["status"].astype(str)) - set(statuses))
    rows = []
    for arch in sorted(every["architecture"].astype(str).unique(), key=natural_key):
        mine = every[every["architecture"].astype(str) == arch]
        done = table.data[table.data["architecture"] == arch]
        counts = [str(int((mine["status"].astype(str) == s).sum())) for s in statuses]
        params = pd.to_numeric(done.get("params"), errors="coerce") if "params" in done else None
        wall = (
            pd.to_numeric(done["wall_time_s"], errors="coerce") if "wall_time_s" in done else None
        )
        steps = pd.to_numeric(done["steps"], errors="coerce") if "steps" in done else None
        rows.append(
            [
                _arch(arch, colors),
                *counts,
                "" if params is None or params.isna().all() else f"{int(params.median()):,}",
                "" if steps is None or steps.isna().all() else f"{int(steps.median()):,}",
                "" if wall is None or wall.isna().all() else _e(_duration(wall.median())),
                "" if wall is None or wall.isna().all() else _e(_duration(wall.sum())),
            ]
        )
    header = ["architecture", *(s.replace("_", " ") for s in statuses)]
    header += ["parameters", "steps (median)", "wall time (median)", "wall time (sum)"]
    return _table(header, rows, numeric=range(1, len(header)))


def _table1_section(analysis: AnalysisReport | None) -> str:
    if analysis is None or analysis.table1 is None:
        return _note("Table 1 unavailable (no eval_miou_all column or no usable instances)")
    frame = analysis.table1.frame
    metrics = [c for c in frame.columns if c in _TABLE1_HEADERS]
    best = {m: pd.to_numeric(frame[m], errors="coerce").max() for m in metrics}
    header = ["Model", *(_TABLE1_HEADERS[m] for m in metrics), "Parameters"]
    rows: list[list[str]] = []
    for section, group in frame.groupby("section", sort=False):
        rows.append(
            [f"<b>{_e(_TABLE1_SECTIONS.get(section, section))}</b>", *[""] * (len(header) - 1)]
        )
        for _, r in group.iterrows():
            label = r["label"] if section == "ensemble" else f"{r['label']} (seed {r['seed']})"
            cells = [_e(label)]
            for m in metrics:
                text = _f(r[m], 3)
                bold = text and np.isclose(float(r[m]), best[m])
                cells.append(f"<b>{text}</b>" if bold else text)
            params = r["params"]
            cells.append("" if pd.isna(params) else f"{int(round(float(params))):,}")
            rows.append(cells)
    notes = "".join(_note(n) for n in analysis.table1.notes)
    return (
        _table(header, rows, numeric=range(1, len(header)), cls="table1")
        + '<p class="caption">Layout of the paper\'s Table 1. Ensembles and single instances are '
        "selected by eval MIoU (all); test scores are reported, never used to select. Bold: best "
        "in the column. An ensemble's parameters count all its members.</p>" + notes
    )


def _distribution_section(
    page: _Page,
    table: InstanceTable,
    analysis: AnalysisReport | None,
    colors: Mapping[str, str],
    seed: int,
) -> str:
    from analysis.figures import distribution_figure

    metrics = list(DISTRIBUTION_METRICS)
    if analysis is not None and analysis.metric not in metrics:
        metrics.insert(0, analysis.metric)
    metrics = [m for m in metrics if m in table.data]
    if not metrics or not table.architectures:
        return _note("no usable instance with an eval/test MIoU column: distributions omitted")
    summaries = (
        {} if analysis is None else {(s.architecture, s.metric): s for s in analysis.summaries}
    )
    parts = []
    for i, m in enumerate(metrics):
        scores, _ = table.scores(m)
        kdes = {a: kde(s.to_numpy()) for a, s in scores.items() if len(s)}
        if not kdes:
            parts.append(_note(f"{m}: every value is NaN; omitted"))
            continue
        fig = distribution_figure(
            table.data,
            m,
            kdes=kdes,
            summaries={a: summaries[(a, m)] for a in kdes if (a, m) in summaries},
            colors=colors,
            hover_metrics=HOVER_METRICS,
            jitter_seed=seed + i,
        )
        parts.append(
            page.figure(
                fig,
                "Histogram (density), Gaussian KDE and every instance as a point below the axis "
                "(hover for seed and scores). Bins are shared by all architectures.",
            )
        )
    if analysis is not None:
        parts.append("<h3>Summary</h3>" + _summary_table(analysis, colors))
    return "\n".join(parts)


def _summary_table(analysis: AnalysisReport, colors: Mapping[str, str]) -> str:
    pct = f"{analysis.level:.0%}"
    rows = [
        [
            _e(s.metric),
            _arch(s.architecture, colors),
            str(s.n),
            f"{_f(s.mean)} {_ci(s.mean_ci)}",
            _f(s.sd),
            f"{_f(s.median)} {_ci(s.median_ci)}",
            f"{_f(s.iqm)} {_ci(s.iqm_ci)}",
            _f(s.min),
            _f(s.max),
        ]
        for s in analysis.summaries
    ]
    header = [
        "metric",
        "architecture",
        "n",
        f"mean [{pct} CI]",
        "sd",
        "median [CI]",
        "IQM [CI]",
        "min",
        "max",
    ]
    return _table(header, rows, numeric=range(2, 9))


def _ci(est: Any) -> str:
    if not (np.isfinite(est.low) and np.isfinite(est.high)):
        return ""
    return f'<span class="ci">[{est.low:.4f}, {est.high:.4f}]</span>'


def _comparison_section(page: _Page, analysis: AnalysisReport | None) -> str:
    from analysis.figures import comparison_matrix_figure, forest_figure

    if analysis is None or not analysis.pairwise:
        return _note("fewer than two architectures with two or more scores: no comparisons")
    parts = [
        "<h3>Verdicts</h3><ul class='verdicts'>"
        + "".join(f"<li><code>{_e(v)}</code></li>" for v in analysis.verdicts())
        + "</ul>"
    ]
    parts.append(
        page.figure(
            comparison_matrix_figure(analysis.pairwise, analysis.architectures),
            "Each cell: mean of the row architecture minus mean of the column architecture "
            "(paired by seed where the seeds are shared) and the permutation-test p-value, adjusted "
            "over all pairs. Hover for the verdict.",
        )
    )
    if analysis.comparisons:
        parts.append(
            page.figure(
                forest_figure(analysis.comparisons, analysis.reference),
                "Point: difference of means; bar: bootstrap interval; labels: Hedges' g, d_z "
                "(paired), Cliff's delta and adjusted p. Hover for P(improvement).",
            )
        )
        rows = [
            [
                _e(c.b),
                "paired" if c.paired else "independent",
                str(c.n_pairs) if c.paired else f"{c.n_a} / {c.n_b}",
                _e(c.difference.format(4, signed=True)),
                _e(_p(c.pvalue)),
                _e(_p(c.p_adjusted)),
                _f(c.hedges_g, 2),
                _f(c.d_z, 2) if c.paired else "",
                _f(c.cliffs_delta, 2),
                _e(c.p_improvement.format(2)),
                "yes" if c.significant else "no",
            ]
            for c in analysis.comparisons
        ]
        header = [
            "architecture", "design", "n", f"{_e(analysis.reference)} minus it [CI]", "p",
            f"p ({_e(analysis.correction)})", "Hedges' g", "d_z", "Cliff's delta",
            "P(reference better) [CI]", "significant",
        ]  # fmt: skip
        parts.append(_table(header, rows, numeric=range(2, 10)))
    else:
        parts.append(_note(f"the reference {analysis.reference} cannot be compared"))
    return "\n".join(parts)


def _p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _ensemble_section(
    page: _Page,
    optional: Mapping[str, Any],
    analysis: AnalysisReport | None,
    colors: Mapping[str, str],
) -> str:
    from analysis.figures import best_of_k_figure, ensemble_figure

    parts = []
    ens = optional.get("ensembles")
    needed = {"architecture", "selection", "k"}
    if ens is None or not needed <= set(ens.columns):
        parts.append(
            _note(
                "no ensembles.parquet: ensemble curves omitted (run python -m benchmark ensembles)"
            )
        )
    else:
        parts.append(
            page.figure(
                ensemble_figure(ens, colors),
                "Top-k: the k instances with the best eval MIoU (all), probabilities averaged; the "
                "eval score is optimistic because the members were chosen on it. Random-k: k "
                "members drawn at random (mean and 2.5-97.5 % of the draws).",
            )
        )
    pp = optional.get("postprocess")
    if pp is not None:
        header = [_e(c.replace("_", " ")) for c in pp.columns]
        rows = [
            [_e(v) if not isinstance(v, float) else _f(v) for v in r]
            for r in pp.itertuples(index=False)
        ]
        parts.append("<h3>Small-component removal</h3>" + _table(header, rows))
    if analysis is not None and analysis.best_of_k:
        parts.append(
            page.figure(
                best_of_k_figure(analysis.best_of_k, colors),
                "Expected best single instance when k seeds are trained and the best is kept "
                "(order statistics of the observed scores, no retraining).",
            )
        )
    return "\n".join(parts)


def _power_section(analysis: AnalysisReport | None) -> str:
    if analysis is None or not analysis.power:
        return _note("no comparisons: power table omitted")
    p0 = analysis.power[0]
    rows = [
        [
            f"{_e(r.a)} vs {_e(r.b)}",
            _e(r.test),
            f"{r.difference:+.4f}" if np.isfinite(r.difference) else "n/a",
            f"{_f(r.effect_size, 2)} ({_e(r.effect_name)})",
            str(r.n_now),
            _f(r.power_now, 2),
            _f(r.mde_now, 2),
            "n/a" if r.n_analytic_seeds is None else f"{r.n_analytic_seeds:,}",
            _e(r.simulated_label()),
        ]
        for r in analysis.power
    ]
    header = [
        "comparison", "test", "difference", "effect size", "seeds now", "power now",
        "detectable effect now", "seeds needed (formula)", "seeds needed (simulation)",
    ]  # fmt: skip
    return (
        _table(header, rows, numeric=range(2, 9))
        + f'<p class="caption">Seeds per architecture for {p0.target_power:.0%} power at alpha '
        f"{p0.alpha:g} to detect the observed difference: t-test formula on the observed effect "
        "size, and a simulation that resamples the observed scores. Power now: the simulated power "
        "with the seeds of this run; detectable effect: the smallest effect size found with "
        f"{p0.target_power:.0%} power at that number of seeds.</p>"
    )


def _training_section(page: _Page, optional: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    from analysis.figures import training_curves_figure

    curves = optional.get("curves")
    if curves is None or not {"architecture", "seed", "step", "eval_miou_all"} <= set(
        curves.columns
    ):
        return _note("no curves.parquet: training curves omitted")
    return page.figure(
        training_curves_figure(curves, colors),
        "One line per instance (hover for the seed); click a legend entry to hide an architecture.",
    )


def _class_section(page: _Page, table: InstanceTable, colors: Mapping[str, str]) -> str:
    from analysis.figures import class_iou_figure

    classes = list(
        dict.fromkeys(
            c.split("_iou_", 1)[1]
            for c in table.data.columns
            if isinstance(c, str) and (c.startswith("eval_iou_") or c.startswith("test_iou_"))
        )
    )
    if not classes or not len(table.data):
        return _note("no per-class IoU columns (eval_iou_<class>): omitted")
    return page.figure(
        class_iou_figure(table.data, classes, colors),
        "IoU of each class at each instance's best checkpoint; boxes: quartiles, points: instances.",
    )


def _slice_section(
    page: _Page,
    optional: Mapping[str, Any],
    archs: Sequence[str],
    *,
    max_side: int,
    max_slices: int,
) -> str:
    npz = optional.get("npz")
    if npz is None:
        return _note(
            "no ensembles/predictions.npz: slice viewer omitted (run python -m benchmark ensembles)"
        )
    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    class_names = [str(c) for c in arrays.pop("class_names", [])]
    in_npz = sorted(
        {k.split("__")[0] for k in arrays} - {"image", "labels", "labeled"}, key=natural_key
    )
    order = [a for a in archs if a in in_npz] + [a for a in in_npz if a not in archs]
    ens = optional.get("ensembles")
    info = _best_ensembles(ens)
    if info:
        order.sort(key=lambda a: -info.get(a, (None, -np.inf))[1])
    stacks = slice_stacks(arrays, order, max_side=max_side, max_slices=max_slices)
    if not stacks:
        return _note("predictions.npz holds no image/labels volume: slice viewer omitted")
    parts = []
    for stack in stacks:
        archs_here = [a for a in order if a in stack.predictions]
        labels = {
            a: (f"Top-{info[a][0]} {a} (eval MIoU all {info[a][1]:.3f})" if a in info else a)
            for a in archs_here
        }
        data = {
            "z": list(stack.z),
            "image": list(stack.image),
            "truth": list(stack.truth),
            "pred": {a: list(v) for a, v in stack.predictions.items()},
            "error": {a: list(v) for a, v in stack.errors.items()},
        }
        options = "".join(f'<option value="{_e(a)}">{_e(labels[a])}</option>' for a in archs_here)
        nz, nx, ny = stack.shape
        down = f", shown at 1/{stack.step} resolution" if stack.step > 1 else ""
        pred_panels = (
            ""
            if not archs_here
            else '<figure><img class="v-pred" alt="prediction"><figcaption>best ensemble prediction</figcaption></figure>'
            '<figure><img class="v-error" alt="error map"><figcaption>errors: red wrong, gray right</figcaption></figure>'
        )
        parts.append(
            f'<div class="viewer" data-split="{stack.split}">'
            f"<h3>{_e(stack.split)} volume: {nz} x {nx} x {ny} voxels (z, x, y){down}</h3>"
            '<div class="controls"><label>z slice <input type="range" class="zslider" min="0" '
            f'max="{len(stack.z) - 1}" value="{len(stack.z) // 2}" step="1"></label>'
            '<span class="zlabel"></span>'
            + (
                f'<label>ensemble <select class="arch">{options}</select></label>'
                if archs_here
                else ""
            )
            + "</div>"
            '<div class="panels"><figure><img class="v-image" alt="image"><figcaption>image</figcaption></figure>'
            '<figure><img class="v-truth" alt="ground truth"><figcaption>ground truth</figcaption></figure>'
            f"{pred_panels}</div>"
            f'<script type="application/json" class="slice-data">{_script_safe(json.dumps(data))}</script>'
            "</div>"
        )
    palette = _class_palette(max(len(class_names), 7))
    legend = "".join(
        f'<span class="legend-item">{_swatch(_hex(palette[i]))}{_e(name)}</span>'
        for i, name in enumerate(class_names)
    )
    if legend:
        parts.append(f'<p class="legend">{legend}</p>')
    return "\n".join(parts)


def _best_ensembles(ens: pd.DataFrame | None) -> dict[str, tuple[int, float]]:
    """``{architecture: (k, eval MIoU all)}`` of each architecture's best top-k ensemble."""
    if ens is None or not {"architecture", "selection", "k", "eval_miou_all"} <= set(ens.columns):
        return {}
    top = ens[(ens["selection"].astype(str) == "top") & ens["eval_miou_all"].notna()]
    out = {}
    for arch, group in top.groupby(top["architecture"].astype(str)):
        best = group.loc[group["eval_miou_all"].idxmax()]
        out[arch] = (int(best["k"]), float(best["eval_miou_all"]))
    return out


def _notes_section(notes: Sequence[str], analysis: AnalysisReport | None) -> str:
    parts = []
    if notes:
        parts.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    if analysis is not None and len(analysis.excluded):
        parts.append("<h3>Rows excluded from the statistics</h3>")
        parts.append(
            _table(
                ["architecture", "seed", "status", "reason"],
                (
                    (
                        _e(r.architecture),
                        _e("" if pd.isna(r.seed) else int(r.seed)),
                        _e(r.status),
                        _e(r.reason),
                    )
                    for r in analysis.excluded.itertuples()
                ),
            )
        )
    return "\n".join(parts) or _note("nothing to note")


# -------------------------------------------------------------------------------- template
_CSS = """
:root { color-scheme: light dark; --fg: #1f2328; --muted: #59636e; --bg: #ffffff;
  --panel: rgba(128,128,128,0.07); --border: rgba(128,128,128,0.35); --link: #0969da; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --link: #4493f8; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
header, main { max-width: 1240px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 18px; }
h1 { font-size: 1.6em; margin: 0.2em 0; }
h2 { border-bottom: 1px solid var(--border); padding-bottom: 4px; margin-top: 2em; }
h3 { margin: 1.2em 0 0.4em; font-size: 1.05em; }
a { color: var(--link); }
nav { position: sticky; top: 0; z-index: 10; background: var(--bg);
  border-bottom: 1px solid var(--border); padding: 6px 20px; }
nav a { margin-right: 14px; text-decoration: none; font-size: 0.92em; white-space: nowrap; }
.subtitle, .caption, .note { color: var(--muted); font-size: 0.9em; }
.note { font-style: italic; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0; font-size: 0.9em; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--border); text-align: left;
  vertical-align: top; }
th { background: var(--panel); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.ci { color: var(--muted); }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px;
  margin-right: 6px; vertical-align: baseline; border: 1px solid var(--border); }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
pre { background: var(--panel); padding: 8px; overflow-x: auto; font-size: 0.82em; }
code { font-size: 0.88em; }
details { margin: 2px 0; }
.figure { margin: 10px 0 18px; }
.plot { width: 100%; min-height: 200px; }
ul.verdicts { padding-left: 1.2em; }
.viewer { margin: 10px 0 24px; }
.controls { display: flex; flex-wrap: wrap; gap: 18px; align-items: center; margin: 6px 0; }
.zslider { width: 260px; vertical-align: middle; }
.panels { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 10px; }
.panels figure { margin: 0; }
.panels img { width: 100%; image-rendering: pixelated; background: #808080;
  border: 1px solid var(--border); display: block; }
.panels figcaption { color: var(--muted); font-size: 0.85em; text-align: center; }
.legend-item { margin-right: 16px; white-space: nowrap; }
footer { color: var(--muted); font-size: 0.85em; padding: 30px 20px; text-align: center; }
"""

_SCRIPT = """
(function () {
  "use strict";
  var CONFIG = {responsive: true, displaylogo: false, scrollZoom: false};
  var media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function fg() {
    var c = getComputedStyle(document.documentElement).getPropertyValue("--fg").trim();
    return c || "#7f7f7f";
  }
  var divs = [], pending = [];
  document.querySelectorAll("script.plotly-figure").forEach(function (node) {
    var div = document.getElementById(node.dataset.target);
    var spec = JSON.parse(node.textContent);
    spec.layout = spec.layout || {};
    spec.layout.font = Object.assign({}, spec.layout.font || {}, {color: fg()});
    pending.push(Plotly.newPlot(div, spec.data, spec.layout, CONFIG));
    divs.push(div);
  });
  Promise.all(pending).then(function () {
    document.body.dataset.figures = String(divs.length);
    document.body.dataset.rendered = "true";
  }, function (err) { console.error("figure failed to render", err); });
  function retheme() {
    var color = fg();
    divs.forEach(function (div) { Plotly.relayout(div, {"font.color": color}); });
  }
  if (media) {
    if (media.addEventListener) { media.addEventListener("change", retheme); }
    else if (media.addListener) { media.addListener(retheme); }
  }
  document.querySelectorAll(".viewer").forEach(function (viewer) {
    var data = JSON.parse(viewer.querySelector("script.slice-data").textContent);
    var slider = viewer.querySelector(".zslider");
    var select = viewer.querySelector("select.arch");
    var label = viewer.querySelector(".zlabel");
    function img(cls) { return viewer.querySelector("img." + cls); }
    function show() {
      var i = parseInt(slider.value, 10);
      label.textContent = "z = " + data.z[i] + " (" + (i + 1) + " of " + data.z.length + ")";
      img("v-image").src = data.image[i];
      img("v-truth").src = data.truth[i];
      if (select) {
        img("v-pred").src = data.pred[select.value][i];
        img("v-error").src = data.error[select.value][i];
      }
    }
    slider.addEventListener("input", show);
    if (select) { select.addEventListener("change", show); }
    show();
  });
})();
"""

_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>{css}</style>
<script>{plotly}</script>
</head>
<body>
<header><h1>{title}</h1><p class="subtitle">{subtitle}</p></header>
<nav>{nav}</nav>
<main>
{body}
</main>
<footer>densecell-bench; every figure is interactive (hover, zoom, click the legend).</footer>
{specs}
<script>{script}</script>
</body>
</html>
"""
