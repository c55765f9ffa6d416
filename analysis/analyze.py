"""One call from a results table to the statistics a reviewer asks for.

>>> report = analyze("results/ablations/run-1")          # doctest: +SKIP
>>> print(format_report(report))                        # doctest: +SKIP

:func:`analyze` summarizes each architecture (several metrics), compares the reference with each
other architecture (one family) and all pairs (another family), estimates the seeds needed for 80 %
power, the expected best-of-k curve, and Table 1. Every random stream is derived from ``seed`` and
the names involved, so adding an architecture does not change the numbers of the others.

The text of a report (:func:`format_report`, :func:`small_sample_lines`) is made in
:mod:`analysis.text_report` and importable from here too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis._seeding import derive
from analysis.best_of_k import BestOfK, best_of_k, best_of_k_frame
from analysis.compare import Comparison, apply_correction, compare_pair, comparisons_frame
from analysis.corrections import CORRECTIONS
from analysis.distributions import Summary, summaries_frame, summarize
from analysis.files import atomic_write_csv, atomic_write_text
from analysis.io import (
    InstanceTable,
    as_instance_table,
    check_bounds,
    check_identities,
    format_seeds,
    is_bounded_metric,
    metric_problem,
)
from analysis.json_files import atomic_write_json, json_safe
from analysis.multiple import POST_HOC, FriedmanResult, friedman
from analysis.power import PowerResult, power_analysis, power_frame
from analysis.sequential_run import SequentialAnalysis, sequential_analysis
from analysis.tables import DEFAULT_BASELINES, TABLE1_METRICS, Table1, table1, to_markdown
from analysis.text_report import SMALL_SAMPLE_SEEDS, format_report, small_sample_lines

__all__ = [
    "DEFAULT_REFERENCE",
    "LOWER_IS_BETTER",
    "SECONDARY_METRICS",
    "SMALL_SAMPLE_SEEDS",
    "AnalysisReport",
    "analyze",
    "choose_reference",
    "format_report",
    "metric_direction",
    "small_sample_lines",
    "write_json",
]

DEFAULT_REFERENCE = "2d3d_3x3x3"
#: Also summarized (when present) besides the analyzed metric.
SECONDARY_METRICS: tuple[str, ...] = ("eval_miou_all", "eval_miou_org", "test_miou_org")


@dataclass(frozen=True)
class AnalysisReport:
    """Everything :func:`analyze` computed.

    Attributes:
        summaries: one :class:`~analysis.distributions.Summary` per architecture and metric
            (``metrics``; the analyzed ``metric`` first).
        comparisons: ``reference`` against each other architecture, corrected as one family.
        pairwise: every pair, corrected as another family (pairs with the reference keep it first).
        power: seeds needed for 80 % power, one per pair in ``pairwise``.
        best_of_k: expected best-of-k curve per architecture on ``metric``.
        table1: the paper's Table 1, or None when the table lacks the columns for it.
        excluded: rows left out (failed, or NaN in a summarized metric) with reasons.
        notes: anything the reader must know (skipped architectures, omitted sections).
        files: what was written to ``out_dir``.
        higher_is_better: the metric's direction (verdicts, P(improvement), best of k, ranks
            and Table 1 follow it).
        reading: how the table was read, one sentence each: the layout detected, the columns
            used as architecture and seed, the metric and direction when they were not given.
        seed_notes: per comparison that did not use every seed of both architectures: the seeds
            compared and the ones left out (unbalanced seed counts), with the ``--unpaired`` hint.
        friedman: the Friedman test with its post-hoc comparison and the data of a
            critical-difference diagram (:class:`~analysis.multiple.FriedmanResult`:
            ``average_ranks``, ``critical_difference``, ``groups``, ``statistic``, ``pvalue``,
            ``n_blocks``, ``method``, ``pairwise``); None with fewer than 3 architectures (the
            notes say when it was omitted for other reasons).
        sequential: the sequential decisions of a ``run --until-decided`` run, recomputed
            (:class:`~analysis.sequential_run.SequentialAnalysis`: ``looks``, ``summary``,
            ``seeds``, ``matches_stored``); None for other runs and tables. When set, the
            fixed-sample p-values and intervals here are invalid (:attr:`fixed_sample_valid`).
        format, columns: the layout read and ``{"architecture": ..., "seed": ...}`` source columns.
    """

    source: str | None
    metric: str
    metrics: tuple[str, ...]
    reference: str
    correction: str
    seed: int
    n_resamples: int
    level: float
    ci_method: str
    architectures: tuple[str, ...]
    n_instances: int
    summaries: tuple[Summary, ...]
    comparisons: tuple[Comparison, ...]
    pairwise: tuple[Comparison, ...]
    power: tuple[PowerResult, ...]
    best_of_k: tuple[BestOfK, ...]
    table1: Table1 | None
    excluded: pd.DataFrame
    run: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    out_dir: Path | None = None
    files: tuple[Path, ...] = ()
    elapsed_s: float = float("nan")
    higher_is_better: bool = True
    reading: tuple[str, ...] = ()
    seed_notes: tuple[str, ...] = ()
    friedman: FriedmanResult | None = None
    sequential: SequentialAnalysis | None = None
    format: str = "wide"
    columns: dict = field(default_factory=dict)

    @property
    def fixed_sample_valid(self) -> bool:
        """False for a sequential run: its number of seeds depended on the scores (optional
        stopping), so fixed-sample p-values and intervals do not hold their level."""
        return self.sequential is None

    def summaries_frame(self) -> pd.DataFrame:
        return summaries_frame(self.summaries)

    def comparisons_frame(self) -> pd.DataFrame:
        return comparisons_frame(self.comparisons)

    def pairwise_frame(self) -> pd.DataFrame:
        return comparisons_frame(self.pairwise)

    def power_frame(self) -> pd.DataFrame:
        return power_frame(self.power)

    def best_of_k_frame(self) -> pd.DataFrame:
        return best_of_k_frame(self.best_of_k)

    def verdicts(self) -> list[str]:
        """Verdict lines of the reference family, then the remaining pairs."""
        seen = {(c.a, c.b) for c in self.comparisons}
        return [c.verdict() for c in self.comparisons] + [
            c.verdict() for c in self.pairwise if (c.a, c.b) not in seen
        ]

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN and infinities become None, arrays lists)."""
        out = {
            "source": self.source,
            "metric": self.metric,
            "metrics": list(self.metrics),
            "reference": self.reference,
            "correction": self.correction,
            "seed": self.seed,
            "n_resamples": self.n_resamples,
            "level": self.level,
            "ci_method": self.ci_method,
            "architectures": list(self.architectures),
            "n_instances": self.n_instances,
            "summaries": [asdict(s) for s in self.summaries],
            "comparisons": [c.to_dict() for c in self.comparisons],
            "pairwise": [c.to_dict() for c in self.pairwise],
            "power": [p.as_row() for p in self.power],
            "best_of_k": [asdict(b) for b in self.best_of_k],
            "table1": None
            if self.table1 is None
            else {"rows": self.table1.frame.to_dict("records"), "notes": list(self.table1.notes)},
            "excluded": self.excluded.to_dict("records"),
            "verdicts": self.verdicts(),
            "notes": list(self.notes),
            "run": self.run,
            "out_dir": self.out_dir,
            "files": list(self.files),
            "elapsed_s": self.elapsed_s,
            "higher_is_better": self.higher_is_better,
            "reading": list(self.reading),
            "seed_notes": list(self.seed_notes),
            "friedman": None if self.friedman is None else self.friedman.to_dict(),
            "sequential": None if self.sequential is None else self.sequential.to_dict(),
            "fixed_sample_valid": self.fixed_sample_valid,
            "format": self.format,
            "columns": dict(self.columns),
        }
        return json_safe(out)


def write_json(report: AnalysisReport, path: str | Path) -> Path:
    """Writes :meth:`AnalysisReport.to_json` atomically (strict JSON, no NaN)."""
    return atomic_write_json(path, report.to_json())


# -------------------------------------------------------------------------------- analysis
#: Metric names read as "lower is better" when no direction is given (a word of the name).
LOWER_IS_BETTER = re.compile(
    r"(?:^|[^a-z0-9])(?:loss|error|err|mse|mae|rmse|distance|dist|hausdorff|hd\d*|assd|asd|"
    r"time|latency|runtime)(?:$|[^a-z0-9])",
    re.I,
)


def analyze(
    path_or_table: str | Path | pd.DataFrame | InstanceTable | Any,
    reference: str | None = None,
    metric: str | None = None,
    correction: str = "holm",
    seed: int = 0,
    n_resamples: int = 10_000,
    out_dir: str | Path | None = None,
    *,
    metrics: Sequence[str] | None = None,
    paired: bool | None = None,
    higher_is_better: bool | None = None,
    architecture_col: str = "architecture",
    seed_col: str = "seed",
    format: str = "auto",
    allow_mixed_identities: bool = False,
    post_hoc: str = "nemenyi",
    level: float = 0.95,
    ci_method: str = "auto",
    alpha: float = 0.05,
    power: float = 0.8,
    n_simulations: int = 1000,
    power_cap: int = 500,
    baselines: Collection[str] = DEFAULT_BASELINES,
    write: bool = True,
) -> AnalysisReport:
    """Analyzes a table of per-instance scores.

    Args:
        path_or_table: run directory, ``.csv``/``.parquet`` file, DataFrame, Optuna study or
            loaded table.
        reference: architecture compared with every other; default ``2d3d_3x3x3`` when present,
            else the first architecture in natural order.
        metric: score column compared, tested and used for power and best-of-k; any numeric
            column. None: ``eval_miou_all`` when present, else the table's only metric column
            (:meth:`~analysis.io.InstanceTable.default_metric`).
        correction: family-wise correction, "holm" or "bh" (also "bonferroni", "none").
        seed: base seed of every random stream.
        n_resamples: bootstrap and permutation resamples.
        out_dir: where CSVs go; default ``RUN_DIR/analysis`` for a run directory, nothing for a
            plain table.
        metrics: metrics summarized; default ``metric`` plus :data:`SECONDARY_METRICS` present.
        paired: force paired/independent comparisons (False: ``--unpaired``); None pairs by
            shared seeds.
        higher_is_better: the metric's direction. None: from an Optuna study's direction, else
            lower for names with a word of :data:`LOWER_IS_BETTER` (loss, error, distance,
            hausdorff, hd95, ...), else higher; the report notes the choice. It orients verdicts
            (which architecture is better), P(improvement), best of k (the lowest), Friedman ranks
            and Table 1's choice of instance.
        architecture_col, seed_col, format: how to read a file or DataFrame
            (:func:`~analysis.io.load_instances`).
        allow_mixed_identities: pool rows of one architecture trained under different
            configurations (``identity`` column) instead of refusing.
        post_hoc: post-hoc comparison of the Friedman test, "nemenyi" or "wilcoxon-holm".
        level: confidence level of every interval.
        ci_method: "auto" (default): the simulation-calibrated interval of each statistic
            (docs/statistics.md), withheld below its minimum number of seeds; or "BCa" /
            "percentile" for bootstrap intervals of the summaries and P(improvement). Differences
            always use the interval that inverts the permutation test, so verdicts agree.
        alpha, power: significance level and target power.
        n_simulations: simulated experiments per sample size in the power simulation.
        power_cap: largest number of seeds the simulation tries.
        baselines: architectures shown as baselines in Table 1.
        write: False writes nothing even for a run directory.

    Raises:
        ValueError: unknown reference, metric (the message says why: missing, empty, not
            numeric), correction or post-hoc method; IoU/Dice-like scores outside [0, 1]; rows of
            one architecture under different configuration identities (unless
            ``allow_mixed_identities``).
    """
    started = time.perf_counter()
    table = as_instance_table(
        path_or_table, architecture_col=architecture_col, seed_col=seed_col, format=format
    )
    if correction.lower() not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; options: holm, bh, bonferroni, none")
    if post_hoc not in POST_HOC:
        raise ValueError(f"unknown post-hoc method {post_hoc!r}; options: {', '.join(POST_HOC)}")
    correction = correction.lower()
    reading = list(table.notes)
    if metric is None:
        metric, why = table.default_metric()
        if why != "the default":
            reading.append(f"metric: {metric} ({why}; --metric chooses another)")
    metrics = _check_metrics(table, metric, metrics)
    higher_is_better, why = metric_direction(metric, higher_is_better, table)
    if why:
        reading.append(why)
    archs = table.architectures
    if not archs:
        raise ValueError(
            f"{table.source or 'table'}: no usable instances (all {len(table.excluded)} excluded)"
        )
    reference = choose_reference(archs, reference)
    use_table1 = "eval_miou_all" in table.data
    check_bounds(table, [*metrics, *(TABLE1_METRICS if use_table1 else ())])
    notes: list[str] = list(check_identities(table, allow_mixed_identities))

    excluded = [table.excluded]
    summaries: list[Summary] = []
    primary_scores: dict[str, pd.Series] = {}
    for m in metrics:
        scores, nan_rows = table.scores(m)
        excluded.append(nan_rows)
        if m == metric:
            primary_scores = scores
        for arch in archs:
            summaries.append(
                summarize(
                    scores[arch].to_numpy(),
                    architecture=arch,
                    metric=m,
                    level=level,
                    method=ci_method,
                    n_resamples=n_resamples,
                    seed=derive(seed, "summary", arch, m),
                )
            )

    testable = [a for a in archs if len(primary_scores[a]) >= 2]
    for a in archs:
        if a not in testable:
            notes.append(
                f"{a}: {len(primary_scores[a])} instance(s) with {metric}; left out of comparisons"
            )
    if reference not in testable:
        notes.append(f"reference {reference} has fewer than two scores: no reference comparisons")
    options = dict(
        metric=metric,
        paired=paired,
        n_resamples=n_resamples,
        level=level,
        ci_method=ci_method,
        alpha=alpha,
        higher_is_better=higher_is_better,
    )
    pairwise, ref_family = _comparisons(
        primary_scores, testable, reference, seed, options, correction
    )
    seed_notes = [n for c in pairwise if (n := _seed_note(c, primary_scores, paired))]

    powers = tuple(
        power_analysis(
            c,
            primary_scores[c.a],
            primary_scores[c.b],
            power=power,
            alpha=alpha,
            n_simulations=n_simulations,
            cap=power_cap,
            seed=derive(seed, "power", c.a, c.b, metric),
        )
        for c in pairwise
    )
    curves = tuple(
        best_of_k(
            primary_scores[a].to_numpy(),
            architecture=a,
            metric=metric,
            level=level,
            n_resamples=n_resamples,
            seed=derive(seed, "best_of_k", a, metric),
            higher_is_better=higher_is_better,
        )
        for a in archs
    )
    ranks = _friedman(primary_scores, testable, metric, higher_is_better, post_hoc, alpha, paired)
    if isinstance(ranks, str):
        notes.append(ranks)
        ranks = None
    if use_table1:
        t1 = table1(table.data, table.ensembles, baselines=baselines)
    else:
        t1 = table1(
            table.data,
            None,
            baselines=baselines,
            select_by=metric,
            metrics=tuple(m for m in metrics if m in table.data),
            higher_is_better=higher_is_better,
        )
        notes.append(
            f"no eval_miou_all column: Table 1 shows each architecture's best instance by "
            f"{metric} ({'highest' if higher_is_better else 'lowest'})"
        )
    sequential = sequential_analysis(table) if table.run_dir is not None else None
    if sequential is not None and sequential.metric != metric:
        notes.append(
            f"the sequential design decided on {sequential.metric}, not on {metric}: its section "
            f"is about {sequential.metric}; fixed-sample results on {metric} are not valid "
            "either, the number of seeds still depended on the data"
        )

    report = AnalysisReport(
        source=None if table.source is None else str(table.source),
        metric=metric,
        metrics=metrics,
        reference=reference,
        correction=correction,
        seed=seed,
        n_resamples=n_resamples,
        level=level,
        ci_method=ci_method,
        architectures=archs,
        n_instances=len(table.data),
        summaries=tuple(summaries),
        comparisons=ref_family,
        pairwise=pairwise,
        power=powers,
        best_of_k=curves,
        table1=t1,
        excluded=pd.concat([e for e in excluded if len(e)] or [table.excluded], ignore_index=True),
        run=dict(table.run),
        notes=tuple(notes),
        higher_is_better=higher_is_better,
        reading=tuple(reading),
        seed_notes=tuple(seed_notes),
        friedman=ranks,
        sequential=sequential,
        format=table.format,
        columns=dict(table.columns),
    )
    if out_dir is None and table.run_dir is not None:
        out_dir = table.run_dir / "analysis"
    if write and out_dir is not None:
        files = _write_outputs(report, Path(out_dir))
        report = replace(report, out_dir=Path(out_dir), files=files)
    return replace(report, elapsed_s=time.perf_counter() - started)


def _check_metrics(
    table: InstanceTable, metric: str, metrics: Sequence[str] | None
) -> tuple[str, ...]:
    """The analyzed metric first, then the other summarized ones; any numeric column may be asked for."""
    ids = (table.architecture_col, table.seed_col, "status")
    for m in [metric, *(metrics or ())]:
        problem = "it identifies the rows" if m in ids else metric_problem(table.data, m)
        if problem:
            why = "" if problem == "no such column" else f": {problem}"
            raise ValueError(
                f"unknown metric {m!r}{why}; metric columns: {', '.join(table.metrics) or 'none'}"
            )
    wanted = [metric, *(metrics if metrics is not None else SECONDARY_METRICS)]
    return tuple(
        dict.fromkeys(
            m
            for m in wanted
            if m in table.data.columns and (m == metric or metric_problem(table.data, m) is None)
        )
    )


def metric_direction(
    metric: str, higher_is_better: bool | None, table: InstanceTable
) -> tuple[bool, str]:
    """The metric's direction and, when it was not given, a note saying how it was chosen (see
    :func:`analyze`'s ``higher_is_better``)."""
    if higher_is_better is not None:
        return bool(higher_is_better), ""
    objectives = [m for m in table.metrics if m == "value" or m.startswith("values_")]
    if table.format == "optuna" and metric in objectives:
        if table.higher_is_better is not None and metric == objectives[0]:
            word = "higher" if table.higher_is_better else "lower"
            flag = "--lower-is-better" if table.higher_is_better else "--higher-is-better"
            return table.higher_is_better, (
                f"{word} is better for {metric} (the Optuna study's direction; {flag} overrides)"
            )
        if not LOWER_IS_BETTER.search(metric):
            return True, (
                f"higher is better for {metric}: an Optuna trials table does not say which way "
                "the study optimized; pass --lower-is-better if it minimized"
            )
    if LOWER_IS_BETTER.search(metric) and not is_bounded_metric(metric):
        return False, (
            f"lower is better for {metric} (its name says so; --higher-is-better overrides)"
        )
    return True, ""


def _seed_note(c: Comparison, scores: dict[str, pd.Series], paired: bool | None) -> str:
    """Which seeds a comparison used and which it left out, when it did not use all of them."""
    a, b = scores[c.a].index, scores[c.b].index
    shared = np.intersect1d(a, b)
    if c.paired:
        only_a, only_b = np.setdiff1d(a, shared), np.setdiff1d(b, shared)
        if not (len(only_a) or len(only_b)):
            return ""
        left = "; ".join(
            f"{len(only)} seed(s) of {name} ({format_seeds(only)})"
            for name, only in ((c.a, only_a), (c.b, only_b))
            if len(only)
        )
        return (
            f"{c.a} vs {c.b}: paired on the {len(shared)} seeds both have "
            f"({format_seeds(shared)}); left out: {left}. --unpaired compares all "
            f"{len(a)} + {len(b)} seeds instead"
        )
    if paired is None and len(shared):
        return (
            f"{c.a} vs {c.b}: compared unpaired over all {len(a)} + {len(b)} seeds (only "
            f"{len(shared)} shared, too few to pair)"
        )
    return ""


def _friedman(scores, testable, metric, higher_is_better, post_hoc, alpha, paired):
    """The Friedman test over the testable architectures, or a note saying why there is none."""
    if len(testable) < 3:
        return None
    if paired is False:
        return "Friedman test omitted: it ranks architectures within shared seeds (--unpaired)"
    shared = set.intersection(*(set(scores[a].index) for a in testable))
    if len(shared) < 2:
        return (
            f"Friedman test omitted: {len(shared)} seed(s) shared by all {len(testable)} "
            "architectures (it needs >= 2)"
        )
    return friedman(
        {a: scores[a] for a in testable},
        metric=metric,
        higher_is_better=higher_is_better,
        method=post_hoc,
        alpha=alpha,
    )


def choose_reference(archs: Sequence[str], reference: str | None) -> str:
    """``reference``, checked against ``archs``; None: :data:`DEFAULT_REFERENCE` when present,
    else the first architecture."""
    if reference is None:
        return DEFAULT_REFERENCE if DEFAULT_REFERENCE in archs else archs[0]
    if reference not in archs:
        raise ValueError(f"unknown reference {reference!r}; architectures: {', '.join(archs)}")
    return reference


def _comparisons(scores, testable, reference, seed, options, correction):
    """All pairs once (the reference first in its pairs), then two corrected families."""
    order = ([reference] if reference in testable else []) + [a for a in testable if a != reference]
    raw = [
        compare_pair(
            scores[a],
            scores[b],
            a=a,
            b=b,
            seed=derive(seed, "compare", a, b, options["metric"]),
            **options,
        )
        for i, a in enumerate(order)
        for b in order[i + 1 :]
    ]
    pairwise = apply_correction(raw, correction)
    ref_family = apply_correction([c for c in raw if c.a == reference], correction)
    return pairwise, ref_family


def _write_outputs(report: AnalysisReport, out_dir: Path) -> tuple[Path, ...]:
    frames = {
        "summaries.csv": report.summaries_frame(),
        "comparisons.csv": report.comparisons_frame(),
        "pairwise.csv": report.pairwise_frame(),
        "power.csv": report.power_frame(),
        "best_of_k.csv": report.best_of_k_frame(),
        "excluded.csv": report.excluded,
    }
    if report.table1 is not None:
        frames["table1.csv"] = report.table1.frame
    if report.friedman is not None:
        frames["friedman_ranks.csv"] = report.friedman.ranks_frame()
        frames["friedman_pairs.csv"] = report.friedman.pairwise
    if report.sequential is not None:
        frames["sequential_looks.csv"] = report.sequential.looks
        frames["sequential_summary.csv"] = report.sequential.summary
        frames["sequential_seeds.csv"] = report.sequential.seeds
    files = [atomic_write_csv(f, out_dir / name) for name, f in frames.items()]
    if report.table1 is not None:
        files.append(atomic_write_text(out_dir / "table1.md", to_markdown(report.table1)))
    return tuple(files)
