#!/usr/bin/env bash
# Run the test suite in the project's venv. Integration tests run when COMFYUI_DIR is set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure_venv.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest -q -rs "$@"
