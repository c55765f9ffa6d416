import itertools
import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analysis.compare import (
    adjust_pvalues,
    apply_correction,
    cliffs_delta,
    compare_all_pairs,
    compare_pair,
    compare_to_reference,
    comparisons_frame,
    hedges_g,
    n_distinct_permutations,
    newcombe_interval,
    permutation_interval,
    permutation_pvalues,
    permutation_test,
    probability_of_improvement,
    wilson_interval,
)


def _diff(x, y, axis=-1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _paired_diff(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def _scipy_perm(x, y, paired, n_resamples, seed, alternative="two-sided"):
    return stats.permutation_test(
        (x, y),
        _paired_diff if paired else _diff,
        permutation_type="samples" if paired else "independent",
        vectorized=True,
        n_resamples=n_resamples,
        alternative=alternative,
        rng=seed,
    )


# ------------------------------------------------------------------------- permutation test
@pytest.mark.parametrize("paired", [False, True])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_permutation_equals_scipy_random(paired, alternative):
    rng = np.random.default_rng(5)
    x, y = rng.normal(0.3, 1, 26), rng.normal(0, 1, 26)
    ours = permutation_test(
        x, y, paired=paired, n_resamples=4999, seed=3, alternative=alternative, exact_limit=0
    )
    ref = _scipy_perm(x, y, paired, 4999, np.random.default_rng(3), alternative)
    assert not ours.exact and ours.n_permutations == 4999
    assert ours.pvalue == ref.pvalue
    assert ours.statistic == pytest.approx(ref.statistic)


def test_permutation_equals_scipy_unequal_sizes_and_int_seed():
    rng = np.random.default_rng(6)
    x, y = rng.normal(0.5, 1, 20), rng.normal(0, 1, 31)
    ours = permutation_test(x, y, n_resamples=9999, seed=12)
    assert ours.pvalue == _scipy_perm(x, y, False, 9999, 12).pvalue


@pytest.mark.parametrize("paired,n_x,n_y", [(False, 5, 6), (False, 8, 8), (True, 9, 9)])
def test_permutation_exact_equals_scipy(paired, n_x, n_y):
    rng = np.random.default_rng(7)
    x, y = rng.normal(0.5, 1, n_x), rng.normal(0, 1, n_y)
    ours = permutation_test(x, y, paired=paired)
    assert ours.exact and ours.n_permutations == n_distinct_permutations(n_x, n_y, paired)
    assert ours.pvalue == pytest.approx(_scipy_perm(x, y, paired, np.inf, 0).pvalue, abs=1e-12)


def test_permutation_exact_3_vs_3_by_hand():
    # pooled {0, 1, 1.5, 2, 3, 4}; a relabeling with x-sum S has difference (2 S - 11.5) / 3.
    # The 20 triples' sums: 2.5 3 4 5 3.5 4.5 5.5 5 6 7 | 4.5 5.5 6.5 6 7 8 6.5 7.5 8.5 9;
    # observed S = 7 (x = 1, 2, 4): 6 sums >= 7 and 16 sums <= 7.
    x, y = np.array([1.0, 2.0, 4.0]), np.array([0.0, 1.5, 3.0])
    res = permutation_test(x, y)
    assert res.exact and res.n_permutations == 20
    assert res.statistic == pytest.approx(2.5 / 3)
    assert res.pvalue == pytest.approx(2 * 6 / 20)
    assert permutation_test(x, y, alternative="greater").pvalue == pytest.approx(6 / 20)
    assert permutation_test(x, y, alternative="less").pvalue == pytest.approx(16 / 20)
    # paired: d = (1, 0.5, 1); of the 8 sign flips only (+, +, +) reaches the observed sum 2.5
    paired = permutation_test(x, y, paired=True)
    assert paired.n_permutations == 8 and paired.pvalue == pytest.approx(2 / 8)


def test_batched_permutation_single_experiment_equals_scipy():
    rng = np.random.default_rng(8)
    x, y = rng.normal(0.4, 1, (1, 26)), rng.normal(0, 1, (1, 26))
    for paired in (False, True):
        _, p = permutation_pvalues(x, y, paired=paired, n_resamples=999, seed=21)
        assert p.shape == (1,)
        assert p[0] == _scipy_perm(x[0], y[0], paired, 999, 21).pvalue


def test_permutation_false_positive_rate_calibration():
    """Under the null (26 vs 26 normal), p < 0.05 in 3-7 % of 2000 simulated experiments."""
    rng = np.random.default_rng(99)
    n_exp, chunk = 2000, 250
    data = rng.normal(0.8, 0.02, size=(n_exp, 2, 26))
    for paired in (False, True):
        pvalues = np.concatenate(
            [
                permutation_pvalues(d[:, 0], d[:, 1], paired=paired, n_resamples=999, seed=rng)[1]
                for d in np.split(data, n_exp // chunk)
            ]
        )
        rate = (pvalues < 0.05).mean()
        assert 0.03 <= rate <= 0.07, (paired, rate)


def test_permutation_input_checks():
    with pytest.raises(ValueError, match="two observations"):
        permutation_test(np.array([1.0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="alternative"):
        permutation_test(np.ones(3), np.ones(3), alternative="bigger")


# ---------------------------------------------------------------------------- effect sizes
def test_hedges_g_hand_computed():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0, 5.0])
    # means 2 and 3.5; variances 1 and 5/3; pooled (2 * 1 + 3 * 5/3) / 5 = 1.4; df = 5
    d = -1.5 / math.sqrt(1.4)
    j = math.gamma(2.5) / (math.sqrt(2.5) * math.gamma(2.0))
    assert j == pytest.approx(1 - 3 / (4 * 5 - 1), abs=2e-3)  # Hedges' approximation
    assert hedges_g(x, y) == pytest.approx(j * d)
    assert hedges_g(y, x) == pytest.approx(-j * d)
    assert np.isnan(hedges_g(np.ones(3), np.ones(3)))


def test_cliffs_delta_and_probability_of_improvement_hand_computed():
    x, y = np.array([3.0, 4.0]), np.array([1.0, 2.0, 3.0])
    # pairs: 3>1 3>2 3=3 4>1 4>2 4>3 -> 5 wins, 0 losses, 1 tie
    assert cliffs_delta(x, y) == pytest.approx(5 / 6)
    assert cliffs_delta(y, x) == pytest.approx(-5 / 6)
    assert probability_of_improvement(x, y, n_resamples=200).point == pytest.approx(5.5 / 6)
    # P(X > Y) is Mann-Whitney's U / (n_x n_y)
    u = stats.mannwhitneyu(x, y).statistic
    assert probability_of_improvement(x, y, n_resamples=200).point == pytest.approx(u / 6)
    # paired: d = (1, 0, -2, 3): 2 wins, 1 tie of 4 seeds
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 2.0, 5.0, 1.0])
    assert probability_of_improvement(a, b, paired=True, n_resamples=200).point == pytest.approx(
        2.5 / 4
    )


def test_probability_of_improvement_interval_equals_scipy():
    rng = np.random.default_rng(9)
    x, y = rng.normal(0.5, 1, 12), rng.normal(0, 1, 15)

    def prob(a, b, axis=-1):
        return (a[..., :, None] > b[..., None, :]).mean(axis=(-2, -1)) + 0.5 * (
            a[..., :, None] == b[..., None, :]
        ).mean(axis=(-2, -1))

    est = probability_of_improvement(x, y, n_resamples=1000, seed=4, method="percentile")
    ref = stats.bootstrap(
        (x, y), prob, vectorized=True, n_resamples=1000, method="percentile", rng=4
    )
    assert (est.low, est.high) == (ref.confidence_interval.low, ref.confidence_interval.high)


# ------------------------------------------------------------------------------ corrections
@pytest.mark.parametrize(
    "correction,method", [("holm", "holm"), ("bh", "fdr_bh"), ("bonferroni", "bonferroni")]
)
def test_adjusted_pvalues_equal_statsmodels(correction, method):
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2, 0.049])
    np.testing.assert_array_equal(adjust_pvalues(p, correction), multipletests(p, method=method)[1])
    # untestable comparisons (NaN) are not part of the family
    with_nan = np.insert(p, 2, np.nan)
    out = adjust_pvalues(with_nan, correction)
    assert np.isnan(out[2])
    np.testing.assert_array_equal(np.delete(out, 2), multipletests(p, method=method)[1])
    np.testing.assert_array_equal(adjust_pvalues(p, "none"), p)
    with pytest.raises(ValueError, match="unknown correction 'sidakk'"):
        adjust_pvalues(p, "sidakk")


# ----------------------------------------------------------------------------- comparisons
def _scores(n=26, shift=0.02, seed=0):
    rng = np.random.default_rng(seed)
    common = rng.normal(0, 0.01, n)
    seeds = pd.Index(range(n), name="seed")
    return {
        "ref": pd.Series(0.80 + common + rng.normal(0, 0.01, n), index=seeds),
        "worse": pd.Series(0.80 - shift + common + rng.normal(0, 0.01, n), index=seeds),
        "same": pd.Series(0.80 + common + rng.normal(0, 0.01, n), index=seeds),
    }


def test_compare_pair_paired_uses_paired_tests():
    s = _scores()
    c = compare_pair(s["ref"], s["worse"], a="ref", b="worse", n_resamples=2000, seed=1)
    x, y = s["ref"].to_numpy(), s["worse"].to_numpy()
    assert c.paired and c.n_pairs == 26
    assert (
        c.rank_test.name == "Wilcoxon signed-rank"
        and c.rank_test.pvalue == stats.wilcoxon(x, y).pvalue
    )
    assert c.t_test.name == "paired t" and c.t_test.pvalue == pytest.approx(
        stats.ttest_rel(x, y).pvalue
    )
    assert c.d_z == pytest.approx((x - y).mean() / (x - y).std(ddof=1))
    assert c.hedges_g == pytest.approx(hedges_g(x, y)) and c.cliffs_delta == pytest.approx(
        cliffs_delta(x, y)
    )
    # streams spawned from the seed: the permutation test (first) and the bootstrap of
    # P(improvement) (third, only for a bootstrap ci_method)
    r_perm, _, _ = np.random.default_rng(1).spawn(3)
    assert c.pvalue == _scipy_perm(x, y, True, 2000, r_perm).pvalue
    # the difference's interval inverts that same test (deliberate change from the BCa bootstrap)
    r_perm, _, _ = np.random.default_rng(1).spawn(3)
    low, high = permutation_interval(x, y, paired=True, n_resamples=2000, seed=r_perm)
    assert (c.difference.low, c.difference.high) == (low, high)
    assert c.difference.method == "permutation test inverted (sign flips), 2,000 random"
    assert c.verdict_interval == c.difference  # uncorrected: the same 95 % interval
    assert c.p_improvement.method == "Wilson score (seeds won)"
    assert c.significant and c.verdict().startswith("ref > worse: +0.0")


def test_compare_pair_independent_uses_welch_and_mann_whitney():
    rng = np.random.default_rng(2)
    x, y = rng.normal(0.8, 0.01, 20), rng.normal(0.79, 0.02, 25)
    c = compare_pair(x, y, n_resamples=2000, seed=3)
    assert not c.paired and (c.n_a, c.n_b, c.n_pairs) == (20, 25, 0)
    assert c.rank_test.pvalue == stats.mannwhitneyu(x, y).pvalue
    assert c.t_test.pvalue == pytest.approx(stats.ttest_ind(x, y, equal_var=False).pvalue)
    r_perm, _, _ = np.random.default_rng(3).spawn(3)
    assert c.pvalue == _scipy_perm(x, y, False, 2000, r_perm).pvalue
    r_perm, _, _ = np.random.default_rng(3).spawn(3)
    low, high = permutation_interval(x, y, n_resamples=2000, seed=r_perm)
    assert (c.difference.low, c.difference.high) == (low, high)
    assert c.difference.point == pytest.approx(x.mean() - y.mean())
    assert c.p_improvement.method == "Newcombe score (Mann-Whitney)"
    assert np.isnan(c.d_z)


def test_partial_seed_overlap_pairs_on_intersection():
    s = _scores()
    c = compare_pair(s["ref"], s["worse"].drop(index=[0, 1]), n_resamples=500)
    assert c.paired and (c.n_a, c.n_b, c.n_pairs) == (26, 24, 24)


def test_families_and_verdicts():
    s = _scores()
    ref = compare_to_reference(s, "ref", metric="m", n_resamples=2000, seed=0)
    assert [(c.a, c.b) for c in ref] == [("ref", "worse"), ("ref", "same")]
    np.testing.assert_array_equal(
        [c.p_adjusted for c in ref], multipletests([c.pvalue for c in ref], method="holm")[1]
    )
    assert all(c.family_size == 2 and c.correction == "holm" for c in ref)
    worse, same = ref
    assert worse.verdict().startswith("ref > worse: +0.02")
    assert ", p(Holm) " in worse.verdict() and ", g = " in worse.verdict()
    assert same.verdict().startswith("ref ~ same: ") and same.verdict().endswith(
        "(no detectable difference)"
    )
    pairs = compare_all_pairs(s, correction="bh", metric="m", n_resamples=2000, seed=0)
    assert [(c.a, c.b) for c in pairs] == [("ref", "worse"), ("ref", "same"), ("worse", "same")]
    assert "p(BH)" in pairs[0].verdict()
    # a pair's numbers depend on (seed, a, b, metric) only, not on the family
    assert pairs[0].permutation == worse.permutation and pairs[0].difference == worse.difference
    frame = comparisons_frame(pairs)
    assert list(frame["verdict"]) == [c.verdict() for c in pairs]
    with pytest.raises(ValueError, match="unknown reference 'x'; architectures: ref, worse, same"):
        compare_to_reference(s, "x")


def test_verdict_format():
    s = _scores()
    c = apply_correction(
        [compare_pair(s["ref"], s["worse"], a="A", b="B", n_resamples=999)], "holm"
    )[0]
    # the format changed deliberately: the interval names its level (here Holm over a family of
    # one: 95 %) and is the verdict interval, which agrees with p(Holm)
    d = c.verdict_interval
    p = f"{c.p_adjusted:.1g}" if c.p_adjusted < 0.01 else f"{c.p_adjusted:.2g}"
    expected = (
        f"A > B: {d.point:+.3f}, 95 % CI [{d.low:.3f}, {d.high:.3f}], p(Holm) = {p}, "
        f"g = {c.hedges_g:.1f}"
    )
    assert c.verdict() == expected
    assert re.fullmatch(
        r"A > B: \+0\.\d{3}, 95 % CI \[0\.\d{3}, 0\.\d{3}\], p\(Holm\) = 0\.\d+, g = \d\.\d",
        c.verdict(),
    )
    assert replace(c, p_adjusted=0.0004).verdict().split(", ")[3] == "p(Holm) < 0.001"
    assert replace(c, p_adjusted=0.61).verdict().split(", ")[3] == "p(Holm) = 0.61"
    uncorrected = compare_pair(s["ref"], s["same"], a="A", b="B", n_resamples=999)
    assert (
        " p = " in uncorrected.verdict() and "(no detectable difference)" in uncorrected.verdict()
    )


def test_degenerate_comparisons_do_not_raise():
    c = compare_pair(np.array([0.8]), np.array([0.7, 0.71]), n_resamples=100)
    assert np.isnan(c.pvalue) and np.isnan(c.t_test.pvalue)
    const = compare_pair(np.full(8, 0.8), np.full(8, 0.8), paired=True, n_resamples=100)
    assert const.pvalue == 1.0 and "~" in const.verdict() and np.isnan(const.hedges_g)
    assert const.p_improvement.point == 0.5 and const.difference.low == const.difference.high == 0.0
    # 5 pairs: 32 sign flips, the smallest p is 2/32 > 0.05: no shift can be rejected
    five = compare_pair(np.full(5, 0.8), np.full(5, 0.8), paired=True, n_resamples=100)
    assert (five.difference.low, five.difference.high) == (-np.inf, np.inf)
    assert five.min_pvalue == 2 / 32 and "5 pairs cannot reach p < 0.05" in five.verdict()


def test_same_seed_same_result():
    s = _scores()
    a = compare_pair(s["ref"], s["same"], n_resamples=1000, seed=5)
    b = compare_pair(s["ref"], s["same"], n_resamples=1000, seed=5)
    assert a == b
    assert compare_pair(s["ref"], s["same"], n_resamples=1000, seed=6).permutation != a.permutation


def test_exact_limit_enumerates_small_paired_samples():
    x = np.arange(10.0)
    y = x - np.linspace(-0.5, 1, 10)
    res = permutation_test(x, y, paired=True)
    assert res.exact and res.n_permutations == 1024
    flips = np.array(list(itertools.product([1, -1], repeat=10)))
    null = (flips * (x - y)).mean(axis=1)
    obs = (x - y).mean()
    tol = 1e-12
    expected = 2 * min((null >= obs - tol).mean(), (null <= obs + tol).mean())
    assert res.pvalue == pytest.approx(expected)


# --------------------------------------------------------------- intervals that agree with tests
@pytest.mark.parametrize(
    "paired,n_x,n_y,exact", [(True, 8, 8, True), (False, 5, 6, True), (True, 12, 12, False),
                             (False, 9, 11, False)],
)  # fmt: skip
def test_permutation_interval_inverts_the_test(paired, n_x, n_y, exact):
    rng = np.random.default_rng(10)
    x, y = rng.normal(0.3, 1, n_x), rng.normal(0, 1, n_y)
    kw = dict(paired=paired, n_resamples=999, seed=5, exact=exact)
    low, high = permutation_interval(x, y, **kw)
    assert low < x.mean() - y.mean() < high

    def accepted(delta):  # the test on x shifted by delta, with the same relabelings
        return permutation_pvalues(x - delta, y, **kw)[1] >= 0.05

    width = high - low
    for delta in np.linspace(low - width, high + width, 121):
        if min(abs(delta - low), abs(delta - high)) > 1e-9:
            assert accepted(delta) == (low < delta < high), delta
    eps = 1e-9 * width
    assert accepted(low + eps) and accepted(high - eps)
    assert not accepted(low - eps) and not accepted(high + eps)
    # batched: each row gets the interval it gets alone (exact relabelings are shared)
    if exact:
        batch = permutation_interval(np.stack([x, x + 1]), np.stack([y, y]), **kw)
        np.testing.assert_allclose(np.column_stack(batch), [[low, high], [low + 1, high + 1]])


def _family(rng, n, paired, ties):
    scores = {}
    seeds = pd.Index(range(n))
    common = rng.normal(0, 0.01, n)
    for name, shift in zip("ABCD", (0.0, 0.004, 0.012, 0.03)):
        v = 0.8 - shift + common + rng.normal(0, 0.01, n)
        scores[name] = pd.Series(np.round(v, 2) if ties else v, index=seeds)
    if not paired:
        scores = {k: v.to_numpy() for k, v in scores.items()}
    return scores


def test_verdict_interval_excludes_zero_exactly_when_significant():
    rng = np.random.default_rng(11)
    checked = dict.fromkeys(("holm", "bh", "bonferroni", "none"), 0)
    significant = dict.fromkeys(checked, 0)
    for n in (5, 6, 7, 8, 10, 14):
        for paired in (True, False):
            for ties in (False, True):
                scores = _family(rng, n, paired, ties)
                raw = compare_all_pairs(
                    scores, correction="none", n_resamples=499, seed=int(rng.integers(1000))
                )
                for correction in checked:
                    for c in apply_correction(raw, correction):
                        v = c.verdict_interval
                        excludes = not (v.low <= 0 <= v.high)
                        assert excludes == c.significant, (correction, c.verdict())
                        if c.significant:
                            assert (v.low > 0) == (v.point > 0) and v.level >= 1 - c.alpha
                            sign = c.verdict().split(": ")[0].split(" ")[1]
                            assert sign == (">" if v.point > 0 else "<")
                        else:
                            assert "(no detectable difference" in c.verdict()
                        # never narrower than the unadjusted 95 % interval: covers at least as often
                        assert v.low <= c.difference.low and c.difference.high <= v.high
                        checked[correction] += 1
                        significant[correction] += c.significant
    assert set(checked.values()) == {6 * 2 * 2 * 6}
    assert all(20 < k < 6 * 2 * 2 * 6 - 20 for k in significant.values()), significant


def test_verdict_interval_levels_follow_the_correction():
    # Holm over 3 with p = (0.06, 0.03, 0.001), one rejection: the rejected comparison's interval
    # is at 1 - 0.05/3; the others at the level of the failed step, 1 - 0.05/2. (The p-values
    # are set by hand, so only the levels are checked here.)
    rng = np.random.default_rng(12)
    s = _family(rng, 14, True, False)
    comps = [compare_pair(s["A"], s[b], a="A", b=b, n_resamples=999, seed=1) for b in "BCD"]
    comps = [replace(c, permutation=replace(c.permutation, pvalue=p)) for c, p in
             zip(comps, (0.06, 0.03, 0.001))]  # fmt: skip
    holm = apply_correction(comps, "holm")
    assert [c.significant for c in holm] == [False, False, True]
    assert [round(c.verdict_interval.level, 6) for c in holm] == [
        0.975,
        0.975,
        round(1 - 0.05 / 3, 6),
    ]
    assert "Holm step alpha/3" in holm[2].verdict_interval.method
    bonf = apply_correction(comps, "bonferroni")
    assert {round(c.verdict_interval.level, 6) for c in bonf} == {round(1 - 0.05 / 3, 6)}
    bh = apply_correction(comps, "bh")  # BH rejects 0.001 and 0.03 (0.03 <= 2/3 * 0.05)
    assert [c.significant for c in bh] == [False, True, True]
    assert {round(c.verdict_interval.level, 6) for c in bh} == {round(1 - 2 * 0.05 / 3, 6)}
    none = apply_correction(comps, "none")
    assert all(c.verdict_interval == c.difference for c in none)


def test_known_answer_table_verdicts_agree():
    """The issue's symptom: `-0.009 [-0.020, -0.000]` next to `p(Holm) = 0.1, no detectable
    difference`. On the synthetic known-answer tables (true differences 0, 0.03 and 0.06) every
    verdict line's printed interval is on the side of 0 its test says, at 5 to 26 seeds."""
    from analysis.analyze import analyze
    from tests.analysis.conftest import make_instances

    number = r"(-?(?:inf|\d+\.\d+))"
    pattern = re.compile(rf": [+-]\d\.\d{{3}}, [\d.]+ % CI (?:\[{number}, {number}\]|(unbounded))")
    lines = 0
    for n, seed in ((5, 0), (6, 0), (6, 1), (8, 2), (10, 0), (26, 0)):
        report = analyze(make_instances(n_seeds=n, seed=seed), n_resamples=999, write=False)
        for line in [c.verdict() for c in (*report.comparisons, *report.pairwise)]:
            m = pattern.search(line)
            assert m, line
            detected = " ~ " not in line
            if m.group(3):  # unbounded: these seeds cannot reject anything
                assert not detected and "cannot reach p(Holm) < 0.05" in line
            else:
                low, high = float(m.group(1)), float(m.group(2))
                assert (low > 0 or high < 0) == detected, line
                if detected:
                    assert (low > 0) == (" > " in line), line
            lines += 1
    assert lines == 6 * 9
    # and 26 seeds find the two real differences of the reference family
    ref = analyze(make_instances(n_seeds=26), n_resamples=999, write=False).comparisons
    assert [c.significant for c in ref] == [False, True, True]


def test_wilson_and_newcombe_intervals():
    from statsmodels.stats.proportion import proportion_confint

    k = np.arange(11)
    np.testing.assert_allclose(
        np.column_stack(wilson_interval(k, 10)),
        np.column_stack(proportion_confint(k, 10, method="wilson")),
    )
    ci = stats.binomtest(7, 10).proportion_ci(0.95, method="wilson")
    np.testing.assert_allclose(wilson_interval(7, 10), (ci.low, ci.high))
    # Newcombe's method 5: the roots of (theta_hat - t)^2 = z^2 V(t) either side of theta_hat
    from scipy.optimize import brentq

    theta, m, n = 0.8, 7, 9
    z2, half = stats.norm.ppf(0.975) ** 2, (m + n) / 2 - 1

    def f(t):
        v = t * (1 - t) * (1 + half * ((1 - t) / (2 - t) + t / (1 + t))) / (m * n)
        return (theta - t) ** 2 - z2 * v

    low, high = newcombe_interval(theta, m, n)
    assert low == pytest.approx(brentq(f, 1e-12, theta), abs=1e-12)
    assert high == pytest.approx(brentq(f, theta, 1 - 1e-12), abs=1e-12)
    low, high = newcombe_interval(np.array([0.0, 1.0]), 5, 5)
    assert low[0] == 0.0 and 0 < high[0] < 0.5 and 0.5 < low[1] < 1 and high[1] == 1.0


def test_probability_of_improvement_withheld_below_five_seeds():
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 2.5, 1.0, 3.0])
    for paired in (True, False):
        est = probability_of_improvement(x, y, paired=paired)
        assert est.withheld and est.note == "withheld: needs >= 5 seeds"
    est = probability_of_improvement(np.append(x, 5.0), np.append(y, 4.0), paired=True)
    assert est.point == pytest.approx(4 / 5)
    np.testing.assert_allclose((est.low, est.high), wilson_interval(4, 5))
