"""The run report's heading and its "Run" section: metadata, invocations, instances, failures."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from analysis.io import VALID_STATUSES, InstanceTable, format_seeds, natural_key
from analysis.report.context import ReportContext
from analysis.report.markup import arch_label, escape, note, table
from analysis.report.text import methods_text

__all__ = ["duration", "run_section", "seed_ranges", "subtitle", "title"]


def title(ctx: ReportContext) -> str:
    """``densecell-bench report: SUITE/RUN`` (the file's stem for a plain table)."""
    suite = ctx.run.get("suite")
    name = ctx.source.name if ctx.run_dir is not None else ctx.source.stem
    return f"densecell-bench report: {suite}/{name}" if suite else f"densecell-bench report: {name}"


def subtitle(ctx: ReportContext, elapsed: float) -> str:
    """Source, metric, reference, interval methods and correction, when the page was made (HTML)."""
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    parts = [f"source <code>{escape(ctx.table.source)}</code>"]
    a = ctx.analysis
    if a is not None:
        parts.append(
            f"metric <b>{escape(a.metric)}</b>, reference <b>{escape(a.reference)}</b>, "
            f"{a.level:.0%} intervals ({escape(methods_text(a.ci_method))}; "
            f"{a.n_resamples:,} resamples, seed {a.seed}), correction {escape(a.correction)}"
        )
    parts.append(f"generated {now} in {elapsed:.1f} s")
    return "; ".join(parts)


def seed_ranges(seeds: Iterable[int]) -> str:
    """``0-25 (26 seeds)``; ``0-4, 7 (6 seeds)``; ``none``."""
    s = sorted({int(x) for x in seeds})
    if not s:
        return "none"
    return f"{format_seeds(s, limit=len(s))} ({len(s)} seeds)"


def duration(seconds: Any) -> str:
    """``42.0 s``, ``3.5 min``, ``2.25 h``; empty for a missing value."""
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(s):
        return ""
    if s < 120:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.2f} h"


def run_section(ctx: ReportContext) -> str:
    """Metadata of ``run.json``, the invocations, configurations, instance counts and failures."""
    run, colors = ctx.run, ctx.colors
    parts = []
    if not run:
        parts.append(note(f"no run.json: metadata unavailable (source {ctx.source})"))
    else:
        parts += _metadata(run, colors)
    reading = getattr(ctx.analysis, "reading", ())
    if reading:
        parts.append("<h3>How the table was read</h3>")
        parts.append("<ul>" + "".join(f"<li>{escape(line)}</li>" for line in reading) + "</ul>")
    parts.append("<h3>Instances</h3>")
    parts.append(_status_table(ctx.table, colors))
    failed = ctx.table.excluded
    if len(failed):
        parts.append(f"<h3>Failed or unfinished instances ({len(failed)})</h3>")
        parts.append(
            table(
                ["architecture", "seed", "status", "reason"],
                (
                    (
                        arch_label(str(r.architecture), colors),
                        escape("" if pd.isna(r.seed) else int(r.seed)),
                        escape(r.status),
                        escape(r.reason),
                    )
                    for r in failed.itertuples()
                ),
            )
        )
    else:
        parts.append(note("no failed instances"))
    return "\n".join(parts)


def _metadata(run: Mapping[str, Any], colors: Mapping[str, str]) -> list[str]:
    invocations = run.get("invocations") or []
    total = sum(float(i.get("wall_time_s") or 0) for i in invocations)
    data = run.get("data") or {}
    data_text = ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, "", [], {}))
    versions = ", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items() if v)
    hardware = ", ".join(f"{k}: {v}" for k, v in (run.get("hardware") or {}).items())
    items = [
        ("suite", f"{escape(run.get('suite', ''))}: {escape(run.get('suite_description') or '')}"),
        ("profile", escape(run.get("profile", ""))),
        ("architectures", ", ".join(arch_label(a, colors) for a in run.get("architectures", []))),
        ("seeds", escape(seed_ranges(run.get("seeds", [])))),
        ("data", escape(data_text)),
        ("train overrides", escape(json.dumps(run.get("train_overrides") or {}))),
        ("plugins", escape(", ".join(run.get("plugins") or []) or "none")),
        ("git revision", f"<code>{escape(run.get('git_revision'))}</code>"),
        ("wall time", escape(f"{duration(total)} over {len(invocations)} invocation(s)")),
        ("versions", escape(versions)),
        ("hardware", escape(hardware)),
    ]
    parts = ['<dl class="meta">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"]
    if invocations:
        rows = [
            (
                f"<code>{escape(i.get('command', ''))}</code>",
                escape(i.get("started", "")),
                escape(i.get("ended", "")),
                escape(duration(i.get("wall_time_s"))),
                escape(i.get("complete", "")),
                escape(json.dumps(i.get("resources", {}))),
                escape(json.dumps(i.get("cluster", {}))),
                escape(i.get("address", "")),
            )
            for i in invocations
        ]
        header = [
            "command", "started", "ended", "wall time", "complete", "per trial", "cluster",
            "address",
        ]  # fmt: skip
        parts += ["<h3>Invocations</h3>", table(header, rows)]
    if run.get("configs"):
        configs = "".join(
            f"<details><summary>{arch_label(a, colors)}</summary>"
            f"<pre>{escape(json.dumps(c, indent=1))}</pre></details>"
            for a, c in run["configs"].items()
        )
        parts.append(f"<h3>Training configuration</h3>{configs}")
    return parts


def _status_table(instances: InstanceTable, colors: Mapping[str, str]) -> str:
    frames = [instances.data.assign(status=instances.data["status"].astype(str))]
    if len(instances.excluded):
        frames.append(instances.excluded[["architecture", "seed", "status"]])
    every = pd.concat(frames, ignore_index=True)
    statuses = [*VALID_STATUSES, "failed", "running"]
    statuses += sorted(set(every["status"].astype(str)) - set(statuses))
    rows = []
    for arch in sorted(every["architecture"].astype(str).unique(), key=natural_key):
        mine = every[every["architecture"].astype(str) == arch]
        done = instances.data[instances.data["architecture"] == arch]
        counts = [str(int((mine["status"].astype(str) == s).sum())) for s in statuses]
        params = _column(done, "params")
        wall = _column(done, "wall_time_s")
        steps = _column(done, "steps")
        rows.append(
            [
                arch_label(arch, colors),
                *counts,
                "" if params is None else f"{int(params.median()):,}",
                "" if steps is None else f"{int(steps.median()):,}",
                "" if wall is None else escape(duration(wall.median())),
                "" if wall is None else escape(duration(wall.sum())),
            ]
        )
    header = ["architecture", *(s.replace("_", " ") for s in statuses)]
    header += ["parameters", "steps (median)", "wall time (median)", "wall time (sum)"]
    return table(header, rows, numeric=range(1, len(header)))


def _column(frame: pd.DataFrame, name: str) -> pd.Series | None:
    """The numeric column, or None when it is absent or all missing."""
    if name not in frame:
        return None
    values = pd.to_numeric(frame[name], errors="coerce")
    return None if values.isna().all() else values
