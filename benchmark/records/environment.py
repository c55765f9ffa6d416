"""What a run records about the machine that drove it: package versions, git revision, hardware."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["environment_record"]


def _git_revision() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def environment_record() -> dict[str, Any]:
    """Package versions, git revision and hardware of this machine (the driver)."""
    import importlib.metadata

    import torch

    versions = {}
    for pkg in (
        "densecell-bench",
        "torch",
        "ray",
        "optuna",
        "numpy",
        "scipy",
        "statsmodels",
        "pandas",
        "plotly",
    ):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    hardware = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }
    return {"versions": versions, "git_revision": _git_revision(), "hardware": hardware}
