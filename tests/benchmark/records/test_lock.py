"""One writer per folder: an OS lock that dies with its process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from benchmark.records.lock import FolderLocked, folder_lock
from tests.conftest import cli_env

HOLD = """
import sys, time
from benchmark.records.lock import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_second_holder_is_refused_with_the_first_ones_pid(tmp_path):
    with (
        folder_lock(tmp_path / "run"),
        pytest.raises(FolderLocked, match=f"pid {os.getpid()} on .* is writing"),
        folder_lock(tmp_path / "run"),
    ):
        pass
    with folder_lock(tmp_path / "run"):  # released at the end of the block
        pass


def test_the_lock_dies_with_a_killed_process(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(FolderLocked, match=f"pid {proc.pid}"), folder_lock(tmp_path):
            pass
    finally:
        proc.kill()
        proc.wait()
    with folder_lock(tmp_path):  # kill -9 left no stale lock
        pass
