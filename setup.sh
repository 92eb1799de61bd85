#!/usr/bin/env bash
# Set up dlabs in ./.venv (or $VENV): PyTorch first, the right build for this machine, then dlabs.
#   - torch already installed in the venv (e.g. your CUDA build): kept as it is.
#   - a GPU (nvidia-smi works): the default CUDA build from PyPI.
#   - no GPU: torch==2.13.0, which these lab machines take as a CPU build from local disk
#     (elsewhere set TORCH_SPEC, e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu").
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
if ! "$PY" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
        spec=${TORCH_SPEC:-torch}
    else
        spec=${TORCH_SPEC:-torch==2.13.0}
    fi
    echo "installing $spec" >&2
    # shellcheck disable=SC2086
    "$PY" -m pip install -q $spec
fi
"$PY" -m pip install -q -e ".[serve,test,export,tune,explain]"
echo "ready: . $VENV/bin/activate && dlabs --help" >&2
