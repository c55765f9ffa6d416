#!/usr/bin/env sh
# Sets up densecell-bench in a virtual environment; afterwards `.venv/bin/python` runs it.
#
#   ./install.sh          the package and its runtime dependencies
#   ./install.sh --dev    also the contributors' tools (pytest, ruff, selenium): tests and CI
#
# Where it installs:
#   - Not inside an environment: into ./.venv, made by the first Python >= 3.11 of $PYTHON,
#     python3, python3.13, python3.12, python3.11. When that Python already has torch (say, your
#     CUDA build), .venv is made with --system-site-packages so that it uses that torch (and that
#     Python's other packages where their versions fit).
#   - Inside an active virtual environment or conda environment (not conda's base): into it, and
#     ./.venv becomes a link to it, so `.venv/bin/python` is that environment's Python. A .venv
#     folder made earlier is kept and used instead (remove it to switch).
# torch: an installed torch is never replaced. Without one, `pip install torch==2.13.0`
# ($TORCH_SPEC overrides, $TORCH_INDEX_URL picks the wheel index: PyTorch's CPU index gives the
# CPU-only build on Linux, where the default build bundles CUDA). The script prints which torch
# it ended with. Does nothing when nothing changed since the last run.
set -eu
cd "$(dirname "$0")"
HERE=$(pwd -P)

DEV=0
for arg in "$@"; do
    case "$arg" in
        --dev) DEV=1 ;;
        -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option $arg (use --dev or --help)" >&2; exit 2 ;;
    esac
done
EXTRAS=""
[ "$DEV" = 1 ] && EXTRAS="[dev]"
say() { echo "install.sh: $*"; }

# ---- the environment: an active one, else ./.venv
ACTIVE=""
if [ -n "${VIRTUAL_ENV:-}" ]; then
    ACTIVE=$VIRTUAL_ENV
elif [ -n "${CONDA_PREFIX:-}" ] && [ "${CONDA_DEFAULT_ENV:-base}" != "base" ]; then
    ACTIVE=$CONDA_PREFIX
fi
if [ -n "$ACTIVE" ]; then
    ACTIVE=$(cd "$ACTIVE" && pwd -P)
    if [ "$ACTIVE" = "$HERE/.venv" ]; then
        ACTIVE=""  # the project's own .venv is active
    elif [ -d .venv ] && [ ! -L .venv ]; then
        say "an environment is active ($ACTIVE), but ./.venv was made earlier: using .venv (remove it to use $ACTIVE)"
        ACTIVE=""
    else
        ln -sfn "$ACTIVE" .venv
    fi
fi

venv_python() {
    if [ -x .venv/bin/python ]; then echo .venv/bin/python; else echo .venv/Scripts/python.exe; fi
}

if [ ! -e .venv ]; then
    BASE=""
    for candidate in ${PYTHON:-} python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            BASE=$candidate
            break
        fi
    done
    if [ -z "$BASE" ]; then
        say "needs Python >= 3.11 (none of ${PYTHON:-} python3 python3.13 python3.12 python3.11 is); set PYTHON=/path/to/python3.11" >&2
        exit 1
    fi
    SITE=""
    if "$BASE" -c "import torch" >/dev/null 2>&1; then
        SITE="--system-site-packages"
        say "$BASE has torch $("$BASE" -c 'import torch; print(torch.__version__)'): making .venv with --system-site-packages to use it"
    else
        say "making .venv with $BASE ($("$BASE" -c 'import sys; print(sys.version.split()[0])'))"
    fi
    if ! "$BASE" -m venv $SITE .venv; then
        rm -rf .venv
        say "'$BASE -m venv' failed; on Debian or Ubuntu install the venv module first: apt-get install python3-venv" >&2
        exit 1
    fi
fi
PY=$(venv_python)
TARGET=$(cd .venv && pwd -P)

# ---- nothing to do when the stamp matches (same environment, same or larger extras, newer files)
STAMP=.install-stamp
if [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ] && [ "$STAMP" -nt install.sh ]; then
    read -r stamp_env stamp_dev <"$STAMP" || true
    if [ "${stamp_env:-}" = "$TARGET" ] && [ "${stamp_dev:-0}" -ge "$DEV" ] \
        && "$PY" -c "import importlib.metadata as m, torch, ray, optuna; m.version('densecell-bench')" 2>/dev/null; then
        exit 0
    fi
fi

# ---- torch: keep one that is there; else install one and say which
if "$PY" -c "import torch" >/dev/null 2>&1; then
    say "keeping the installed torch"
else
    SPEC=${TORCH_SPEC:-torch==2.13.0}
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        say "no torch found; installing $SPEC from $TORCH_INDEX_URL"
        "$PY" -m pip install -q --index-url "$TORCH_INDEX_URL" "$SPEC"
    else
        say "no torch found; installing $SPEC (pip picks the build; on Linux the default one bundles CUDA and takes several GB: set TORCH_INDEX_URL to PyTorch's CPU wheel index for the CPU-only build)"
        "$PY" -m pip install -q "$SPEC"
    fi
fi
say "torch: $("$PY" -c 'import torch
cuda = torch.version.cuda
print(torch.__version__, "with CUDA " + cuda if cuda else "(CPU only)", "at", torch.__file__.rsplit("/", 2)[0])')"

# ---- the package: editable, runtime dependencies (+ dev tools with --dev)
say "installing densecell-bench${EXTRAS} (editable) into $TARGET"
"$PY" -m pip install -q --disable-pip-version-check -e ".${EXTRAS}"
echo "$TARGET $DEV" >"$STAMP"
say "done: run commands with .venv/bin/python (e.g. .venv/bin/python -m benchmark list), or activate it with '. .venv/bin/activate'"
