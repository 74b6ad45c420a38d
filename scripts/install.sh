#!/usr/bin/env bash
# Create .venv and install the package with its dev and eval extras from this repository's own files.
# CPU torch is pinned here only when no torch is installed yet; GPU users install their own build first.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/pip install --quiet "torch==2.13.0"
fi
.venv/bin/pip install --quiet -e ".[dev,eval]"
