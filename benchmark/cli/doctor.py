"""``doctor`` (does the GPU path work here, how fast, how many per GPU) and ``perf`` (step time
of one net under named fast-path modes)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from benchmark.cli.formatting import print_table
from benchmark.cli.options import parse_option, parse_window, positive_int


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "doctor",
        parents=[common],
        help="check the fast path on this machine: correctness, speed, memory, packing, inference",
        description=(
            "Environment, then on each kind of device: the fast path against fp32 from the same "
            "seed (correctness), its speed against eager bf16 and eager fp32 with and without "
            "torch.compile, one instance's GPU memory against the packing estimate, 1/2/4 "
            "instances per GPU through Ray, and ensemble inference in s/Gvoxel. Without CUDA a "
            "CPU subset at the quick profile's size. Exits 1 when a correctness check fails."
        ),
    )
    p.add_argument("--quick", action="store_true", help="shorter checks (fewer steps and modes)")
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser(
        "perf",
        parents=[common],
        help="training step time, TFLOP/s and memory of one net under fast-path modes",
        description=(
            "Times training steps (and forward passes) of one net on random windows in each "
            "mode: fast (what training runs here), eager-bf16 or eager-fp32, each optionally "
            "followed by +switch / -switch for switches channels_last, conv2d_slices, compile, "
            "cudnn_benchmark, cuda_graphs, fused_adam (e.g. fast+compile, fast-conv2d_slices). "
            "Sizes come from the training plan (--profile, default auto)."
        ),
    )
    p.add_argument("--arch", required=True)
    p.add_argument(
        "--profile",
        default="auto",
        choices=["auto", "paper", "quick"],
        help="training profile for window, width and batch (auto = paper on CUDA, quick otherwise)",
    )
    p.add_argument("--window", type=parse_window, help="window Z,X,Y (default: the profile's)")
    p.add_argument("--width", type=float, help="channel width multiplier (default: the profile's)")
    p.add_argument("--batch-size", type=positive_int, help="windows per step (default: profile's)")
    p.add_argument("--steps", type=positive_int, default=20, help="timed steps per mode (median)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per mode first")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: auto)")
    p.add_argument(
        "--mode",
        action="append",
        metavar="MODE",
        help="a mode to time; repeatable (default: fast and eager-fp32)",
    )
    p.add_argument("--compile", action="store_true", help="also time fast+compile")
    p.add_argument(
        "--option",
        action="append",
        type=parse_option,
        metavar="KEY=VALUE",
        help="training option (e.g. conv2d_slices=true) that 'fast' then runs with; repeatable",
    )
    p.add_argument("--json", metavar="PATH", help="also write the timings as JSON")
    p.set_defaults(func=cmd_perf)


# ------------------------------------------------------------------------------------- doctor
def cmd_doctor(args: argparse.Namespace) -> int:
    from benchmark.doctor import run_doctor

    report = run_doctor(quick=args.quick)
    print_doctor(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return report.exit_code


def print_doctor(report) -> None:
    """The report as the environment lines and one table per device."""
    from benchmark.doctor.environment import environment_lines

    print("environment")
    for line in environment_lines(report.environment):
        print(f"  {line}")
    for section in report.sections:
        print()
        print(f"checks on {section.device}: {section.setting}")
        rows = [(c.group, c.name, c.status, c.figure) for c in section.checks]
        print_table(("group", "check", "status", "figure"), rows, right=())
    for note in report.notes:
        print()
        print(f"note: {note}")
    counts = {s: sum(c.status == s for c in report.checks) for s in ("PASS", "FAIL", "SKIP")}
    print()
    verdict = (
        "a correctness check FAILED: do not train on this machine's fast path"
        if report.correctness_failed
        else "correctness: all passed"
    )
    print(
        f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped in "
        f"{report.wall_s:.0f} s; {verdict}"
    )


# --------------------------------------------------------------------------------------- perf
def cmd_perf(args: argparse.Namespace) -> int:
    import torch

    from architectures import summarize
    from benchmark.training.device import resolve_device
    from benchmark.training.perf import measure
    from benchmark.training.planner import plan_training

    overrides = dict(args.option or [])
    for key in ("window", "width", "batch_size", "device"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    plan = plan_training(args.arch, args.profile, train_overrides=overrides)
    modes = list(args.mode or ["fast", "eager-fp32"])
    if args.compile and "fast+compile" not in modes:
        modes.insert(1, "fast+compile")
    device = resolve_device(plan.config.device)
    s = summarize(plan.architecture, plan.window, **plan.build_options(7))
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(
        f"{plan.architecture} at window {plan.window}, width {plan.config.width:g}, batch "
        f"{plan.config.batch_size} on {where} ({plan.reason}): {s.params:,} parameters, "
        f"{s.gflops:.2f} forward GFLOP per window"
    )
    if device.type != "cuda":
        print("note: no CUDA device: 'fast' is the CPU's fp32 path; GPU figures need a GPU")
    results = measure(plan, modes, steps=args.steps, warmup=args.warmup)
    reference = next((r for r in results if r.mode == "eager-fp32" and r.error is None), None)
    rows = []
    for r in results:
        if r.error is not None:
            rows.append((r.mode, "-", "-", "-", "-", "-", "-", f"error: {r.error}"))
            continue
        ratio = f"{reference.step_ms / r.step_ms:.2f}x" if reference is not None else "-"
        rows.append(
            (
                r.mode,
                f"{r.step_ms:.2f}",
                f"{r.steps_per_s:.2f}",
                ratio,
                f"{r.train_tflops:.3g}",
                "-" if math.isnan(r.infer_ms) else f"{r.infer_ms:.2f}",
                "-" if r.peak_memory_gib is None else f"{r.peak_memory_gib:.2f}",
                r.switches,
            )
        )
    print_table(
        (
            "mode",
            "step ms",
            "steps/s",
            "vs eager-fp32",
            "train TFLOP/s",
            "forward ms",
            "peak GiB",
            "switches",
        ),
        rows,
        right=(1, 2, 3, 4, 5, 6),
    )
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in results], indent=2))
    return 0
