"""``doctor`` on the CPU: its checks, its report and its exit code (also for a broken fast path)."""

import json

import pytest
import torch

from benchmark.cli import main
from benchmark.data import Dataset
from benchmark.doctor import DoctorSettings, run_doctor
from benchmark.doctor import run as doctor_run
from benchmark.doctor.correctness import Curve, block_means, compare_curves
from benchmark.doctor.report import Check, DoctorReport, Section
from benchmark.training import fastpath
from tests.benchmark.conftest import blob_volume

# The quick profile's code paths at a width and window that train in milliseconds per step; a
# high learning rate so that 20 steps show the loss falling.
TINY = DoctorSettings(
    profile="quick",
    phantom="quick",
    train_overrides=dict(width=0.0625, window=(5, 16, 16), batch_size=2, lr=0.02),
    steps=20,
    block=10,
    curve_rtol=0.02,
    first_rtol=1e-4,
    scale_rtol=0.01,
    graph_steps=0,
    speed_modes=("fast",),
    speed_steps=1,
    speed_warmup=0,
    packing=(),
    ensemble=2,
    volume=(6, 24, 24),
)


@pytest.fixture(scope="module")
def blobs() -> Dataset:
    return Dataset(
        blob_volume((8, 32, 32), 1),
        blob_volume((6, 24, 24), 2),
        blob_volume((6, 24, 24), 3),
        name="blobs",
    )


@pytest.fixture
def tiny_cli(monkeypatch, blobs, one_thread):
    """``python -m benchmark doctor`` in-process at the tiny settings on the blob volumes."""
    monkeypatch.setattr(doctor_run, "preset", lambda device_type, quick: TINY)
    monkeypatch.setattr(doctor_run, "_load_dataset", lambda plan: blobs)
    return main


def test_doctor_runs_the_cpu_subset_and_says_what_it_skipped(tiny_cli, tmp_path, capsys):
    out = tmp_path / "doctor.json"
    assert tiny_cli(["doctor", "--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "torch " in printed and "checks on cpu" in printed and "GPU checks" in printed
    report = json.loads(out.read_text())
    assert report["exit_code"] == 0
    checks = {(c["group"], c["name"]): c for s in report["sections"] for c in s["checks"]}
    for name in ("first step", "loss curves", "loss falls", "2D weight scale", "2D slice convs"):
        assert checks[("correctness", name)]["status"] == "PASS", checks[("correctness", name)]
    for key in (
        ("correctness", "host syncs"),
        ("correctness", "CUDA graphs"),
        ("memory", "per instance"),
        ("packing", "Ray fractional GPUs"),
        ("inference", "MONAI sliding window"),
    ):
        assert checks[key]["status"] == "SKIP"
    assert checks[("speed", "fast")]["status"] == "PASS"
    assert checks[("speed", "fast")]["values"]["steps_per_s"] > 0
    assert checks[("inference", "segment, 2 models")]["status"] == "PASS"
    assert checks[("inference", "segment, 2 models")]["values"]["s_per_gvoxel"] > 0
    assert len(checks[("correctness", "loss curves")]["values"]["fast"]) == TINY.steps


def test_a_broken_fast_path_fails_correctness_and_the_exit_code(
    tiny_cli, monkeypatch, tmp_path, capsys
):
    real = fastpath.make_step

    def broken(model, optimizer, fast, objective):
        step = real(model, optimizer, fast, objective)
        if not fast.fused_adam:  # the fp32 reference stays right
            return step
        # A fast path that trains on the wrong loss (say, a lost loss-scale factor).
        return lambda image, labels, weights: 1.5 * step(image, labels, weights)

    monkeypatch.setattr(fastpath, "make_step", broken)
    out = tmp_path / "doctor.json"
    assert tiny_cli(["doctor", "--quick", "--json", str(out)]) == 1
    assert "a correctness check FAILED" in capsys.readouterr().out
    report = json.loads(out.read_text())
    failed = {c["name"] for s in report["sections"] for c in s["checks"] if c["status"] == "FAIL"}
    assert {"first step", "loss curves"} <= failed


def test_a_crashing_check_is_a_failure_not_a_crash(monkeypatch, blobs, one_thread):
    def crash(*args, **kwargs):
        raise RuntimeError("cuDNN said no")

    monkeypatch.setattr("benchmark.doctor.correctness.train_curve", crash)
    settings = TINY.replace(speed_modes=(), ensemble=0)
    report = run_doctor(settings=settings, dataset=blobs, log=lambda line: None)
    (failure,) = [c for c in report.checks if c.status == "FAIL"]
    assert failure.group == "correctness" and "cuDNN said no" in failure.figure
    assert report.exit_code == 1


def test_curve_comparison_states_tolerances_and_catches_each_fault():
    steps = 40
    settings = TINY.replace(first_rtol=0.01)
    base = [100.0 - i for i in range(steps)]
    ref = Curve("fp32", tuple(base), 1.02)
    ok = compare_curves(Curve("fast", tuple(v * 1.001 for v in base), 1.021), ref, settings)
    assert [c.status for c in ok] == ["PASS"] * 4
    assert "tolerance 2 %" in ok[1].figure
    drift = compare_curves(
        Curve("fast", tuple(v * (1 + 0.002 * i) for i, v in enumerate(base)), 1.02), ref, settings
    )
    assert [c.status for c in drift] == ["PASS", "FAIL", "PASS", "PASS"]
    flat = compare_curves(Curve("fast", tuple([100.0] * steps), 1.02), ref, settings)
    assert flat[2].status == "FAIL" and "does not fall: fast" in flat[2].figure
    shrunk = compare_curves(Curve("fast", tuple(base), 0.4), ref, settings)
    assert shrunk[3].status == "FAIL"
    nan = compare_curves(Curve("fast", (float("nan"),) + tuple(base[1:]), 1.0), ref, settings)
    assert [c.status for c in nan] == ["FAIL"]


def test_block_means():
    assert block_means([1, 2, 3, 4, 5], 2) == [1.5, 3.5]
    assert block_means([1, 2, 3], 10) == [2.0]


def test_exit_code_follows_correctness_only():
    report = DoctorReport({}, [Section("cpu", "tiny", [Check("speed", "fast", "FAIL", "slow")])])
    assert report.exit_code == 0
    report.sections[0].checks.append(Check("correctness", "loss curves", "FAIL", "apart"))
    assert report.exit_code == 1
    with pytest.raises(ValueError):
        Check("speed", "fast", "MAYBE", "")


def test_a_busy_cpu_machine_runs_the_subset_on_one_thread():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert doctor_run._busy_cpu_threads(dict(load=1.0, cpus=2), cuda=False) is None
        assert doctor_run._busy_cpu_threads(dict(load=9.0, cpus=2), cuda=True) is None
        assert doctor_run._busy_cpu_threads(dict(load=9.0, cpus=2), cuda=False) == 2
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
