#!/usr/bin/env bash
# The CPU demo: set up .venv, train a small ParetoSlider on the built-in toy task (~5 min on
# 2 cores), sweep ω, write the front plot and image strips, and print where they are.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure_venv.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m demo.cpu_demo "$@"
