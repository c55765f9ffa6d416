"""The search report: optimization history, parameter importances, Pareto front, per-seed scores."""

from __future__ import annotations

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


def write_search_report(search_dir: str | Path) -> Path:
    """``search-report.html``: history, importances, Pareto front, per-seed scores, the table.

    Self-contained: plotly.js is embedded once; figures that cannot be computed (importances with
    fewer than two complete candidates) are replaced by a note.
    """
    import html

    import optuna
    import plotly.graph_objects as go
    import plotly.offline

    from analysis.files import atomic_write_text

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
    sections: list[tuple[str, str]] = []

    def add(title: str, make: Callable[[], Any]) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig = make()
            fig.update_layout(height=420, margin=dict(l=60, r=20, t=40, b=50))
            sections.append((title, fig.to_html(full_html=False, include_plotlyjs=False)))
        except Exception as exc:  # too few trials, constant objective, ...
            sections.append((title, f"<p class='note'>not available: {html.escape(str(exc))}</p>"))

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
    add("Per-seed scores", lambda: _seed_figure(go, cands, seeds))

    table = _candidate_table_html(cands, settings)
    body = "\n".join(f"<h2>{html.escape(t)}</h2>\n{h}" for t, h in sections)
    text = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>search {html.escape(meta["study_name"])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}} td.l{{text-align:left}} .note{{color:#777}}</style>
<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head><body>
<h1>Search {html.escape(meta["study_name"])}</h1>
<p>Space <b>{html.escape(settings.space)}</b> (base {html.escape(meta["base"])}), {meta["profile"]} profile, objective(s) {html.escape(", ".join(names))};
{settings.seeds_per_candidate} paired seed(s) per candidate (at most {settings.seed_cap});
racing: {"group-sequential test vs the incumbent at alpha " + str(settings.race_alpha) if settings.racing else "off"}.
{len(cands)} candidate(s), {int((seeds["status"].isin(SCORED_STATUSES)).sum()) if not seeds.empty else 0} trained seed(s).</p>
{body}
<h2>Candidates</h2>
{table}
</body></html>
"""
    path = atomic_write_text(search_dir / "search-report.html", text)
    path.chmod(0o644)  # a report is for reading (the temporary file was private)
    return path


def _seed_figure(go: Any, cands: pd.DataFrame, seeds: pd.DataFrame) -> Any:
    fig = go.Figure()
    if seeds.empty or cands.empty:
        raise ValueError("no trained seeds yet")
    scored = seeds[seeds["status"].isin(SCORED_STATUSES)]
    colors = {"complete": "#1f77b4", "pruned": "#aaaaaa", "failed": "#d62728", "running": "#ff7f0e"}
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
            marker=dict(symbol="line-ew-open", size=18, color="black"),
        )
    )
    fig.update_layout(xaxis_title="candidate", yaxis_title="eval MIoU(all) of the best checkpoint")
    return fig


def _candidate_table_html(cands: pd.DataFrame, settings: SearchSettings) -> str:
    import html

    if cands.empty:
        return "<p class='note'>no candidates yet</p>"
    cols = [
        "number",
        "state",
        "objective",
        "mean",
        "sd",
        "n_seeds",
        "seeds",
        "arch_params",
        "step_ms",
        "options",
        "train",
        "reason",
    ]
    order = cands.sort_values(
        ["state", "objective"],
        ascending=[True, False],
        key=lambda s: (
            s.map({"complete": 0, "running": 1, "pruned": 2, "failed": 3})
            if s.name == "state"
            else s
        ),
    )
    out = ["<table><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"]
    for _, r in order.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float):
                text = (
                    ""
                    if not np.isfinite(v)
                    else (f"{v:.4f}" if c in ("objective", "mean", "sd") else f"{v:.1f}")
                )
            elif c == "arch_params" and v is not None and not pd.isna(v):
                text = f"{int(v):,}"
            else:
                text = "" if v is None else str(v)
            klass = " class='l'" if c in ("state", "options", "train", "reason", "seeds") else ""
            cells.append(f"<td{klass}>{html.escape(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out + ["</table>"])
