"""The one planner: profiles, precedence of overrides, data sized for the resolved profile."""

from __future__ import annotations

import pytest

from benchmark.data.spec import DataSpec
from benchmark.training.config import PROFILES
from benchmark.training.planner import plan_data, plan_training, resolve_profile


def test_auto_profile_follows_the_gpus_where_training_runs():
    assert resolve_profile("auto", gpus=1)[0] == "paper"
    name, reason = resolve_profile("auto", gpus=0, where="the Ray cluster")
    assert name == "quick" and "the Ray cluster has no GPU" in reason
    assert resolve_profile("paper", gpus=0) == ("paper", "profile paper (asked for)")
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        resolve_profile("fast", gpus=0)


def test_precedence_profile_arch_quick_suite_user():
    plan = plan_training("2d3d_no_multiloss", "quick", gpus=0)
    assert plan.config.c_2d == 0.0  # the architecture's training default
    assert plan.config.width == 0.125 and plan.config.window == (5, 32, 32)  # its quick sizes
    plan = plan_training(
        "2d3d_no_multiloss",
        "quick",
        gpus=0,
        suite_train={"c_2d": 0.5, "width": 0.25},
        train_overrides={"c_2d": 0.7, "lr": None},
    )
    assert plan.config.c_2d == 0.7 and plan.config.width == 0.25
    assert plan.config.lr == PROFILES["quick"].lr  # None means "not given"


def test_same_inputs_same_plan_for_train_run_and_search():
    """``train``, ``run`` and ``search`` all call plan_training: the same inputs give the same
    config (the quick overlay used to be copied three times, and the copies differed)."""
    from benchmark.search.runner import _base_plan
    from benchmark.sweep.suites import Suite, plan_suite

    user = {"lr": 0.002, "max_steps": 7}
    by_train = plan_training("2d3d_3x3x3", "auto", gpus=0, train_overrides=user)
    by_run = plan_suite(Suite("s", ("2d3d_3x3x3",)), "auto", user, gpus=0)
    space = type("Space", (), {"base": "2d3d_3x3x3"})
    by_search = _base_plan(space, "auto", {**user, "save_probabilities": True}, gpus=0)
    assert by_run["2d3d_3x3x3"].config == by_train.config == by_search.config
    assert by_train.config.profile == "quick"


def test_phantom_is_sized_for_the_resolved_profile():
    """``run --phantom-seed N`` with the auto profile on a GPU cluster trains the paper recipe: the
    phantom must be paper-sized too, not the quick one the command line used to assume."""
    paper = plan_training("2d3d_3x3x3", "auto", gpus=4)
    spec = plan_data(DataSpec(kind="phantom", seed=3), [paper])
    assert spec.profile == "paper" and spec.seed == 3
    quick = plan_training("2d3d_3x3x3", "auto", gpus=0)
    assert plan_data(DataSpec(kind="phantom", seed=3), [quick]).profile == "quick"
    with pytest.raises(ValueError, match="different profiles"):
        plan_data(None, [paper, quick])


def test_phantom_grows_for_large_windows():
    unet = plan_training("unet_original", "quick", gpus=0)
    spec = plan_data(None, [unet])
    assert spec.min_xy >= max(unet.window[1:]) > 128


def test_builder_options_are_checked_before_training():
    with pytest.raises(ValueError, match="no builder option.*'predictor_rel'"):
        plan_training("2d3d_3x3x3", "quick", gpus=0, arch_options={"predictor_rel": False})
    plan = plan_training("2d3d_3x3x3", "quick", gpus=0, arch_options={"predictor_relu": False})
    assert plan.build_options(7)["predictor_relu"] is False
    assert plan.build_options(7)["n_classes"] == 7


def test_bad_training_options_name_the_option():
    for options, message in [
        ({"lr": "abc"}, "lr takes a number"),
        ({"max_steps": 0}, "max_steps must be a positive integer"),
        ({"reflect": "maybe"}, "reflect takes true/false"),
        ({"amp": "fp8"}, "amp must be one of"),
        ({"max_steps": 2.5}, "max_steps takes an integer"),
        ({"early_stop_miou": 2}, r"early_stop_miou must be in \[0, 1\]"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"threads": -1}, "threads must be a positive integer"),
        ({"lr": 1e9}, r"lr must be in \(0, 1\]"),
        ({"bogus": 1}, "unknown training option"),
    ]:
        with pytest.raises(ValueError, match=message):
            plan_training("2d3d_3x3x3", "quick", gpus=0, train_overrides=options)
    plan = plan_training("2d3d_3x3x3", "quick", gpus=0, train_overrides={"reflect": "no"})
    assert plan.config.reflect is False


def test_the_quick_table_sizes_the_baselines_recipe():
    """The original U-Net's recipe spaces its 388 px output windows 80 px apart; at the quick
    profile's 68 px outputs its quick table brings the spacing down, so no labelled voxel is
    skipped."""
    from architectures import output_window

    plan = plan_training("unet_original", "quick", gpus=0)
    out = output_window("unet_original", plan.window, width=plan.config.width, n_classes=7)
    assert plan.config.lr == pytest.approx(10**-3.3)  # the recipe still applies
    assert plan.config.spacing[1] <= out[1] and plan.config.spacing[2] <= out[2]
    assert plan_training("unet_original", "paper", gpus=0).config.spacing == (1, 80, 80)
