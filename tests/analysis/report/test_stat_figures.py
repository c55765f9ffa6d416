"""Figures of statistics: the forest plot's verdict intervals (open ends when unbounded), the
best-of-k band up to k_max, the critical-difference diagram and the sequential looks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.compare import apply_correction, compare_pair
from analysis.power import best_of_k
from analysis.report.stat_figures import (
    best_of_k_figure,
    cd_diagram_figure,
    forest_figure,
    sequential_figure,
)
from analysis.report.text import p_phrase
from analysis.report.theme import NEUTRAL, SIGNIFICANT


@pytest.fixture(scope="module")
def comparisons():
    """ref against a clearly worse architecture and an equal one (12 paired seeds), and against
    one with 3 seeds only (no permutation p can reach alpha: unbounded interval)."""
    rng = np.random.default_rng(1)
    x = pd.Series(rng.normal(0.8, 0.01, 12))
    worse = x - 0.03 + rng.normal(0, 0.005, 12)
    same = x + rng.normal(0, 0.01, 12)
    few = x.iloc[:3] - 0.05
    raw = [
        compare_pair(x, y, a="ref", b=b, metric="eval_miou_all", n_resamples=500, seed=i)
        for i, (b, y) in enumerate((("worse", worse), ("same", same), ("few", few)))
    ]
    return apply_correction(raw, "holm")


def _traces(fig, name_start: str) -> list:
    return [t for t in fig.data if (t.name or "").startswith(name_start)]


def test_forest_draws_the_verdict_interval_in_the_significance_color(comparisons):
    worse, same, few = comparisons
    assert worse.significant and not same.significant and not few.significant
    assert np.isinf(few.verdict_interval.low) and np.isinf(few.verdict_interval.high)
    fig = forest_figure(comparisons, "ref")
    (red,) = _traces(fig, "significant")
    (gray,) = _traces(fig, "not significant")
    assert red.line.color == SIGNIFICANT and gray.line.color == NEUTRAL
    # the red bar is the verdict interval (Holm step level), not the unadjusted one
    v = worse.verdict_interval
    assert list(red.x[:2]) == pytest.approx([v.low, v.high]) and v.level > worse.difference.level
    assert v.low > 0  # so it excludes 0, as the red point says
    # the unbounded interval is an open bar from edge to edge, with an arrow at each end
    x0, x1 = fig.layout.xaxis.range
    rows = [list(gray.x[i : i + 2]) for i in range(0, len(gray.x), 3)]
    assert [x0, x1] in rows
    (left,) = _traces(fig, "unbounded (left)")
    (right,) = _traces(fig, "unbounded (right)")
    assert left.marker.symbol == "triangle-left" and list(left.x) == [x0]
    assert right.marker.symbol == "triangle-right" and list(right.x) == [x1]
    assert list(left.y) == ["few"] and list(left.marker.color) == [NEUTRAL]
    # the points carry the significance colors; each row says its interval's level
    (points,) = _traces(fig, "difference of means")
    assert list(points.marker.color) == [SIGNIFICANT, NEUTRAL, NEUTRAL]
    labels = [a.text for a in fig.layout.annotations if a.xref == "paper"]
    assert labels[0].startswith(f"{v.level:.1%} interval")
    assert p_phrase(worse.p_adjusted, "p adj") in labels[0]


def test_best_of_k_band_stops_at_k_max():
    rng = np.random.default_rng(0)
    curve = best_of_k(rng.normal(0.8, 0.01, 26), architecture="a", metric="eval_miou_all")
    assert curve.k_max == 4 and curve.method
    fig = best_of_k_figure([curve], {"a": "#4e79a7"})
    (band,) = _traces(fig, "a band")
    assert max(band.x) == curve.k_max and min(band.x) == 1
    assert band.mode == "lines"
    (line,) = [t for t in fig.data if t.name == "a"]
    assert len(line.x) == 26 and line.customdata[4] == "no band (k > 4)"
    assert curve.method in fig.layout.title.text and "k <= k_max" in fig.layout.title.text
    # too few seeds for any band: the estimate alone
    small = best_of_k(rng.normal(0.8, 0.01, 4), architecture="b", metric="eval_miou_all")
    fig = best_of_k_figure([small], {})
    assert not _traces(fig, "b band") and "no band" in fig.layout.title.text


def test_cd_diagram_from_hand_made_ranks():
    ranks = {"a": 1.4, "b": 1.9, "c": 3.2, "d": 3.5}
    fig = cd_diagram_figure(ranks, 0.94, [("a", "b"), ("c", "d"), ("x",)], colors={"a": "#111111"})
    (cd,) = _traces(fig, "CD")
    assert list(cd.x) == pytest.approx([1.0, 1.94]) and cd.y[0] > 0  # above the axis, from 1
    groups = _traces(fig, "group ")
    assert [list(g.x) for g in groups] == [[1.4, 1.9], [3.2, 3.5]]  # single names: no bar
    assert all(g.y[0] < 0 for g in groups)
    axis = _traces(fig, "rank axis")[0]
    assert list(axis.x) == [1, 4]
    # each architecture hangs from its rank; the better half is labeled on the left
    for name, r in ranks.items():
        (t,) = [t for t in fig.data if t.name == name]
        assert t.x[0] == r and t.y[0] == 0
        side = "left" if name in ("a", "b") else "right"
        assert t.textposition == f"middle {side}" and f"{r:.2f}" in t.text[1]
        assert (t.x[1] < 1) == (side == "left")
    assert _traces(fig, "a line")[0].line.color == "#111111"
    assert any("CD = 0.94" in a.text for a in fig.layout.annotations)
    # no critical difference (e.g. a Wilcoxon post hoc): no CD bar
    assert not _traces(cd_diagram_figure(ranks, float("nan"), []), "CD")


def test_sequential_figure_draws_each_comparison():
    looks = pd.DataFrame(
        dict(
            reference="r", other=["a", "a", "b", "b", "b"], look=[1, 2, 1, 2, 3],
            seeds=[5, 8, 5, 8, 11], estimate=[0.03, 0.031, 0.0, 0.001, 0.0],
            z=[1.9, 3.4, 0.1, 0.2, 0.0], boundary=[np.inf, 3.1, np.inf, 3.1, 2.8],
            low=[-np.inf, 0.01, -np.inf, -0.02, -0.01], high=[np.inf, 0.05, np.inf, 0.02, 0.01],
            p_adjusted=[1.0, 0.01, 1.0, 1.0, 1.0],
            decision=["undecided", "reference_better", "undecided", "undecided", "futile"],
        )
    )  # fmt: skip
    fig = sequential_figure(looks, max_seeds=26, min_effect=0.015, colors={"a": "#4e79a7"})
    stats = [t for t in fig.data if t.name == "a" and t.mode == "lines+markers"]
    assert list(stats[0].y) == [1.9, 3.4] and list(stats[0].marker.symbol) == ["circle", "star"]
    bounds = [t for t in fig.data if t.name == "boundary"]
    assert len(bounds) == 4  # upper and lower, two comparisons
    assert np.isnan(bounds[0].y[0]) and bounds[0].y[1] == pytest.approx(3.1)
    assert fig.layout.xaxis.range == (0, 27)
