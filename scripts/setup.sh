#!/usr/bin/env bash
# Installs everything a worker node needs: npm packages, the TypeScript build, and the Python tools
# (temporal CLI, lm_eval; with PROFILE=gpu also vllm and openai for the upstream benchmarks) in the
# project's virtual environment. Safe to re-run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ensure_node_project
ensure_python_tools
ensure_gpu_tools
say "ready: temporal CLI at $TEMPORAL_BIN"
