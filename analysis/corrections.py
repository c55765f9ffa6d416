"""Family-wise correction of p-values: the corrections accepted, their labels, adjusted p-values."""

from __future__ import annotations

import gc
from collections.abc import Sequence

import numpy as np

__all__ = ["CORRECTIONS", "CORRECTION_LABELS", "adjust_pvalues", "correction_method"]

#: ``correction`` names accepted here -> :func:`statsmodels.stats.multitest.multipletests` method.
CORRECTIONS: dict[str, str | None] = {
    "holm": "holm",
    "bh": "fdr_bh",
    "fdr_bh": "fdr_bh",
    "bonferroni": "bonferroni",
    "none": None,
}
#: How a verdict line names each correction ("" for none).
CORRECTION_LABELS: dict[str, str] = {
    "holm": "Holm",
    "bh": "BH",
    "fdr_bh": "BH",
    "bonferroni": "Bonferroni",
    "none": "",
}


def correction_method(correction: str) -> str | None:
    """The statsmodels method of a correction name (any case); ValueError naming the options."""
    try:
        return CORRECTIONS[correction.lower()]
    except KeyError:
        raise ValueError(
            f"unknown correction {correction!r}; use one of {', '.join(CORRECTIONS)}"
        ) from None


def adjust_pvalues(pvalues: Sequence[float], correction: str = "holm") -> np.ndarray:
    """Family-wise adjusted p-values via :func:`statsmodels.stats.multitest.multipletests`.

    ``correction``: "holm" (default), "bh" (Benjamini-Hochberg FDR), "bonferroni" or "none".
    NaN p-values (tests that could not be run) stay NaN and are not counted in the family.
    """
    method = correction_method(correction)
    p = np.asarray(pvalues, dtype=float)
    out = p.copy()
    ok = ~np.isnan(p)
    if method is None or not ok.any():
        return out
    from statsmodels.stats.multitest import multipletests

    # statsmodels' Holm branch calls gc.collect(), a full-heap walk that takes ~0.15 s once torch
    # is loaded; freezing the existing objects for the call makes it scan only new ones.
    gc.freeze()
    try:
        out[ok] = multipletests(p[ok], method=method)[1]
    finally:
        gc.unfreeze()
    return out
