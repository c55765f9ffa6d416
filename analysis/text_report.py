"""The text report of an :class:`~analysis.analyze.AnalysisReport`, as ``analyze`` prints it.

:func:`format_report` lays out the distributions, verdicts, ranks, power, best-of-k, Table 1,
exclusions and notes; :func:`small_sample_lines` says what these seeds cannot resolve (the HTML
report shows the same lines).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.best_of_k import BestOfK
from analysis.compare import Comparison
from analysis.corrections import CORRECTION_LABELS
from analysis.distributions import MIN_SEEDS, Summary
from analysis.io import format_seeds
from analysis.multiple import FriedmanResult
from analysis.permutation import n_distinct_permutations
from analysis.power import PowerResult
from analysis.sequential_run import format_sequential
from analysis.tables import to_markdown
from analysis.text_table import pvalue_cell, text_table

if TYPE_CHECKING:
    from analysis.analyze import AnalysisReport

__all__ = ["SMALL_SAMPLE_SEEDS", "format_report", "small_sample_lines"]


def format_report(report: AnalysisReport, digits: int = 3) -> str:
    """Readable text: distributions, verdicts, power, best-of-k, Table 1, exclusions, notes."""
    pct = f"{report.level:.0%}"
    corr = CORRECTION_LABELS.get(report.correction, report.correction) or "uncorrected"
    direction = "higher" if report.higher_is_better else "lower"
    out = [
        f"densecell-bench analysis of {report.source or 'a table'}",
        *(f"  read: {line}" for line in report.reading),
        f"metric {report.metric} ({direction} is better); reference {report.reference}; {pct} "
        f"intervals, {_methods_text(report)}; {report.n_resamples:,} resamples; seed {report.seed}",
        f"{report.n_instances} usable instances of {len(report.architectures)} architectures; "
        f"{len(report.excluded)} row(s) excluded (listed at the end)",
    ]
    for m in report.metrics:
        out += ["", f"== {m}: distribution per architecture ({pct} CI)"]
        out += _summary_table(
            [s for s in report.summaries if s.metric == m], digits, full=m == report.metric
        )
    first = report.summaries[0] if report.summaries else None
    if first is not None:
        out.append(
            f"  CI methods: mean: {first.mean_ci.method}; median: {_median_method(report)}; "
            f"IQM: {first.iqm_ci.method}. '(withheld)': too few seeds for the method to keep "
            f"its level (docs/statistics.md)"
        )

    if report.sequential is not None:
        out += ["", *format_sequential(report.sequential, digits)]
    invalid = "" if report.fixed_sample_valid else "[fixed-sample, invalid: optional stopping] "
    if report.comparisons:
        out += [
            "",
            f"== {report.reference} against each other architecture ({report.metric}; "
            f"permutation test on the mean difference, {corr} over {report.comparisons[0].family_size})"
            + ("" if report.fixed_sample_valid else " -- NOT VALID for this sequential run"),
            _verdict_legend(report),
        ]
        out += [f"  {invalid}{c.verdict(digits)}" for c in report.comparisons]
    if report.pairwise:
        out += [
            "",
            f"== all pairs ({corr} over {report.pairwise[0].family_size})"
            + ("" if report.fixed_sample_valid else " -- NOT VALID for this sequential run"),
        ]
        if not report.comparisons:
            out.append(_verdict_legend(report))
        out += [f"  {invalid}{c.verdict(digits)}" for c in report.pairwise]
        out += [f"  seeds: {n}" for n in report.seed_notes]
        out += [""] + _comparison_table(report.pairwise, digits, report.higher_is_better)
        methods = sorted({c.p_improvement.method for c in report.pairwise})
        out.append(f"  P(a{'>' if report.higher_is_better else '<'}b) CI: {'; '.join(methods)}")
    if report.friedman is not None:
        out += ["", *_friedman_lines(report.friedman)]
    if report.power:
        p0 = report.power[0]
        out += [
            "",
            f"== seeds per architecture for {p0.target_power:.0%} power at alpha {p0.alpha:g} "
            f"(t-test formula on the observed effect; simulation resampling the observed scores)",
        ]
        out += _power_table(report.power)
    if report.best_of_k:
        band = report.best_of_k[0].method or "no band"
        best = "best" if report.higher_is_better else "best (lowest)"
        out += [
            "",
            f"== expected {best} of k instances ({report.metric}; {pct} band: {band}, "
            f"for (k + 1)^2 <= n only: beyond, the estimate alone)",
        ]
        out += _best_of_k_table(report.best_of_k, digits)
    small = small_sample_lines(report)
    if small:
        out += ["", "== limits of these seeds", *(f"  {line}" for line in small)]
    if report.table1 is not None:
        by = "eval MIoU(all)" if "eval_miou_all" in report.table1.frame else report.metric
        out += [
            "",
            f"== Table 1 (selected by {by})",
            to_markdown(report.table1, digits).rstrip(),
        ]
    out += ["", "== excluded rows"]
    if len(report.excluded):
        rows = [
            [str(r.architecture), _seed_text(r.seed), str(r.status), str(r.reason)]
            for r in report.excluded.itertuples()
        ]
        out += text_table(["architecture", "seed", "status", "reason"], rows, right=(1,))
    else:
        out.append("  none")
    if report.notes:
        out += ["", "== notes", *(f"  {n}" for n in report.notes)]
    if report.files:
        out += ["", f"wrote {len(report.files)} files to {report.out_dir}"]
    return "\n".join(out) + "\n"


def _methods_text(report: AnalysisReport) -> str:
    if report.ci_method.lower() == "auto":
        return "methods chosen by simulation (docs/statistics.md)"
    return f"bootstrap {report.ci_method} for summaries and P(a>b)"


def _median_method(report: AnalysisReport) -> str:
    # At 5 seeds the median's interval is the plain order-statistic one with its exact level.
    methods = [s.median_ci.method for s in report.summaries]
    return max(set(methods), key=methods.count) if methods else ""


def _verdict_legend(report: AnalysisReport) -> str:
    level = {
        "holm": "at the level of its Holm step (1 - alpha/k, shown), so it excludes 0 exactly "
        "when p(Holm) < alpha",
        "bonferroni": "at 1 - alpha/m, so it excludes 0 exactly when p(Bonferroni) < alpha",
        "bh": "at 1 - R alpha/m (R: rejections; Benjamini-Yekutieli), so it excludes 0 exactly "
        "when p(BH) < alpha",
    }
    level["fdr_bh"] = level["bh"]
    how = level.get(report.correction, "unadjusted, so it excludes 0 exactly when p < alpha")
    return (
        f"  CI: the permutation test inverted {how}; unbounded: these seeds cannot detect any "
        "difference"
    )


#: Below this many seeds the limits section says how likely an unseen failure mode is, even when
#: nothing was withheld.
SMALL_SAMPLE_SEEDS = 10
#: Failure rate used to illustrate unseen failure modes (the simulation's collapsed seeds).
_FAILURE_RATE = 0.1


def small_sample_lines(report: AnalysisReport) -> list[str]:
    """What the report withheld or cannot resolve with these seeds, one line each.

    Lists withheld intervals per architecture, comparisons that cannot reach significance
    whatever the data (and the seeds that would), cut best-of-k bands, and the limit no interval
    of a mean escapes: a failure mode that is absent from the seeds (said whenever anything else
    is, or below :data:`SMALL_SAMPLE_SEEDS` seeds).
    """
    lines = []
    held: dict[tuple[str, str], list[str]] = {}
    for s in report.summaries:
        for name in ("mean", "median", "iqm"):
            est = getattr(s, f"{name}_ci")
            who = f"{s.architecture} ({s.n} seeds)"
            if est.withheld and who not in held.setdefault((name, est.note), []):
                held[(name, est.note)].append(who)
    for (name, note), who in held.items():
        label = {"iqm": "IQM"}.get(name, name)
        lines.append(
            f"{label} interval {note.replace('withheld: ', 'withheld, it ')}: {', '.join(who)}"
        )
    groups: dict[tuple, list[str]] = {}
    for c in (*report.comparisons, *report.pairwise):
        v = c.verdict_interval
        if v is None or not (np.isinf(v.low) and np.isinf(v.high)):
            continue
        n = f"{c.n_pairs} pairs" if c.paired else f"{c.n_a}+{c.n_b} seeds"
        key = (n, c.paired, round(c.min_pvalue, 12), round(1 - v.level, 12))
        if f"{c.a} vs {c.b}" not in groups.setdefault(key, []):
            groups[key].append(f"{c.a} vs {c.b}")
    for (n, paired, min_p, alpha), pairs in groups.items():
        lines.append(
            f"no difference is detectable with {n}, whatever its size: the smallest possible "
            f"permutation p is {min_p:.3g}, the verdict needs p < {alpha:.3g} "
            f"(possible from {_seeds_to_detect(paired, alpha)}): {', '.join(pairs)}"
        )
    bands: dict[int, list[str]] = {}
    for b in report.best_of_k:
        if len(b.k) > 1 and b.method and b.k_max < len(b.k):
            bands.setdefault(b.k_max, []).append(b.architecture)
    for k_max, archs in sorted(bands.items()):
        what = (
            f"only for k <= {k_max} ((k + 1)^2 <= n)"
            if k_max
            else f"withheld (fewer than {MIN_SEEDS['mean']} seeds)"
        )
        lines.append(f"best-of-k band {what}: {', '.join(archs)}")
    n_min = min((s.n for s in report.summaries), default=0)
    if lines or 0 < n_min < SMALL_SAMPLE_SEEDS:
        miss = (1 - _FAILURE_RATE) ** n_min
        lines.append(
            f"with {n_min} seeds, a failure mode that hits {_FAILURE_RATE:.0%} of seeds (e.g. "
            f"collapsed training) is absent from the sample with probability {miss:.0%}; then "
            f"no interval of a mean, mean difference or best-of-k can include its effect. "
            f"Median and IQM intervals do not depend on it"
        )
    return lines


def _seeds_to_detect(paired: bool, alpha: float) -> str:
    """Fewest seeds per architecture (pairs when paired) whose smallest exact p is below alpha."""
    for n in range(2, 64):
        if 2 / n_distinct_permutations(n, n, paired) < alpha:
            return f"{n} {'pairs' if paired else 'seeds per architecture'}"
    return "many seeds"


def _seed_text(seed) -> str:
    return "" if seed is None or pd.isna(seed) else str(int(seed))


def _num(v: float, digits: int) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _ci(est, digits: int) -> str:
    if not np.isfinite(est.point):
        return ""
    if est.withheld:
        return f"{est.point:.{digits}f} (withheld)" if est.note else _num(est.point, digits)
    if not (np.isfinite(est.low) and np.isfinite(est.high)):
        return f"{est.point:.{digits}f} [unbounded]"
    text = f"{est.point:.{digits}f} [{est.low:.{digits}f}, {est.high:.{digits}f}]"
    if est.note.startswith("exact level"):
        # a discrete interval that cannot reach the level asked for carries its own
        text += f" {100 * est.level:.3g}%"
    return text


def _summary_table(summaries: Sequence[Summary], digits: int, full: bool) -> list[str]:
    if full:
        header = [
            "architecture",
            "n",
            "mean [CI]",
            "sd",
            "median [CI]",
            "IQM [CI]",
            "min",
            "q05",
            "q95",
            "max",
        ]
        rows = [
            [s.architecture, str(s.n), _ci(s.mean_ci, digits), _num(s.sd, digits), _ci(s.median_ci, digits),
             _ci(s.iqm_ci, digits), _num(s.min, digits), _num(s.q05, digits), _num(s.q95, digits), _num(s.max, digits)]
            for s in summaries
        ]  # fmt: skip
    else:
        header = ["architecture", "n", "mean [CI]", "sd", "IQM [CI]", "max"]
        rows = [
            [
                s.architecture,
                str(s.n),
                _ci(s.mean_ci, digits),
                _num(s.sd, digits),
                _ci(s.iqm_ci, digits),
                _num(s.max, digits),
            ]
            for s in summaries
        ]
    return text_table(header, rows, right=(1,))


def _friedman_lines(f: FriedmanResult) -> list[str]:
    """The Friedman section: test, average ranks, post-hoc groups."""
    post = (
        f"Nemenyi critical difference {f.critical_difference:.2f} ranks"
        if f.method == "nemenyi"
        else "Wilcoxon signed-rank, Holm"
    )
    order = ", ".join(f"{a} {f.average_ranks[a]:.2f}" for a in f.architectures)
    out = [
        f"== Friedman test over {len(f.architectures)} architectures on the {f.n_blocks} seeds "
        f"all have ({format_seeds(f.seeds)}); post hoc: {post}, alpha {f.alpha:g}",
        f"  chi2 = {f.statistic:.3f}, df = {len(f.architectures) - 1}, p {_p_text(f.pvalue)}"
        + ("" if f.significant else " (not significant: the groups below are descriptive)"),
        f"  average ranks (1 = best): {order}",
    ]
    if f.groups:
        groups = "; ".join("{" + ", ".join(g) + "}" for g in f.groups)
        out.append(f"  not significantly different: {groups}")
    alone = [a for a in f.architectures if not any(a in g for g in f.groups)]
    if alone:
        out.append(f"  different from every other: {', '.join(alone)}")
    differ = [f"{r.a} over {r.b}" for r in f.pairwise.itertuples() if r.significant]
    out.append(f"  significantly better: {', '.join(differ) or 'no pair'}")
    return out


def _p_text(p: float) -> str:
    return "n/a" if not np.isfinite(p) else "< 0.001" if p < 0.001 else f"= {p:.3g}"


def _comparison_table(
    comparisons: Sequence[Comparison], digits: int, higher_is_better: bool = True
) -> list[str]:
    header = [
        "a - b",
        "seeds",
        "p perm",
        "p adj",
        "rank test",
        "p rank",
        "p t",
        "g",
        "Cliff d",
        "P(a>b) [CI]" if higher_is_better else "P(a<b) [CI]",
    ]
    rows = []
    for c in comparisons:
        n = f"{c.n_pairs} pairs" if c.paired else f"{c.n_a}+{c.n_b}"
        rows.append([
            f"{c.a} - {c.b}", n, pvalue_cell(c.pvalue), pvalue_cell(c.p_adjusted),
            c.rank_test.name, pvalue_cell(c.rank_test.pvalue), pvalue_cell(c.t_test.pvalue),
            _num(c.hedges_g, 2), _num(c.cliffs_delta, 2), _ci(c.p_improvement, 2),
        ])  # fmt: skip
    return text_table(header, rows, right=(2, 3, 5, 6, 7, 8))


def _power_table(results: Sequence[PowerResult]) -> list[str]:
    header = [
        "a - b",
        "effect",
        "seeds now",
        "power now",
        "MDE now",
        "seeds (formula)",
        "seeds (simulation)",
    ]
    rows = []
    for r in results:
        n_formula = r.n_analytic_seeds
        rows.append([
            f"{r.a} - {r.b}", f"{r.effect_name} = {_num(r.effect_size, 2)}", str(r.n_now), _num(r.power_now, 2),
            _num(r.mde_now, 2), "n/a" if n_formula is None else (f">{10**5}" if n_formula > 10**5 else str(n_formula)),
            r.simulated_label(),
        ])  # fmt: skip
    return text_table(header, rows, right=(2, 3, 4, 5, 6))


def _best_of_k_table(curves: Sequence[BestOfK], digits: int) -> list[str]:
    n_max = max((len(c.k) for c in curves), default=0)
    ks = sorted({k for k in (1, 2, 3, 5, 10, 20, n_max) if 1 <= k <= n_max})
    header = ["architecture", *(f"k={k}" for k in ks)]
    rows = []
    for c in curves:
        cells = [c.architecture]
        for k in ks:
            if k > len(c.k):
                cells.append("")
            else:
                lo, hi = c.low[k - 1], c.high[k - 1]
                band = (
                    f" [{lo:.{digits}f}, {hi:.{digits}f}]"
                    if np.isfinite(lo) and np.isfinite(hi)
                    else ""
                )
                cells.append(f"{c.expected[k - 1]:.{digits}f}{band}")
        rows.append(cells)
    return text_table(header, rows)
