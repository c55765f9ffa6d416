"""Builds a run's HTML report: the sections in order, the notes, the file and its record.

Every number comes from :func:`analysis.analyze.analyze` or the run's tables; the section modules
lay them out (:mod:`~analysis.report.run_section`, :mod:`~analysis.report.stats_sections`,
:mod:`~analysis.report.sequential_section`, :mod:`~analysis.report.output_sections`) and
:class:`~analysis.report.page.Page` renders the page.
"""

from __future__ import annotations

import time
from pathlib import Path

from analysis.analyze import AnalysisReport, analyze
from analysis.derived import record_derived, stale_outputs
from analysis.io import load_instances
from analysis.report.context import load_context
from analysis.report.output_sections import (
    class_section,
    ensemble_section,
    notes_section,
    slice_section,
    training_section,
)
from analysis.report.page import Page
from analysis.report.run_section import run_section, subtitle, title
from analysis.report.sequential_section import sequential_section
from analysis.report.stats_sections import (
    comparison_section,
    distribution_section,
    limits_section,
    power_section,
    ranks_section,
    table1_section,
)

__all__ = ["build_report"]


def build_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    reference: str | None = None,
    metric: str | None = None,
    correction: str = "holm",
    seed: int = 0,
    analysis: AnalysisReport | None = None,
    n_resamples: int = 10_000,
    architecture_col: str = "architecture",
    seed_col: str = "seed",
    format: str = "auto",
    higher_is_better: bool | None = None,
    paired: bool | None = None,
    allow_mixed_identities: bool = False,
    post_hoc: str = "nemenyi",
    max_side: int = 256,
    max_slices: int = 48,
) -> Path:
    """Writes the HTML report of a run directory (or of a plain results table).

    Args:
        run_dir: a run directory (``instances.parquet``, optional ``run.json``, ``curves.parquet``,
            ``ensembles.parquet``, ``ensembles/predictions.npz``, ``postprocess.parquet``,
            ``sequential.parquet``), or a ``.csv``/``.parquet`` table of per-instance scores.
        out: the HTML file; default ``RUN_DIR/report.html`` (``<table>.report.html`` for a table).
        reference, metric, correction, seed, n_resamples, higher_is_better, paired,
            allow_mixed_identities, post_hoc: passed to :func:`~analysis.analyze.analyze` (unless
            ``analysis`` is given); ``seed`` also places the points' jitter.
        architecture_col, seed_col, format: how to read the table
            (:func:`~analysis.io.load_instances`).
        analysis: an already computed analysis of the same table, reused as is.
        max_side, max_slices: size limits of the slice viewer's images.

    Returns:
        The path written (atomically: a temporary file, then ``os.replace``). When it is the run
        folder's ``report.html``, ``derived.json`` records the instances it was built from.
    """
    started = time.perf_counter()
    source = Path(run_dir)
    table = load_instances(
        source, architecture_col=architecture_col, seed_col=seed_col, format=format
    )
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
                higher_is_better=higher_is_better,
                paired=paired,
                allow_mixed_identities=allow_mixed_identities,
                post_hoc=post_hoc,
                write=False,
            )
        else:
            notes.append("no usable instance: statistics omitted")
    ctx = load_context(table, source, analysis, seed)
    page = Page(title(ctx))

    page.section("run", "Run", run_section(ctx))
    sequential = sequential_section(page, ctx)
    if sequential is not None:
        page.section("sequential", "Sequential comparisons", sequential)
    page.section("table1", "Table 1", table1_section(ctx))
    page.section("distributions", "Performance distributions", distribution_section(page, ctx))
    page.section("comparisons", "Comparisons", comparison_section(page, ctx))
    ranks = ranks_section(page, ctx)
    if ranks is not None:
        page.section("ranks", "Average ranks", ranks)
    page.section("limits", "Limits of these seeds", limits_section(ctx))
    page.section("ensembles", "Ensembles and best of k", ensemble_section(page, ctx))
    page.section("power", "Seeds needed", power_section(ctx))
    page.section("training", "Training curves", training_section(page, ctx))
    page.section("classes", "IoU per class", class_section(page, ctx))
    page.section(
        "slices",
        "Slice viewer",
        slice_section(page, ctx, max_side=max_side, max_slices=max_slices),
    )
    if analysis is not None:
        notes += list(analysis.notes)
    if is_dir:
        stale = stale_outputs(table.run_dir)
        if "ensembles" in stale:
            notes.append(
                f"stale: {stale['ensembles']}; the ensemble curves and Table 1(a) may not match "
                f"the instances (rebuild: python -m benchmark ensembles {table.run_dir})"
            )
    page.section("notes", "Notes", notes_section(notes, ctx))

    path = page.write(out, subtitle(ctx, time.perf_counter() - started))
    if is_dir and Path(out).resolve() == (source / "report.html").resolve():
        record_derived(source, "report")
    return path
