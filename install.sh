#!/usr/bin/env sh
# Installs densecell-bench and its dev tools into the current Python, keeping an existing torch.
# Without torch, installs the CPU build torch==2.13.0 first (a plain `torch` requirement would
# otherwise pull a multi-GB CUDA build). Skips pip when nothing changed since the last install.
set -e
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
if [ -f .install-stamp ] && [ .install-stamp -nt pyproject.toml ] && "$PY" -c "import torch, ray, optuna, benchmark" 2>/dev/null; then
    exit 0
fi
if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "install.sh: no torch found; installing the CPU build torch==2.13.0"
    "$PY" -m pip install -q torch==2.13.0
fi
"$PY" -m pip install -q -e ".[dev]"
touch .install-stamp
