import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import TTestIndPower, TTestPower

from analysis.sequential import (
    DECISIONS,
    SequentialDesign,
    calibrate,
    crossing_probabilities,
    fixed_power,
    plan_seeds,
    sequential_family,
    sequential_path,
    simulate,
    spending,
    spending_boundaries,
    wang_tsiatis_boundaries,
)

Z975 = stats.norm.isf(0.025)


# ------------------------------------------------------------------------------- boundaries
@pytest.mark.parametrize("family", ["hsd", "obf", "pocock", "power"])
def test_one_look_is_the_fixed_test(family):
    parameter = 1.0 if family == "power" else -2.5
    assert spending_boundaries((1.0,), 0.05, family, parameter)[0] == pytest.approx(Z975, abs=1e-7)
    one_sided = spending_boundaries((1.0,), 0.05, family, parameter, two_sided=False)[0]
    assert one_sided == pytest.approx(stats.norm.isf(0.05), abs=1e-7)
    design = SequentialDesign(min_seeds=26, max_seeds=26, spending=family, parameter=parameter)
    assert design.looks == (26,)
    np.testing.assert_allclose(design.boundaries(), [Z975], atol=1e-7)


# Jennison & Turnbull (2000), Table 2.1 (Pocock) and 2.3 (O'Brien-Fleming): two-sided alpha 0.05,
# K equally spaced looks.
@pytest.mark.parametrize(
    ("k", "pocock", "obf"),
    [(1, 1.960, 1.960), (2, 2.178, 1.977), (3, 2.289, 2.004), (4, 2.361, 2.024), (5, 2.413, 2.040)],
)
def test_classical_constants(k, pocock, obf):
    t = np.arange(1, k + 1) / k
    np.testing.assert_allclose(wang_tsiatis_boundaries(t, 0.05, 0.5), pocock, atol=6e-4)
    c = wang_tsiatis_boundaries(t, 0.05, 0.0)
    assert c[-1] == pytest.approx(obf, abs=6e-4)
    np.testing.assert_allclose(c, c[-1] * np.sqrt(k / np.arange(1, k + 1)), rtol=1e-12)


def test_lan_demets_boundaries_five_equal_looks():
    # Lan-DeMets spending with alpha/2 per side (as gsDesign / rpact): the published values.
    t = tuple(np.arange(1, 6) / 5)
    np.testing.assert_allclose(
        spending_boundaries(t, 0.05, "obf"), [4.877, 3.357, 2.680, 2.290, 2.031], atol=6e-4
    )
    np.testing.assert_allclose(
        spending_boundaries(t, 0.05, "pocock"), [2.438, 2.427, 2.410, 2.397, 2.386], atol=6e-4
    )


def test_boundaries_agree_with_the_multivariate_normal():
    # Unequal looks: P(|Z_1| < c_1, |Z_2| < c_2, |Z_3| < c_3) = 1 - alpha with corr sqrt(t_i/t_j).
    t = np.array([5, 11, 26]) / 26
    c = spending_boundaries(tuple(t), 0.05, "hsd", -2.5)
    cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    inside = stats.multivariate_normal(np.zeros(3), cov).cdf(c, lower_limit=-c, rng=0)
    assert inside == pytest.approx(0.95, abs=2e-4)
    # Each look spends exactly its increment of the spending function.
    up, low = crossing_probabilities(t, c)
    np.testing.assert_allclose(up, low, atol=1e-9)
    np.testing.assert_allclose(np.cumsum(up + low), 2 * spending(t, 0.025, "hsd", -2.5), atol=2e-7)


def test_crossing_probabilities_with_drift_by_hand():
    # One look: P(Z >= 1.96) with E Z = 1 is 1 - Phi(0.96). Two looks, first boundary infinite:
    # only the second counts, and Z_2 ~ N(drift, 1).
    up, low = crossing_probabilities([1.0], [Z975], drift=1.0)
    assert up[0] == pytest.approx(stats.norm.sf(Z975 - 1.0), abs=1e-9)
    assert low[0] == pytest.approx(stats.norm.cdf(-Z975 - 1.0), abs=1e-9)
    up, low = crossing_probabilities([0.5, 1.0], [np.inf, 2.0], drift=0.7)
    assert up[0] == 0 and up[1] == pytest.approx(stats.norm.sf(2.0 - 0.7), abs=1e-6)


def test_spending_families():
    t = np.array([0.0, 0.3, 1.0])
    for family, parameter in [("hsd", -2.5), ("hsd", 0.0), ("obf", 0), ("pocock", 0), ("power", 2)]:
        s = spending(t, 0.025, family, parameter)
        assert s[0] == 0 and s[-1] == pytest.approx(0.025) and 0 < s[1] < 0.025
    np.testing.assert_allclose(spending(t, 0.025, "hsd", 0.0), 0.025 * t)
    np.testing.assert_allclose(spending(t, 0.025, "power", 2), 0.025 * t**2)


def test_design_looks_and_validation():
    assert SequentialDesign().looks == (5, 8, 11, 14, 17, 20, 23, 26)
    assert SequentialDesign(round_size=4).looks == (5, 9, 13, 17, 21, 25, 26)
    c = SequentialDesign().boundaries()
    assert c.shape == (8,) and np.all(np.diff(c) < 0)  # gamma < 0 spends little early
    assert SequentialDesign().boundaries(alpha=0.05 / 3)[-1] > c[-1]
    for bad in (
        dict(alpha=0),
        dict(min_seeds=1),
        dict(min_seeds=30),
        dict(round_size=0),
        dict(spending="linear"),
        dict(spending="power", parameter=0),
        dict(min_effect=0),
        dict(correction="bh"),
    ):
        with pytest.raises(ValueError):
            SequentialDesign(**bad)


# ----------------------------------------------------------------------------------- paths
def _pair(n=26, shift=0.0, seed=0, sd=0.02):
    rng = np.random.default_rng(seed)
    common = rng.normal(0.6, 0.02, n)  # the per-seed effect that pairing removes
    return common + rng.normal(0, sd, n), common - shift + rng.normal(0, sd, n)


def test_single_look_matches_the_paired_t_test():
    x, y = _pair(seed=3, shift=0.01)
    design = SequentialDesign(min_seeds=26, max_seeds=26)
    path = sequential_path(x, y, design)
    (look,) = path.looks
    t = stats.ttest_rel(x, y)
    assert look.statistic == pytest.approx(t.statistic) and look.df == 25
    assert look.p_repeated == pytest.approx(t.pvalue, rel=1e-3)
    ci = t.confidence_interval(0.95)
    assert (look.low, look.high) == pytest.approx((ci.low, ci.high))
    assert path.decision == ("reference_better" if t.pvalue < 0.05 else "undecided")
    assert path.finished and not path.needs_seeds


def test_single_look_unpaired_is_welch():
    x, y = _pair(seed=4, shift=0.02)
    design = SequentialDesign(min_seeds=26, max_seeds=26, paired=False)
    (look,) = sequential_path(x, y, design).looks
    t = stats.ttest_ind(x, y, equal_var=False)
    assert look.statistic == pytest.approx(t.statistic) and look.df == pytest.approx(t.df)
    assert look.p_repeated == pytest.approx(t.pvalue, rel=1e-3)


def test_repeated_pvalue_is_the_level_whose_boundary_is_reached():
    x, y = _pair(seed=5, shift=0.012)
    design = SequentialDesign()
    path = sequential_path(x, y, design)
    looks = path.looks
    assert np.all(np.diff([lk.p_repeated for lk in looks]) <= 0)  # never increases
    k = int(np.argmin([lk.p_repeated for lk in looks]))
    lk = looks[k]
    if 1e-12 < lk.p_repeated < 1:
        c = design.boundaries([v.information for v in looks[: k + 1]], alpha=lk.p_repeated)
        assert c[-1] == pytest.approx(abs(lk.z), abs=1e-3)


def test_large_effect_stops_at_the_first_look_and_decisions_are_final():
    x, y = _pair(shift=0.08, seed=1)
    design = SequentialDesign()
    path = sequential_path(x, y, design, reference="a", other="b")
    assert path.decision == "reference_better" and path.decided_at == 1 and len(path.looks) == 1
    assert path.finished and path.last.p_adjusted <= 0.05 and path.last.low > 0
    # whatever comes after the decision is never looked at
    y_late = y.copy()
    y_late[5:] += 1.0
    again = sequential_path(x, y_late, design, reference="a", other="b")
    assert again == path
    assert path.verdict().startswith("a > b after 5 seeds: +0.")
    # the other direction
    flipped = sequential_path(y, x, design)
    assert flipped.decision == "other_better" and flipped.last.high < 0


def test_determinism_and_resumability():
    design = SequentialDesign(min_effect=0.01)
    for seed in range(6):
        x, y = _pair(shift=0.006 * (seed % 3), seed=10 + seed)
        full = sequential_path(x, y, design)
        assert sequential_path(x.copy(), y.copy(), design) == full
        for k, seeds in enumerate(design.looks):
            part = sequential_path(x[:seeds], y[:seeds], design)
            assert part.looks == full.looks[: k + 1]
            if part.decision != "undecided":
                assert part == full
                break
            assert part.needs_seeds == (seeds < 26)
            # a round not yet complete adds nothing
            assert sequential_path(x[: seeds + 2], y[: seeds + 2], design).looks == part.looks


def test_seed_keyed_inputs_failed_and_missing_seeds():
    x, y = _pair(seed=7, shift=0.004)
    design = SequentialDesign()
    by_seed = sequential_path(pd.Series(x), dict(enumerate(y)), design)
    assert by_seed == sequential_path(x, y, design)
    # seed 2 of the other failed (NaN): the first look has 4 pairs and its own fraction
    y_failed = y.copy()
    y_failed[2] = np.nan
    first = sequential_path(x, y_failed, design).looks[0]
    assert (first.n_reference, first.n_other, first.information) == (4, 4, 4.0)
    assert first.fraction == pytest.approx(4 / 26)
    # seed 2 of the other is still training (missing): no look yet
    ref = dict(enumerate(x[:5]))
    other = {s: y[s] for s in (0, 1, 3, 4)}
    state = sequential_family({"r": ref, "o": other}, "r", design)
    assert state.looks_done == 0 and state.next_seeds == 5 and state.needs_seeds == ("r", "o")
    # arbitrary seed ids and a custom order of rounds
    ids = [100 + 7 * i for i in range(26)][::-1]
    path = sequential_path(dict(zip(ids, x)), dict(zip(ids, y)), design, seed_order=ids)
    assert path == sequential_path(x, y, design)


def test_unpaired_uses_each_architectures_own_seeds():
    rng = np.random.default_rng(8)
    x = {s: v for s, v in zip(range(26), rng.normal(0.60, 0.02, 26))}
    y = {s: v for s, v in zip(range(500, 526), rng.normal(0.58, 0.02, 26))}
    design = SequentialDesign(paired=False)
    path = sequential_path(x, y, design)
    arrays = sequential_path(np.array(list(x.values())), np.array(list(y.values())), design)
    assert path == arrays
    assert path.looks[0].df == pytest.approx(
        stats.ttest_ind(list(x.values())[:5], list(y.values())[:5], equal_var=False).df
    )


def test_zero_variance_differences():
    x = np.full(26, 0.6)
    better = sequential_path(x, x - 0.01, SequentialDesign())
    assert better.decision == "reference_better" and better.last.p_repeated == 0
    tie = sequential_path(x, x, SequentialDesign(min_effect=0.005))
    assert tie.decision == "futile" and tie.decided_at == 1
    assert sequential_path(x, x, SequentialDesign()).decision == "undecided"


def test_futility():
    # A tiny true difference, a generous margin: decided futile, with the interval inside it.
    x, y = _pair(seed=9, shift=0.0, sd=0.005)
    path = sequential_path(x, y, SequentialDesign(min_effect=0.02))
    assert path.decision == "futile"
    assert path.last.low > -0.02 and path.last.high < 0.02
    assert path.verdict().endswith("(no difference as large as 0.02)")


def test_one_sided_design():
    design = SequentialDesign(two_sided=False, min_effect=0.03)
    x, y = _pair(seed=2, shift=0.0)
    path = sequential_path(y - 0.2, x, design)  # other far better: never "other_better"
    assert path.decision == "futile"  # ... but the reference is surely not better by 0.03
    assert SequentialDesign(two_sided=False, min_seeds=26).boundaries()[0] == pytest.approx(
        stats.norm.isf(0.05), abs=1e-7
    )


def test_simulate_follows_the_same_rules_as_the_path():
    rng = np.random.default_rng(11)
    seen = set()
    for paired, min_effect in ((True, 0.03), (False, 0.03), (True, 0.01), (False, None)):
        design = SequentialDesign(paired=paired, min_effect=min_effect)
        x = rng.normal(0.6, 0.02, (40, 26))
        y = rng.normal(0.6, 0.02, (40, 26)) - rng.choice([0.0, 0.01, -0.03], (40, 1))
        sim = simulate(design, x, y)
        for i in range(40):
            path = sequential_path(x[i], y[i], design)
            assert DECISIONS[sim.decision[i]] == path.decision
            assert sim.seeds[i] == path.last.seeds
            seen.add(path.decision)
    assert seen == set(DECISIONS)


# --------------------------------------------------------------------------------- family
def _family(seed=0, n=26, means=(0.6, 0.6, 0.57, 0.5)):
    rng = np.random.default_rng(seed)
    common = rng.normal(0, 0.02, n)
    return {f"a{i}": common + rng.normal(mu, 0.02, n) for i, mu in enumerate(means)}


def test_family_holm_frees_alpha_and_bonferroni_does_not():
    scores = _family()
    design = SequentialDesign()
    state = sequential_family(scores, "a0", design)
    assert state.others == ("a1", "a2", "a3") and state.reference == "a0"
    clear = state.path("a3")
    assert clear.decision == "reference_better" and clear.decided_at == 1
    assert clear.looks[0].level == pytest.approx(0.05 / 3)
    # after a3's rejection at look 1 the others are tested at alpha / 2 from then on
    assert state.path("a1").looks[1].level == pytest.approx(0.05 / 2)
    bonf = sequential_family(scores, "a0", replace(design, correction="bonferroni"))
    assert all(lk.level == pytest.approx(0.05 / 3) for p in bonf.paths for lk in p.looks)
    # intervals use alpha / m in both
    for p, q in zip(state.paths, bonf.paths):
        assert (p.looks[0].low, p.looks[0].high) == (q.looks[0].low, q.looks[0].high)


def test_family_seeds_needed_and_consistency():
    design = SequentialDesign(min_effect=0.025)
    for seed in range(4):
        scores = _family(seed=seed)
        state = sequential_family(scores, "a0", design)
        frame = state.frame()
        assert set(frame["other"]) == set(state.others)
        # efficacy exactly when Holm's adjusted repeated p-value reaches alpha (up to the
        # tolerance of the p-value's root finding)
        eff = frame["decision"].isin(["reference_better", "other_better"])
        assert (frame.loc[eff, "p_adjusted"] <= 0.05 * 1.001).all()
        assert (frame.loc[~eff, "p_adjusted"] > 0.05 * 0.999).all()
        # round by round: who needs seeds, and the prefix property
        for k, seeds in enumerate(design.looks):
            part = sequential_family({a: s[:seeds] for a, s in scores.items()}, "a0", design)
            for p, full in zip(part.paths, state.paths):
                assert p.looks == full.looks[: len(p.looks)]
            wanting = [p.other for p in part.paths if not p.finished]
            assert part.needs_seeds == (("a0", *wanting) if wanting else ())
            if part.finished:
                assert part.next_seeds is None and part == state
                break
            assert part.next_seeds == design.looks[k + 1]
    with pytest.raises(ValueError, match="unknown reference"):
        sequential_family(scores, "zz", design)


# ---------------------------------------------------------------------------- calibration
def test_calibration_targets():
    """The figures of docs/sequential.md at 2,000 sweeps per scenario (defaults: 5/3/26)."""
    design = SequentialDesign()
    table = calibrate(design, n_sweeps=2000, seed=0)
    assert len(table) == 12
    null = table[table["d"] == 0]
    # false "significant" verdicts under optional stopping, paired and unpaired, normal and skewed
    assert null["significant"].between(0.02, 0.06).all(), null
    # repeated intervals cover the true difference at every look until the stop
    assert (table["coverage"] >= 0.94).all(), table
    half = table[table["d"] == 0.5]
    # d is in sd of the differences: unpaired, the effect is d sqrt(2) sd of each architecture
    analytic = {True: fixed_power(0.5, 1.0, 26), False: fixed_power(0.5 * math.sqrt(2), 1.0, 26, paired=False)}  # fmt: skip
    assert analytic[True] == pytest.approx(analytic[False], abs=0.02)  # about 0.69 both
    for _, row in half.iterrows():
        # the fixed 26-seed test on the same sweeps, and (normal scores) its exact power
        assert row["power"] >= row["fixed_power"] - 0.05, row
        if row["distribution"] == "normal":
            assert row["power"] >= analytic[row["paired"]] - 0.05, row
    one = table[(table["d"] == 1.0) & (table["distribution"] == "normal")]
    assert (one["power"] > 0.99).all()
    # 40 % of the fixed 26 seeds is out of reach with looks at 5, 8, ..., 26 (docs/sequential.md);
    # the design stops at about half.
    assert (one["seed_fraction"] < 0.55).all(), one


def test_plan_seeds():
    design = SequentialDesign()
    plan = plan_seeds(0.02, 0.02, design, n_simulations=4000, seed=1)
    assert plan == plan_seeds(0.02, 0.02, design, n_simulations=4000, seed=1)
    assert plan.power > 0.99 and 10 < plan.expected_seeds < 15
    qs = [v for _, v in plan.quantiles]
    assert qs == sorted(qs) and qs[0] >= 5 and qs[-1] <= 26
    # the fixed design with the same power needs more seeds than the sequential one on average
    assert plan.fixed_seeds > plan.expected_seeds and plan.ratio_to_fixed < 1
    assert plan.fixed_power_at_max == pytest.approx(
        TTestPower().power(1.0, 26, 0.05, alternative="two-sided"), abs=1e-4
    )
    # three comparisons: alpha / 3 each, more seeds
    assert plan_seeds(0.02, 0.02, design, n_comparisons=3, n_simulations=4000).expected_seeds > (
        plan.expected_seeds
    )
    null = plan_seeds(0.02, 0.0, replace(design, min_effect=0.03), n_simulations=4000)
    assert null.power < 0.06 and np.isnan(null.fixed_seeds) and null.expected_seeds < 26
    row = plan.as_row()
    assert {"seeds_q0.5", "ratio_to_fixed", "expected_seeds"} <= set(row)
    with pytest.raises(ValueError):
        plan_seeds(0.0, 0.01, design)


def test_fixed_power_matches_statsmodels():
    assert fixed_power(0.01, 0.02, 26) == pytest.approx(
        TTestPower().power(0.5, 26, 0.05, alternative="two-sided"), abs=1e-4
    )
    assert fixed_power(0.01, 0.02, 26, paired=False) == pytest.approx(
        TTestIndPower().power(0.5, 26, 0.05, alternative="two-sided"), abs=1e-4
    )
