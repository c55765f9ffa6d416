"""Numbers, p-values and intervals as text, one way for tables, figure labels and hover text."""

from __future__ import annotations

import math
from typing import Any

from analysis.distributions import Estimate

__all__ = [
    "bounds_text",
    "correction_label",
    "estimate_text",
    "interval_text",
    "methods_text",
    "num",
    "p_phrase",
    "pvalue",
    "verdict_level_label",
    "withheld_text",
]

#: How a correction is named in headers and captions.
_CORRECTIONS = {
    "holm": "Holm",
    "bh": "BH",
    "fdr_bh": "BH",
    "bonferroni": "Bonferroni",
    "none": "uncorrected",
}
#: The level the verdict interval of each correction is at (``Comparison.verdict_interval``).
_VERDICT_LEVELS = {
    "holm": "Holm-step",
    "bh": "BH (1 - R alpha / m)",
    "fdr_bh": "BH (1 - R alpha / m)",
    "bonferroni": "Bonferroni",
    "none": "unadjusted",
}


def num(value: Any, digits: int = 4, signed: bool = False, missing: str = "") -> str:
    """``0.8123``; ``+0.0310`` when ``signed``; ``missing`` for None, NaN, infinities and text."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return missing
    if not math.isfinite(v):
        return missing
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def pvalue(p: Any) -> str:
    """``0.042``, ``< 0.001``; ``n/a`` when untested."""
    try:
        v = float(p)
    except (TypeError, ValueError):
        return "n/a"
    if not math.isfinite(v):
        return "n/a"
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def p_phrase(p: Any, name: str = "p") -> str:
    """``p = 0.042``, ``p < 0.001``, ``p n/a`` (``name`` replaces ``p``)."""
    text = pvalue(p)
    return f"{name} {text}" if text.startswith("<") or text == "n/a" else f"{name} = {text}"


def withheld_text(note: str) -> str:
    """``withheld: needs >= 6 seeds`` (an :class:`Estimate` note) -> ``withheld (needs >= 6 seeds)``."""
    if note.startswith("withheld: "):
        return f"withheld ({note.removeprefix('withheld: ')})"
    return note or "withheld"


def _bound(v: float, digits: int) -> str:
    return "\u2212\u221e" if v == -math.inf else "\u221e" if v == math.inf else f"{v:.{digits}f}"


def bounds_text(low: float, high: float, digits: int = 4) -> str:
    """``[0.8010, 0.8230]``; ``unbounded``; ``(−∞, 0.0120]`` when one end is open; empty for NaN."""
    if math.isnan(low) or math.isnan(high):
        return ""
    if math.isinf(low) and math.isinf(high):
        return "unbounded"
    left = "(" if math.isinf(low) else "["
    right = ")" if math.isinf(high) else "]"
    return f"{left}{_bound(low, digits)}, {_bound(high, digits)}{right}"


def interval_text(est: Estimate, digits: int = 4) -> str:
    """The interval of ``est`` alone.

    :func:`bounds_text`, with ``at 93.8 %`` appended when a discrete method states its exact level
    (``note`` "exact level ..."); ``withheld (needs >= 6 seeds)`` when withheld; empty when there
    is no estimate at all.
    """
    if est.withheld:
        return withheld_text(est.note)
    text = bounds_text(est.low, est.high, digits)
    if text and est.note.startswith("exact level"):
        text += f" at {100 * est.level:.3g} %"
    return text


def estimate_text(est: Estimate, digits: int = 4, signed: bool = False) -> str:
    """Point and interval: ``+0.0310 [0.0120, 0.0500]``, ``0.8012 withheld (needs >= 6 seeds)``."""
    point = num(est.point, digits, signed, missing="n/a")
    interval = interval_text(est, digits)
    return f"{point} {interval}" if interval else point


def correction_label(correction: str) -> str:
    """``holm`` -> ``Holm``; ``none`` -> ``uncorrected``."""
    return _CORRECTIONS.get(correction, correction)


def verdict_level_label(correction: str) -> str:
    """The level a verdict interval is at under ``correction``, e.g. ``Holm-step``."""
    return _VERDICT_LEVELS.get(correction, correction)


def methods_text(ci_method: str) -> str:
    """How the analysis chose its intervals (``AnalysisReport.ci_method``)."""
    if ci_method.lower() == "auto":
        return "methods chosen by simulation (docs/statistics.md)"
    return f"bootstrap {ci_method} for summaries and P(improvement)"
