import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis.multiple import critical_difference, friedman, nemenyi_pvalues

# 4 architectures x 4 seeds; ranks within each seed (1 = best) by hand:
#   seed 0: a 1, c 2, b 3, d 4     seed 1: c 1, a 2, b 3, d 4
#   seed 2: a 1, c 2, b 3, d 4     seed 3: a 1, c 2, b 3, d 4
HAND = {
    "a": [0.80, 0.70, 0.90, 0.85],
    "b": [0.60, 0.65, 0.70, 0.60],
    "c": [0.70, 0.75, 0.80, 0.70],
    "d": [0.50, 0.50, 0.50, 0.55],
}


def _scores(table, seeds=None):
    return {k: pd.Series(v, index=seeds or range(len(v))) for k, v in table.items()}


def test_friedman_by_hand_and_against_scipy():
    res = friedman(_scores(HAND), metric="dice")
    assert res.average_ranks == {"a": 1.25, "c": 1.75, "b": 3.0, "d": 4.0}
    assert res.architectures == ("a", "c", "b", "d")
    # chi2 = 12 N / (k (k + 1)) sum R_j^2 - 3 N (k + 1), R_j the average ranks (no ties)
    n, k = 4, 4
    by_hand = 12 * n / (k * (k + 1)) * sum(r**2 for r in (1.25, 3.0, 1.75, 4.0)) - 3 * n * (k + 1)
    assert by_hand == pytest.approx(11.1)
    scipy_res = stats.friedmanchisquare(*HAND.values())
    assert res.statistic == pytest.approx(by_hand) == pytest.approx(scipy_res.statistic)
    assert res.pvalue == pytest.approx(scipy_res.pvalue) == pytest.approx(stats.chi2.sf(11.1, 3))
    assert res.n_blocks == 4 and res.seeds == (0, 1, 2, 3) and res.significant
    # Nemenyi: CD = q_0.05(4) sqrt(k (k + 1) / (6 N)), q = 2.569 (Demšar 2006, Table 5)
    assert res.critical_difference == pytest.approx(2.569 * math.sqrt(20 / 24), abs=1e-3)
    pairs = res.pairwise.set_index(["a", "b"])
    assert list(pairs.index) == [
        ("a", "c"),
        ("a", "b"),
        ("a", "d"),
        ("c", "b"),
        ("c", "d"),
        ("b", "d"),
    ]
    assert pairs.loc[("a", "d"), "rank_difference"] == 2.75 and pairs.loc[("a", "d"), "significant"]
    assert pairs["significant"].sum() == 1  # only a - d exceeds CD = 2.345
    # the diagram's bars: runs in rank order with no significant pair
    assert res.groups == [("a", "c", "b"), ("c", "b", "d")]
    assert res.method == "nemenyi" and res.ranks_frame()["architecture"].tolist() == [
        "a",
        "c",
        "b",
        "d",
    ]


def test_nemenyi_critical_values_match_demsar_table():
    # q_0.05 for k = 2..10 (Demšar 2006, Table 5a): CD with N = k (k + 1) / 6 blocks is q itself
    table = {
        2: 1.960,
        3: 2.343,
        4: 2.569,
        5: 2.728,
        6: 2.850,
        7: 2.949,
        8: 3.031,
        9: 3.102,
        10: 3.164,
    }
    for k, q in table.items():
        assert critical_difference(k, k * (k + 1) / 6) == pytest.approx(q, abs=1e-3)
    # a rank difference of exactly CD has p = alpha
    cd = critical_difference(5, 12)
    assert nemenyi_pvalues(np.array([cd]), 5, 12)[0] == pytest.approx(0.05, abs=1e-6)


def test_lower_is_better_reverses_the_ranks():
    res = friedman(_scores(HAND), higher_is_better=False)
    assert res.average_ranks == {"d": 1.0, "b": 2.0, "c": 3.25, "a": 3.75}
    assert res.statistic == pytest.approx(11.1)  # the test itself is symmetric


def test_wilcoxon_holm_post_hoc_and_shared_seeds():
    rng = np.random.default_rng(1)
    base = rng.normal(0, 0.01, 12)
    table = {f"net{i}": 0.7 + 0.01 * i + base + rng.normal(0, 0.004, 12) for i in range(4)}
    scores = _scores(table)
    scores["net0"] = scores["net0"].drop(index=[10, 11])  # blocks: seeds all have
    res = friedman(scores, method="wilcoxon-holm")
    assert res.n_blocks == 10 and res.seeds == tuple(range(10))
    assert math.isnan(res.critical_difference)
    names = list(scores)
    raw = [
        stats.wilcoxon(table[a][:10], table[b][:10]).pvalue
        for a, b in zip(res.pairwise["a"], res.pairwise["b"])
    ]
    np.testing.assert_allclose(res.pairwise["pvalue"], raw)
    np.testing.assert_allclose(res.pairwise["p_adjusted"], multipletests(raw, method="holm")[1])
    assert set(res.architectures) == set(names) and res.architectures[0] == "net3"


def test_refuses_what_it_cannot_rank():
    with pytest.raises(ValueError, match=">= 3 architectures"):
        friedman(_scores({"a": [1, 2], "b": [2, 3]}))
    scores = _scores(HAND)
    scores["d"] = pd.Series([0.5, 0.5], index=[10, 11])
    with pytest.raises(ValueError, match=">= 2 seeds shared by every architecture, got 0"):
        friedman(scores)
    with pytest.raises(ValueError, match="unknown post-hoc"):
        friedman(_scores(HAND), method="conover")
