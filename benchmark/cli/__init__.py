"""Command line: ``python -m benchmark <command>``. Each command parses, calls one library
function and prints; everything here is callable from Python.

Errors: a user error (bad option, missing file, bad data, a refused resume, a locked folder) is
one line on stderr and exit code 2; anything else is a bug: a short message names the file that
holds its traceback (exit code 1), and ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import importlib
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

# Each module defines ``register(subparsers, common_parent)`` adding its sub-commands; they import
# their heavy dependencies (torch, ray, plotly) inside the command functions, so ``--help`` is fast.
COMMAND_MODULES: list[str] = [
    "benchmark.cli.architectures",
    "benchmark.cli.train",
    "benchmark.cli.run",
    "benchmark.cli.inference",
    "benchmark.cli.analyze",
    "benchmark.cli.report",
    "benchmark.cli.search",
    "benchmark.cli.doctor",
]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--plugin",
        action="append",
        default=argparse.SUPPRESS,
        metavar="MODULE",
        help="import MODULE (dotted path, .py file or architecture spec .toml) to register architectures; repeatable",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )
    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description="densecell-bench: seed-aware benchmarking of 2D-3D segmentation networks.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub, common)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that are the user's to fix: reported in one line."""
    from benchmark.records.lock import FolderLocked

    return (KeyError, ValueError, FileNotFoundError, ImportError, FolderLocked, OSError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    try:
        plugins = getattr(args, "plugin", [])
        if plugins:  # importing the registry imports torch: only when needed
            from architectures import load_plugin

            for plugin in plugins:
                load_plugin(plugin)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _user_errors() as exc:
        if debug:
            raise
        print(f"error: {_describe(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if debug:
            raise
        path = _save_traceback(exc)
        print(
            f"error: an internal error ({type(exc).__name__}: {exc}); the traceback is in {path} "
            "(or rerun with --debug)",
            file=sys.stderr,
        )
        return 1


def _describe(exc: BaseException) -> str:
    """One line for a user error; a full disk says so, whatever the library's wording."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" while writing {exc.filename}" if exc.filename else ""
        return f"the disk is full{where}; free space and rerun (nothing half-written was kept)"
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])
    text = str(exc).strip()
    return text or type(exc).__name__


def _save_traceback(exc: BaseException) -> Path:
    folder = Path(tempfile.gettempdir()) / "densecell-bench-errors"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"{stamp}-{type(exc).__name__}.txt"
    path.write_text(
        f"python -m benchmark {' '.join(sys.argv[1:])}\n\n"
        + "".join(traceback.format_exception(exc))
    )
    return path
