"""The packing the default follows: measured by ``doctor``, recorded per GPU model."""

import pytest

from benchmark.sweep import resources


def test_best_packing_is_the_fewest_instances_near_the_best_throughput():
    assert resources.best_packing({1: 60.0, 2: 62.0, 4: 64.0}) == 2  # 62 >= 0.95 * 64
    assert resources.best_packing({1: 60.0, 2: 80.0, 4: 100.0}) == 4
    assert resources.best_packing({1: 60.0, 2: 55.0}) == 1
    with pytest.raises(ValueError):
        resources.best_packing({})


def test_recorded_packing_caps_the_memory_default(tmp_path, monkeypatch):
    record = tmp_path / "packing.json"
    monkeypatch.setenv("DENSECELL_PACKING_FILE", str(record))
    # Memory alone: 80 GiB * 0.85 / 4.7 GiB -> 14, capped at 8 per GPU.
    assert resources.default_gpus_per_trial(4.7, 80.0, gpu_name="H100") == pytest.approx(1 / 8)
    resources.record_packing("H100", 2, {"throughput": {"1": 60.0, "2": 62.0}})
    assert resources.measured_instances_per_gpu("H100") == 2
    assert resources.default_gpus_per_trial(4.7, 80.0, gpu_name="H100") == pytest.approx(1 / 2)
    # Memory still wins where it allows fewer; other GPU models are unaffected.
    assert resources.default_gpus_per_trial(40.0, 80.0, gpu_name="H100") == pytest.approx(1.0)
    assert resources.default_gpus_per_trial(4.7, 80.0, gpu_name="A100") == pytest.approx(1 / 8)
    resources.record_packing("A100", 4, {})
    assert resources.measured_instances_per_gpu("H100") == 2  # one file, one entry per model


def test_an_unreadable_record_is_ignored(tmp_path, monkeypatch):
    record = tmp_path / "packing.json"
    record.write_text("{not json")
    monkeypatch.setenv("DENSECELL_PACKING_FILE", str(record))
    assert resources.measured_instances_per_gpu("H100") is None
    assert resources.default_gpus_per_trial(4.7, 16.0, gpu_name="H100") == pytest.approx(1 / 2)


def test_the_record_lives_in_the_user_cache_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv("DENSECELL_PACKING_FILE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert resources.packing_record_path() == tmp_path / "densecell-bench" / "packing.json"


def test_step_actor_trains_for_the_time_it_is_given(one_thread):
    from benchmark.doctor.packing import StepActor
    from benchmark.training.planner import plan_training

    plan = plan_training(
        "2d3d_no_pyramid",
        "quick",
        train_overrides=dict(width=0.0625, window=(5, 16, 16), batch_size=1, device="cpu"),
    )
    actor = StepActor()
    assert actor.setup("2d3d_no_pyramid", plan.config.to_dict(), {}, 7, warmup=1) > 0
    assert actor.run(0.05) > 0


def test_packing_checks_record_the_best_count(monkeypatch, tmp_path):
    from benchmark.doctor import packing
    from benchmark.doctor.settings import DoctorSettings
    from benchmark.training.planner import plan_training

    monkeypatch.setenv("DENSECELL_PACKING_FILE", str(tmp_path / "packing.json"))
    rates = {1: [60.0], 2: [32.0, 31.0], 4: [16.0, 16.5, 15.5, 16.0]}
    monkeypatch.setattr(packing, "_measure", lambda plan, k, n_classes, seconds: rates[k])
    plan = plan_training("2d3d_3x3x3", "quick", train_overrides=dict(device="cpu"))
    checks = packing.packing_checks(plan, DoctorSettings(), 7, "Test GPU")
    assert [c.name for c in checks] == ["1 per GPU", "2 per GPU", "4 per GPU", "default"]
    assert "1.05x one alone" in checks[1].figure
    assert checks[-1].values["instances"] == 2  # 63 steps/s is within 5 % of 64
    assert resources.measured_instances_per_gpu("Test GPU") == 2
