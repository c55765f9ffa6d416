"""``list`` and ``describe``: the registered architectures."""

from __future__ import annotations

import argparse
import sys

from benchmark.cli.formatting import fmt_int, fmt_shape, print_table
from benchmark.cli.options import parse_option, parse_window

__all__ = ["cmd_describe", "cmd_list", "register"]


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("list", parents=[common], help="list registered architectures")
    p.add_argument("pattern", nargs="?", default="*", help="shell wildcard, e.g. '2d3d_*'")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "describe", parents=[common], help="layer table, parameters and FLOPs of one architecture"
    )
    p.add_argument("name", help="registered name or architecture spec .toml")
    p.add_argument(
        "--window", type=parse_window, help="input window Z,X,Y (default: the architecture's)"
    )
    p.add_argument("--width", type=float, help="channel width multiplier")
    p.add_argument(
        "--option",
        action="append",
        type=parse_option,
        metavar="KEY=VALUE",
        help="builder option override; repeatable",
    )
    p.set_defaults(func=cmd_describe)


def cmd_list(args: argparse.Namespace) -> int:
    from architectures import get_entry, list_architectures, summarize

    names = list_architectures(args.pattern)
    if not names:
        print(f"no architecture matches {args.pattern!r}", file=sys.stderr)
        return 1
    rows = []
    for name in names:
        entry = get_entry(name)
        s = summarize(name)
        paper = (
            ""
            if entry.paper_params is None
            else ("=paper" if entry.paper_params == s.params else f"paper {entry.paper_params:,}")
        )
        rows.append(
            (
                name,
                entry.family,
                fmt_int(s.params),
                paper,
                f"{fmt_shape(s.input_shape)} -> {fmt_shape(s.output_shape)}",
                entry.description,
            )
        )
    header = ("name", "family", "parameters", "", "input -> output (c,z,x,y)", "description")
    print_table(header, rows)
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from architectures import get_entry, summarize

    entry = get_entry(args.name)
    options = dict(args.option or [])
    if args.width is not None:
        options["width"] = args.width
    s = summarize(args.name, args.window, **options)
    print(f"{entry.name} ({entry.family}): {entry.description}")
    if options:
        print("options: " + ", ".join(f"{k}={v}" for k, v in options.items()))
    rows = [
        (
            r.name,
            r.kind,
            r.kernel,
            fmt_shape(r.output_shape),
            fmt_int(r.params) if r.params else "",
            f"{r.flops / 1e9:.3f}" if r.flops else "",
        )
        for r in s.layers
    ]
    print_table(
        ("layer", "type", "kernel", "output (c,z,x,y)", "params", "GFLOP"), rows, right=(4, 5)
    )
    print()
    print(f"input   {fmt_shape(s.input_shape)}")
    print(f"output  {fmt_shape(s.output_shape)}  (outputs: {', '.join(s.outputs)})")
    print(
        f"parameters  {fmt_int(s.params)}"
        + (f"  (paper: {entry.paper_params:,})" if entry.paper_params else "")
    )
    print(f"forward GFLOP per window  {s.gflops:.2f}")
    if entry.train_defaults:
        print(
            "training defaults: " + ", ".join(f"{k}={v}" for k, v in entry.train_defaults.items())
        )
    return 0
