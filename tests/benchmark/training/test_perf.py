"""The fast path's switches (fastpath), whole-step CUDA graphs (graphs) and the one timing loop
(perf) that perf, doctor and the search share."""

import pytest
import torch

import architectures
from benchmark.training import perf
from benchmark.training.config import TrainConfig
from benchmark.training.fastpath import FastPath, make_step
from benchmark.training.graphs import (
    make_capturable,
    optimizer_settings,
    restore_training_state,
    settings_match,
    snapshot_training_state,
)
from benchmark.training.loss import Objective
from benchmark.training.planner import plan_training
from benchmark.training.step import make_optimizer

CPU = torch.device("cpu")
WINDOW = (5, 16, 16)
OUT = architectures.output_window("2d3d_3x3x3", WINDOW, width=0.0625)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def tiny_plan(**overrides):
    options = dict(width=0.0625, window=WINDOW, batch_size=1, device="cpu")
    return plan_training("2d3d_3x3x3", "quick", train_overrides=dict(options, **overrides))


# --------------------------------------------------------------------------------- fast path
def test_fast_path_resolves_auto_per_device_and_keeps_cuda_switches_off_the_cpu():
    config = TrainConfig(cuda_graphs=True, conv2d_slices=True)
    cpu = FastPath.from_config(config, CPU)
    assert cpu.amp_dtype is None and not cpu.channels_last
    assert cpu.conv2d_slices and cpu.fused_adam
    assert not cpu.cuda_graphs and not cpu.cudnn_benchmark
    gpu = FastPath.from_config(config, torch.device("cuda"))
    assert gpu.amp_dtype == torch.bfloat16 and gpu.channels_last
    assert gpu.cuda_graphs and gpu.cudnn_benchmark
    assert FastPath.from_config(TrainConfig(amp="off"), torch.device("cuda")).amp_dtype is None
    assert not FastPath.eager(CPU).fused_adam
    assert cpu.variant(cuda_graphs=True).cuda_graphs is False
    with pytest.raises(ValueError, match="unknown fast-path switch"):
        cpu.variant(turbo=True)


def test_new_speed_options_are_checked_training_options():
    assert TrainConfig().cudnn_benchmark and not TrainConfig().cuda_graphs
    assert TrainConfig().replace(conv2d_slices="yes").conv2d_slices is True
    with pytest.raises(ValueError, match="cuda_graphs"):
        TrainConfig(cuda_graphs="sometimes")


def test_configure_optimizer_switches_between_fused_and_default_adam():
    model = architectures.build("2d3d_no_pyramid", seed=0, width=0.0625)
    optimizer = make_optimizer(model, TrainConfig(), CPU)
    FastPath.eager(CPU).configure_optimizer(optimizer)
    assert all(g["fused"] is None for g in optimizer.param_groups)
    FastPath.from_config(TrainConfig(), CPU).configure_optimizer(optimizer)
    assert all(g["fused"] is True for g in optimizer.param_groups)


def test_fast_and_eager_steps_train_alike_from_the_same_seed():
    plan = tiny_plan()
    losses = {}
    for name, fast in (
        ("fast", FastPath.from_config(plan.config, CPU).variant(channels_last=True)),
        ("slices", FastPath.from_config(plan.config, CPU).variant(conv2d_slices=True)),
        ("eager", FastPath.eager(CPU)),
    ):
        model = fast.prepare(architectures.build("2d3d_3x3x3", seed=0, **plan.build_options(7)))
        optimizer = make_optimizer(model, plan.config, CPU)
        step = make_step(model, optimizer, fast, Objective(model, plan.config))
        g = torch.Generator().manual_seed(0)
        x = fast.prepare_input(torch.randn(1, 1, *WINDOW, generator=g))
        labels = torch.randint(0, 7, (1, *OUT), generator=g)
        weights = torch.rand((1, *OUT), generator=g)
        losses[name] = torch.stack([step(x, labels, weights) for _ in range(2)])
    torch.testing.assert_close(losses["fast"], losses["eager"], rtol=1e-4, atol=0)
    torch.testing.assert_close(losses["slices"], losses["eager"], rtol=1e-4, atol=0)
    assert losses["eager"][-1] < losses["eager"][0]


# ------------------------------------------------------------------------------ CUDA graphs
def test_snapshot_and_restore_bring_back_weights_and_a_fresh_adam():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    snapshot = snapshot_training_state(model, optimizer)
    addresses = [p.data_ptr() for p in model.parameters()]
    for _ in range(2):
        optimizer.zero_grad()
        model(torch.ones(1, 3)).sum().backward()
        optimizer.step()
    restore_training_state(model, optimizer, snapshot)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert [p.data_ptr() for p in model.parameters()] == addresses  # in place: graphs keep them
    for state in optimizer.state.values():  # created after the snapshot: back to step 0
        assert all(float(v.abs().sum()) == 0 for v in state.values() if torch.is_tensor(v))


def test_capturable_optimizer_takes_the_schedules_learning_rate_as_a_tensor():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5**s)
    make_capturable(optimizer, CPU)
    lr = optimizer.param_groups[0]["lr"]
    assert torch.is_tensor(lr) and optimizer.param_groups[0]["capturable"]
    optimizer.step()
    schedule.step()
    assert optimizer.param_groups[0]["lr"] is lr  # filled in place: a graph sees the new value
    assert float(lr) == pytest.approx(0.05)


def test_optimizer_settings_notice_a_changed_eps():
    optimizer = torch.optim.Adam(torch.nn.Linear(2, 2).parameters(), eps=1e-7)
    captured = optimizer_settings(optimizer)
    optimizer.param_groups[0]["eps"] = 1e-7 * (1 + 1e-5)
    assert settings_match(captured, optimizer_settings(optimizer))
    optimizer.param_groups[0]["eps"] = 1.1e-6
    assert not settings_match(captured, optimizer_settings(optimizer))


@cuda
def test_graphed_steps_train_like_eager_steps_on_cuda():
    plan = tiny_plan(device="cuda", adam_eps_hat=False)
    device = torch.device("cuda")
    losses = {}
    for graphs in (False, True):
        fast = FastPath.from_config(plan.config, device).variant(cuda_graphs=graphs)
        model = fast.prepare(
            architectures.build("2d3d_3x3x3", seed=0, device=device, **plan.build_options(7))
        )
        optimizer = make_optimizer(model, plan.config, device)
        step = make_step(model, optimizer, fast, Objective(model, plan.config))
        g = torch.Generator().manual_seed(0)
        x = fast.prepare_input(torch.randn(1, 1, *WINDOW, generator=g).to(device))
        labels = torch.randint(0, 7, (1, *OUT), generator=g).to(device)
        weights = torch.rand((1, *OUT), generator=g).to(device)
        losses[graphs] = torch.stack([step(x, labels, weights) for _ in range(8)]).cpu()
        if graphs:
            assert step.replays == 8 and step.captures == 1
    torch.testing.assert_close(losses[True], losses[False], rtol=2e-2, atol=0)


@cuda
def test_the_fast_step_never_waits_for_the_host_on_cuda():
    plan = tiny_plan(device="cuda")
    device = torch.device("cuda")
    fast = FastPath.from_config(plan.config, device)
    model = fast.prepare(
        architectures.build("2d3d_3x3x3", seed=0, device=device, **plan.build_options(7))
    )
    optimizer = make_optimizer(model, plan.config, device)
    step = make_step(model, optimizer, fast, Objective(model, plan.config))
    x = fast.prepare_input(torch.randn(1, 1, *WINDOW, device=device))
    labels = torch.zeros((1, *OUT), dtype=torch.long, device=device)
    weights = torch.ones((1, *OUT), device=device)
    for _ in range(3):
        step(x, labels, weights)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            step(x, labels, weights)
    finally:
        torch.cuda.set_sync_debug_mode("default")


# ------------------------------------------------------------------------------------- perf
def test_mode_names_parse_into_switches():
    fast = FastPath.from_config(TrainConfig(channels_last="on"), CPU)
    assert perf.parse_mode("fast", fast) == fast
    assert perf.parse_mode("fast+conv2d_slices-channels_last", fast) == fast.variant(
        conv2d_slices=True, channels_last=False
    )
    eager_bf16 = perf.parse_mode("eager-bf16+compile", fast)
    assert eager_bf16.amp_dtype == torch.bfloat16 and eager_bf16.compile
    assert not eager_bf16.fused_adam and not eager_bf16.channels_last
    for bad in ("turbo", "fast+turbo", "fast compile"):
        with pytest.raises(ValueError):
            perf.parse_mode(bad, fast)


def test_time_ms_times_each_call_after_the_warmup():
    calls = []
    times = perf.time_ms(lambda: calls.append(1), CPU, repeats=4, warmup=2)
    assert len(calls) == 6 and len(times) == 4 and all(t >= 0 for t in times)
    assert perf.median([3.0, 1.0, 2.0]) == 2.0 and perf.median([1.0, 2.0]) == 1.5


def test_measure_times_every_mode_and_reports_a_failing_one(monkeypatch):
    plan = tiny_plan()
    real = perf.time_step

    def flaky(plan, fast, **kwargs):
        if kwargs["mode"] == "eager-bf16":
            raise RuntimeError("no bf16 here\nsecond line")
        return real(plan, fast, **kwargs)

    monkeypatch.setattr(perf, "time_step", flaky)
    rows = perf.measure(plan, ["fast", "eager-bf16", "fast+conv2d_slices"], steps=1, warmup=0)
    assert [r.mode for r in rows] == ["fast", "eager-bf16", "fast+conv2d_slices"]
    assert rows[1].error == "RuntimeError: no bf16 here"
    for r in (rows[0], rows[2]):
        assert r.error is None and r.step_ms > 0 and r.infer_ms > 0 and r.train_tflops > 0
    assert rows[0].switches == "fp32, channels_last_3d, fused Adam"
    assert rows[2].switches == "fp32, channels_last_3d, 2D slice convs, fused Adam"


def test_search_step_time_uses_the_shared_timing(monkeypatch):
    from benchmark.search.worker import measure_step_ms

    monkeypatch.setattr(perf, "time_ms", lambda fn, device, repeats, warmup=0: [5.0, 1.0, 3.0])
    plan = tiny_plan()
    assert measure_step_ms("2d3d_3x3x3", {}, plan.config, 7, steps=3, warmup=0) == 3.0


def test_perf_command_prints_every_mode(cli):
    result = cli(
        "perf",
        "--arch",
        "2d3d_no_pyramid",
        "--profile",
        "quick",
        "--width",
        "0.0625",
        "--window",
        "5,16,16",
        "--device",
        "cpu",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--mode",
        "fast",
        "--mode",
        "fast+conv2d_slices-fused_adam",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("fast ") and "channels_last_3d" in line for line in lines)
    assert any(line.startswith("fast+conv2d_slices-fused_adam ") for line in lines)
