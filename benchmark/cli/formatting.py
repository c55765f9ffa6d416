"""Plain-text output of the commands: aligned tables and numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["fmt_float", "fmt_int", "fmt_shape", "print_table"]


def fmt_int(n: int) -> str:
    return f"{n:,}"


def fmt_shape(shape: Sequence[int]) -> str:
    return "(" + ",".join(str(s) for s in shape) + ")"


def fmt_float(value: object, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals; ``-`` for None and NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):.{digits}f}"  # type: ignore[arg-type]


def print_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = (2,)
) -> None:
    """Prints ``rows`` under ``header`` in aligned columns; columns in ``right`` align right."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        cells = []
        for i, cell in enumerate(row):
            cells.append(str(cell).rjust(widths[i]) if i in right else str(cell).ljust(widths[i]))
        return "  ".join(cells).rstrip()

    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row))
