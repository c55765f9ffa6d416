"""The search report: optimization history, parameter importances, Pareto front, per-seed scores.

One self-contained page built by the run report's page builder (:class:`analysis.report.Page`):
the same template, styles, light/dark theme and figure look as ``report.html``.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.records import SCORED_STATUSES
from benchmark.search.settings import SCORE, SearchSettings
from benchmark.search.store import load_search

__all__ = ["write_search_report"]

#: Columns of the candidate table (those present), and which of them are numbers.
_COLUMNS = (
    "number", "state", "objective", "mean", "sd", "n_seeds", "seeds", "arch_params", "step_ms",
    "race_verdict", "race_p", "options", "train", "reason",
)  # fmt: skip
_NUMERIC = {"number", "objective", "mean", "sd", "n_seeds", "arch_params", "step_ms", "race_p"}
_STATE_ORDER = {"complete": 0, "running": 1, "pruned": 2, "failed": 3}


def write_search_report(search_dir: str | Path) -> Path:
    """``search-report.html``: history, importances, Pareto front, per-seed scores, the table.

    Self-contained: plotly.js is embedded once; figures that cannot be computed (importances with
    fewer than two complete candidates) are replaced by a note.
    """
    import optuna

    from analysis.report.markup import escape, note
    from analysis.report.page import Page, anchor
    from analysis.report.theme import TEMPLATE

    search_dir = Path(search_dir)
    meta, study, cands, seeds = load_search(search_dir)
    settings = SearchSettings.from_dict(meta["settings"])
    names = [
        {
            "miou": "mean eval MIoU(all)",
            "lcb": f"{settings.lcb_level:.0%} LCB of eval MIoU(all)",
            "params": "parameters",
            "step_time": "train step (ms)",
        }[o]
        for o in settings.objectives
    ]
    page = Page(f"densecell-bench search: {meta['study_name']}")
    page.section("search", "Search", _summary(meta, settings, names, cands, seeds))

    def add(title: str, make: Callable[[], Any]) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig = make()
            fig.update_layout(template=TEMPLATE, height=420, margin=dict(l=60, r=20, t=40, b=50))
            body = page.figure(fig)
        except Exception as exc:  # too few trials, constant objective, ...
            body = note(f"not available: {exc}")
        page.section(anchor(title), title, body)

    vis = optuna.visualization
    if settings.multi:
        add("Pareto front", lambda: vis.plot_pareto_front(study, target_names=names))
        for i, n in enumerate(names):
            add(
                f"Optimization history: {n}",
                lambda i=i, n=n: vis.plot_optimization_history(
                    study, target=lambda t: t.values[i], target_name=n
                ),
            )
        add(
            f"Parameter importances for {names[0]}",
            lambda: vis.plot_param_importances(
                study, target=lambda t: t.values[0], target_name=names[0]
            ),
        )
    else:
        add(
            "Optimization history",
            lambda: vis.plot_optimization_history(study, target_name=names[0]),
        )
        add(
            "Parameter importances", lambda: vis.plot_param_importances(study, target_name=names[0])
        )
    add("Per-seed scores", lambda: _seed_figure(cands, seeds))
    page.section("candidates", "Candidates", _candidate_table(cands))
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    subtitle = f"search folder <code>{escape(search_dir)}</code>; generated {now}"
    return page.write(search_dir / "search-report.html", subtitle)


def _summary(
    meta: dict[str, Any],
    settings: SearchSettings,
    names: list[str],
    cands: pd.DataFrame,
    seeds: pd.DataFrame,
) -> str:
    from analysis.report.markup import escape

    trained = int(seeds["status"].isin(SCORED_STATUSES).sum()) if not seeds.empty else 0
    racing = (
        f"group-sequential test vs the incumbent at alpha {settings.race_alpha}"
        if settings.racing
        else "off"
    )
    return (
        f"<p>Space <b>{escape(settings.space)}</b> (base {escape(meta['base'])}), "
        f"{escape(meta['profile'])} profile, objective(s) {escape(', '.join(names))}; "
        f"{settings.seeds_per_candidate} paired seed(s) per candidate (at most "
        f"{settings.seed_cap}); racing: {escape(racing)}. {len(cands)} candidate(s), {trained} "
        "trained seed(s).</p>"
    )


def _seed_figure(cands: pd.DataFrame, seeds: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    from analysis.report.theme import NEUTRAL, PALETTE, SIGNIFICANT

    if seeds.empty or cands.empty:
        raise ValueError("no trained seeds yet")
    fig = go.Figure()
    scored = seeds[seeds["status"].isin(SCORED_STATUSES)]
    colors = {
        "complete": PALETTE[0],
        "pruned": NEUTRAL,
        "failed": SIGNIFICANT,
        "running": PALETTE[1],
    }
    states = dict(zip(cands["number"], cands["state"]))
    for state, color in colors.items():
        part = scored[scored["number"].map(states) == state]
        if part.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=part["number"],
                y=part[SCORE],
                mode="markers",
                name=f"{state} (one dot per seed)",
                marker=dict(color=color, size=7, opacity=0.7),
                text=[f"seed {s}" for s in part["seed"]],
            )
        )
    means = cands[np.isfinite(cands["mean"].astype(float))]
    fig.add_trace(
        go.Scatter(
            x=means["number"],
            y=means["mean"],
            mode="markers",
            name="mean",
            marker=dict(symbol="line-ew-open", size=18, color=NEUTRAL, line=dict(width=2)),
        )
    )
    fig.update_layout(xaxis_title="candidate", yaxis_title="eval MIoU(all) of the best checkpoint")
    return fig


def _cell(column: str, value: Any) -> str:
    """A candidate-table cell as text."""
    if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
        return ""
    if column == "arch_params":
        return f"{int(value):,}"
    if isinstance(value, float):
        if column in ("objective", "mean", "sd"):
            return f"{value:.4f}"
        return f"{value:.3g}" if column == "race_p" else f"{value:.1f}"
    return str(value)


def _candidate_table(cands: pd.DataFrame) -> str:
    from analysis.report.markup import escape, note, table

    if cands.empty:
        return note("no candidates yet")
    cols = [c for c in _COLUMNS if c in cands.columns]
    order = cands.sort_values(
        ["state", "objective"],
        ascending=[True, False],
        key=lambda s: s.map(_STATE_ORDER) if s.name == "state" else s,
    )
    rows = [[escape(_cell(c, r[c])) for c in cols] for _, r in order.iterrows()]
    header = [escape(c.replace("_", " ")) for c in cols]
    return table(header, rows, numeric=[i for i, c in enumerate(cols) if c in _NUMERIC])
