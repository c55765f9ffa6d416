"""Progress bars with rate and ETA (tqdm), quiet when nobody is watching.

A bar is shown only when standard error is a terminal and progress is not turned off
(``--quiet`` on the command line, :func:`set_quiet` from Python, or ``DENSECELL_QUIET=1``); in
every other case :func:`progress_bar` returns a bar that does nothing, so library code can always
call ``update`` without asking. Lines printed while a bar is shown go through :func:`write`, which
keeps them from tearing the bar.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "add_quiet_argument",
    "progress_bar",
    "progress_enabled",
    "set_quiet",
    "step_progress",
    "write",
]

_quiet = False


def set_quiet(quiet: bool = True) -> None:
    """Turns every later progress bar of this process off (``True``) or back on."""
    global _quiet
    _quiet = bool(quiet)


def progress_enabled(stream: Any = None) -> bool:
    """True when bars are wanted: not quiet, and ``stream`` (default stderr) is a terminal."""
    if _quiet or os.environ.get("DENSECELL_QUIET", "") not in ("", "0"):
        return False
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or foreign streams
        return False


class _NullBar:
    """The bar of a quiet process: accepts tqdm's calls and does nothing."""

    n = 0
    total = None

    def update(self, n: float = 1) -> None:
        self.n += n

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def set_description_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NullBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(
    total: float | None,
    desc: str = "",
    unit: str = "it",
    *,
    initial: float = 0,
    enabled: bool | None = None,
    leave: bool = True,
) -> Any:
    """A tqdm bar on stderr (rate and ETA), or a do-nothing bar when progress is off.

    Args:
        total: the count the bar runs to (None: no ETA, only a rate).
        desc: the bar's label.
        unit: what one count is (``step``, ``slice``, ``instance``).
        initial: counts already done (a resumed sweep).
        enabled: force on or off; default :func:`progress_enabled`.
        leave: keep the finished bar on screen.
    """
    if not (progress_enabled() if enabled is None else enabled):
        bar = _NullBar()
        bar.n, bar.total = initial, total
        return bar
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        initial=initial,
        leave=leave,
        dynamic_ncols=True,
        file=sys.stderr,
        smoothing=0.1,
    )


def write(line: str) -> None:
    """Prints ``line`` to stdout without breaking a bar that is on screen."""
    if progress_enabled():
        from tqdm.auto import tqdm

        tqdm.write(line, file=sys.stdout)
    else:
        print(line, flush=True)


def step_progress(
    total: int, desc: str, unit: str = "step", *, enabled: bool | None = None
) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A ``progress(step, total)`` hook for ``train_instance`` and the function that closes it.

    The hook only counts (it never touches the device); tqdm redraws at most ten times a second.
    """
    bar = progress_bar(total, desc, unit, enabled=enabled)

    def hook(step: int, steps: int) -> None:
        if bar.total != steps:
            bar.total = steps
        if step > bar.n:
            bar.update(step - bar.n)

    return hook, bar.close


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress bars (they are off anyway when stderr is not a terminal)."""
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars (off anyway when the output is not a terminal)",
    )
