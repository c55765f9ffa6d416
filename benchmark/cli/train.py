"""``train``: one instance (``perf`` lives in ``benchmark.cli.doctor``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmark.cli.options import (
    add_data_arguments,
    add_profile_option,
    data_options,
    non_negative_int,
    parse_option,
    parse_window,
    positive_int,
)
from benchmark.progress import add_quiet_argument


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "train", parents=[common], help="train and evaluate one instance (architecture x seed)"
    )
    p.add_argument("--arch", required=True, help="registered name or architecture spec .toml")
    p.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="instance seed (data presentation and weights; default 0)",
    )
    add_profile_option(p, "auto", "auto = paper on CUDA, quick otherwise")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="checkpoint directory (default results/train/ARCH-seedN-<configuration hash>); "
        "an instance of the same configuration there is resumed, another one is refused",
    )
    p.add_argument("--max-steps", type=positive_int, help="stop after this many steps")
    p.add_argument("--window", type=parse_window, help="training window Z,X,Y")
    p.add_argument("--width", type=float, help="channel width multiplier")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: auto)")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step")
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="precomputed loss-weight volume of the training volume's shape (the release's "
        "train-error-weights.tif); the floor is added to it (option weights_file)",
    )
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


def _plan(args: argparse.Namespace):
    from benchmark.training.planner import plan_training

    overrides = dict(args.option or [])
    for key in ("max_steps", "window", "width", "device"):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    if getattr(args, "compile", False):
        overrides["compile"] = True
    if getattr(args, "weights", None):
        overrides["weights_file"] = str(Path(args.weights).expanduser().absolute())
    return plan_training(
        args.arch,
        args.profile,
        train_overrides=overrides,
        arch_options=dict(args.arch_option or []),
    )


def cmd_train(args: argparse.Namespace) -> int:
    from benchmark.data.spec import data_spec_from_options, load_data
    from benchmark.progress import set_quiet, step_progress, write
    from benchmark.records.identity import identity_hash
    from benchmark.training.instance import train_instance
    from benchmark.training.planner import plan_data

    set_quiet(args.quiet)

    plan = _plan(args)
    spec = plan_data(data_spec_from_options(data_options(args)), [plan])
    print(f"{plan.reason}; data: {spec.describe()}", flush=True)
    dataset = load_data(spec)
    # The default folder is keyed by the configuration: another option, data or architecture
    # never lands in (or resumes) an earlier instance's folder.
    key = identity_hash(plan.identity(dataset))
    out = Path(args.out or f"results/train/{plan.architecture}-seed{args.seed}-{key}")
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
