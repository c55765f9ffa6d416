"""``train`` (one instance) and ``perf`` (step-time benchmark)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmark.cli.formatting import print_table
from benchmark.progress import add_quiet_argument
from benchmark.cli.options import (
    add_data_arguments,
    add_profile_option,
    data_options,
    parse_option,
    parse_window,
)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "train", parents=[common], help="train and evaluate one instance (architecture x seed)"
    )
    p.add_argument("--arch", required=True, help="registered name or architecture spec .toml")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="instance seed (data presentation and weights; default 0)",
    )
    add_profile_option(p, "auto", "auto = paper on CUDA, quick otherwise")
    p.add_argument(
        "--out", metavar="DIR", help="checkpoint directory (default results/train/ARCH-seedN)"
    )
    p.add_argument("--max-steps", type=int, help="stop after this many steps")
    p.add_argument("--window", type=parse_window, help="training window Z,X,Y")
    p.add_argument("--width", type=float, help="channel width multiplier")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: auto)")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step")
    p.add_argument(
        "--option",
        action="append",
        type=parse_option,
        metavar="KEY=VALUE",
        help="training option (see benchmark.training.config.TrainConfig); repeatable",
    )
    p.add_argument(
        "--arch-option",
        action="append",
        type=parse_option,
        metavar="KEY=VALUE",
        help="architecture builder option; repeatable",
    )
    p.add_argument("--json", metavar="PATH", help="write the final result as JSON")
    add_quiet_argument(p)
    add_data_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "perf",
        parents=[common],
        help="training step time, TFLOP/s and memory: fast path vs eager fp32",
    )
    p.add_argument("--arch", required=True)
    p.add_argument("--window", type=parse_window, help="window Z,X,Y (default: the architecture's)")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--steps", type=int, default=30, help="timed steps per mode (median reported)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", action="store_true", help="also torch.compile the fast path")
    p.set_defaults(func=cmd_perf)


def _plan(args: argparse.Namespace):
    from benchmark.training.planner import plan_training

    overrides = dict(args.option or [])
    for key in ("max_steps", "window", "width", "device"):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    if getattr(args, "compile", False):
        overrides["compile"] = True
    return plan_training(
        args.arch,
        args.profile,
        train_overrides=overrides,
        arch_options=dict(args.arch_option or []),
    )


def cmd_train(args: argparse.Namespace) -> int:
    from benchmark.data.spec import data_spec_from_options, load_data
    from benchmark.progress import set_quiet, step_progress, write
    from benchmark.training.instance import train_instance
    from benchmark.training.planner import plan_data

    set_quiet(args.quiet)

    plan = _plan(args)
    spec = plan_data(data_spec_from_options(data_options(args)), [plan])
    print(f"{plan.reason}; data: {spec.describe()}", flush=True)
    dataset = load_data(spec)
    out = Path(args.out or f"results/train/{Path(args.arch).stem}-seed{args.seed}")
    progress, close = step_progress(0, f"{Path(args.arch).stem} seed {args.seed}")
    try:
        result = train_instance(
            plan.architecture,
            args.seed,
            dataset,
            plan.config,
            arch_overrides=plan.arch_options,
            checkpoint_dir=out,
            log=write,
            progress=progress,
        )
    finally:
        close()
    best = result.best.eval
    test = f", test MIoU(org) {result.test.miou_org:.4f}" if result.test is not None else ""
    print(
        f"result: {result.architecture} seed {result.seed} {result.status} after {result.steps} steps in {result.wall_time_s:.1f} s: "
        f"best eval MIoU(all) {best.miou_all:.4f}, MIoU(org) {best.miou_org:.4f} at step {result.best.step}{test}; "
        f"checkpoints {result.checkpoint_best}, {result.checkpoint_final}"
    )
    if args.json:
        row = result.row(dataset.class_names)
        Path(args.json).write_text(json.dumps(row, indent=2, default=str))
    return 0


def cmd_perf(args: argparse.Namespace) -> int:
    import torch

    from architectures import get_entry, summarize
    from benchmark.training.device import resolve_device
    from benchmark.training.perf import measure

    device = resolve_device(args.device)
    window = args.window or get_entry(args.arch).window
    s = summarize(args.arch, window, width=args.width)
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(
        f"{args.arch} at window {tuple(window)}, width {args.width}, batch {args.batch_size} on {where}: {s.params:,} parameters, {s.gflops:.1f} forward GFLOP per window"
    )
    if device.type != "cuda":
        print(
            "note: no CUDA device, so the fast path is the CPU's fp32 path; GPU figures need a GPU"
        )
    results = measure(
        args.arch,
        window,
        width=args.width,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        device=args.device,
        compile=args.compile,
    )
    rows = [
        (
            r.mode,
            f"{r.step_ms:.2f}",
            f"{r.steps_per_s:.2f}",
            f"{r.train_tflops:.2f}",
            f"{r.infer_ms:.2f}",
            f"{r.peak_memory_gib:.2f}",
        )
        for r in results
    ]
    print_table(
        ("mode", "step ms", "steps/s", "train TFLOP/s", "forward ms", "peak GiB"),
        rows,
        right=(1, 2, 3, 4, 5),
    )
    if len(results) == 2:
        print(f"speed-up of the fast path: {results[1].step_ms / results[0].step_ms:.2f}x")
    return 0
