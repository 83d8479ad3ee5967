#!/usr/bin/env bash
# Installs everything a worker node needs: npm packages, the TypeScript build, and the Python tools in the
# project's virtual environment (temporal CLI, lm_eval, openai; with PROFILE=gpu pandas, matplotlib and
# transformers; with the upstream driver, the gpu default, vllm). Safe to re-run. Then run scripts/doctor.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ensure_node_project
ensure_python_tools
ensure_gpu_tools
ensure_vllm
say "ready: temporal CLI at $TEMPORAL_BIN"
