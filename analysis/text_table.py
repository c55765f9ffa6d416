"""Plain-text tables for the terminal: aligned columns under a dashed rule, and p-value cells."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["pvalue_cell", "text_table"]


def text_table(
    header: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()
) -> list[str]:
    """The lines of a table indented by two spaces, columns as wide as their widest cell.

    Args:
        header: column names.
        rows: one sequence of cells per row (``str`` of each is printed).
        right: indices of the right-aligned (numeric) columns; the others are left-aligned.
    """
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: Sequence[object]) -> str:
        cells = [
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths))
        ]
        return ("  " + "  ".join(cells)).rstrip()

    return [fmt(header), "  " + "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)]


def pvalue_cell(p: float | None) -> str:
    """``0.012``, ``<0.001``, or ``n/a`` for a missing or undefined p-value."""
    if p is None or not np.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
