import math

import numpy as np
import pytest
from statsmodels.stats.power import TTestPower

from analysis._seeding import derive
from analysis.planning import format_plan, plan_run
from analysis.sequential import SequentialDesign, plan_seeds
from tests.analysis.conftest import make_instances

MEANS = {"2d3d_3x3x3": 0.80, "2d3d_no_3x3x3": 0.79, "unet_original": 0.74}


@pytest.fixture(scope="module")
def table():
    df = make_instances(n_seeds=10, means=MEANS)
    df.loc[df.architecture == "unet_original", "wall_time_s"] = 7200.0
    return df


def test_observed_effects_against_statsmodels_and_plan_seeds(table):
    plan = plan_run(table, n_simulations=2000)
    assert plan.reference == "2d3d_3x3x3" and plan.alpha_each == 0.025
    ref = table[table.architecture == "2d3d_3x3x3"].set_index("seed")["eval_miou_all"]
    for row in plan.comparisons.itertuples():
        other = table[table.architecture == row.other].set_index("seed")["eval_miou_all"]
        d = (ref - other).to_numpy()
        assert row.paired and row.n == 10
        assert row.sd == pytest.approx(d.std(ddof=1)) and row.observed == pytest.approx(d.mean())
        assert row.effect == pytest.approx(abs(d.mean())) and row.effect_source == "observed"
        # the fixed design: statsmodels' power of the paired t test at alpha / 2, first whole n
        # reaching 0.8 (its solver fails for d_z ~ 8, the power itself is NaN at 1 df there)
        power = TTestPower().power
        first = next(n for n in range(2, 100) if power(row.d, n, 0.025) >= 0.8)
        assert row.fixed_seeds == first
        if row.other == "2d3d_no_3x3x3":
            n = TTestPower().solve_power(effect_size=row.d, alpha=0.025, power=0.8)
            assert row.fixed_seeds == math.ceil(n) and row.fixed_seeds_exact == pytest.approx(n)
        expected = plan_seeds(
            row.sd, row.effect, SequentialDesign(), n_comparisons=2, n_simulations=2000,
            seed=derive(0, "plan-seeds", "2d3d_3x3x3", row.other),
        )  # fmt: skip
        assert row.sequential_expected == expected.expected_seeds
        assert row.sequential_power == expected.power
    # hours: unet 2 h per instance, the others 1 h
    assert plan.hours.set_index("architecture")["hours_per_instance"].to_dict() == {
        "2d3d_3x3x3": 1.0, "2d3d_no_3x3x3": 1.0, "unet_original": 2.0,
    }  # fmt: skip
    t = plan.totals
    assert (
        t["fixed_hours"] == t["fixed_seeds"] * 4.0 and t["fixed_instances"] == 3 * t["fixed_seeds"]
    )
    e = plan.comparisons.set_index("other")["sequential_expected"]
    ref_seeds = e.max()
    assert t["sequential_hours"] == pytest.approx(
        ref_seeds + e["2d3d_no_3x3x3"] + 2 * e["unet_original"]
    )
    text = format_plan(plan)
    assert "fixed design: " in text and "GPU-hours" in text and "reached" in text


def test_given_effect_short_power_and_missing_times(table):
    plan = plan_run(
        table.drop(columns="wall_time_s"), effect=0.004, max_seeds=14, n_simulations=2000
    )
    rows = plan.comparisons.set_index("other")
    assert (rows["effect"] == 0.004).all() and (rows["effect_source"] == "given").all()
    assert plan.design.max_seeds == 14 and (rows["sequential_power"] < 0.8).all()
    # the max seeds that reach the power, found by simulation, and the family replanned under it
    assert (rows["max_seeds_needed"] > 14).all()
    assert plan.totals["powered_max_seeds"] == rows["max_seeds_needed"].max()
    assert np.isnan(plan.totals["fixed_hours"]) and np.isnan(plan.totals["sequential_hours"])
    assert "no wall_time_s column: the time per instance is unknown" in " ".join(plan.notes)
    assert "(hours unknown)" in format_plan(plan)


def test_stored_design_and_errors(tmp_path, table):
    import dataclasses
    import json

    from tests.analysis.conftest import write_run_dir

    run = write_run_dir(tmp_path / "run", table)
    design = SequentialDesign(min_seeds=4, max_seeds=20, round_size=4, min_effect=0.01)
    meta = {"sequential": {"design": dataclasses.asdict(design), "reference": "unet_original"}}
    (run / "run.json").write_text(json.dumps(meta))
    plan = plan_run(run, n_simulations=1000, round_size=2)
    assert plan.reference == "unet_original"
    assert plan.design == dataclasses.replace(design, round_size=2)
    with pytest.raises(ValueError, match="--effect must be a positive"):
        plan_run(table, effect=0)
    with pytest.raises(ValueError, match="unknown reference 'x'"):
        plan_run(table, reference="x")
