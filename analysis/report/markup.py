"""Small HTML builders shared by the report pages; every one escapes what it is given as text."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from analysis.distributions import Estimate
from analysis.report.text import interval_text, num
from analysis.report.theme import NEUTRAL

__all__ = [
    "arch_label",
    "escape",
    "estimate_cell",
    "hex_color",
    "note",
    "script_safe",
    "swatch",
    "table",
]


def escape(value: Any) -> str:
    """``str(value)`` with ``& < > " '`` escaped."""
    return html.escape(str(value))


def note(text: str) -> str:
    """A one-line note (an omitted section, a missing input)."""
    return f"<p class='note'>{escape(text)}</p>"


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Iterable[int] = (),
    cls: str = "",
) -> str:
    """An HTML table in a horizontally scrolling box; cells and header are HTML already.

    Args:
        header: one HTML string per column.
        rows: one sequence of HTML strings per row.
        numeric: indices of right-aligned, tabular-figure columns.
        cls: class of the ``<table>``.
    """
    right = set(numeric)
    head = "".join(
        f"<th{' class=num' if i in right else ''}>{h}</th>" for i, h in enumerate(header)
    )
    lines = []
    for row in rows:
        cells = "".join(
            f"<td{' class=num' if i in right else ''}>{c}</td>" for i, c in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(lines)}</tbody></table></div>"
    )


def swatch(color: str) -> str:
    """A small square of ``color`` (CSS color)."""
    return f'<span class="swatch" style="background:{escape(color)}"></span>'


def hex_color(rgb: Sequence[int]) -> str:
    """``(1, 171, 254)`` -> ``#01abfe``."""
    return "#" + "".join(f"{int(c):02x}" for c in rgb[:3])


def arch_label(name: str, colors: Mapping[str, str]) -> str:
    """An architecture's name after its color swatch."""
    return f'<span class="arch">{swatch(colors.get(name, NEUTRAL))}{escape(name)}</span>'


def estimate_cell(
    est: Estimate, digits: int = 4, *, signed: bool = False, method: bool = True
) -> str:
    """A table cell: the point, its interval (or why there is none) and the interval's method.

    The method is written after the interval when ``method`` is true (a column whose header names
    one method for all its cells passes False for the cells that use it); hovering the interval
    always shows it.
    """
    point = num(est.point, digits, signed)
    if not point:
        return ""
    interval = interval_text(est, digits)
    if not interval:
        return point
    cls = "withheld" if est.withheld else "ci"
    title = f"{est.level:.1%} interval: {est.method}" if est.method else f"{est.level:.1%} interval"
    text = f'{point} <span class="{cls}" title="{escape(title)}">{escape(interval)}</span>'
    if method and est.method and not est.withheld:
        text += f' <span class="method">{escape(est.method)}</span>'
    return text


def script_safe(text: str) -> str:
    """JSON that can sit inside a ``<script>`` element (``<`` only occurs inside strings)."""
    return text.replace("<", "\\u003c")
