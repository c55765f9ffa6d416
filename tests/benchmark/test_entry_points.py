"""The public entry points are importable from ``benchmark`` without importing torch first."""

from __future__ import annotations

import subprocess
import sys

import benchmark
from tests.conftest import cli_env


def test_every_entry_point_resolves():
    for name in benchmark.__all__:
        assert getattr(benchmark, name) is not None, name


def test_import_is_cheap():
    code = "import sys, benchmark; print('torch' in sys.modules, 'ray' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=60
    )
    assert out.stdout.split() == ["False", "False"], out.stderr
