from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Quiet, fail-loud Ray settings (see RAY_NOTES): must be set before anything imports ray.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_INIT", "1")
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


def cli_env(extra: dict | None = None) -> dict:
    """The environment of a ``python -m benchmark`` subprocess: this checkout first on the path."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra or {})
    return env


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600):
    """Runs ``python -m benchmark ARGS`` in a subprocess and returns the CompletedProcess."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "benchmark", *args],
        cwd=cwd or ROOT,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(*args: str, cwd: Path, env: dict | None = None):
    """Starts ``python -m benchmark ARGS`` in its own session (for ``os.killpg``); output piped."""
    import subprocess

    return subprocess.Popen(
        [sys.executable, "-m", "benchmark", *args],
        cwd=cwd,
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture
def cli():
    return run_cli
