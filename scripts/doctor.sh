#!/usr/bin/env bash
# Preflight of a worker node: checks everything a run with this environment's configuration will need (Docker
# and BuildKit; with PROFILE=gpu the nvidia runtime and nvidia-smi; the tools' virtual environment and the
# Python modules the upstream scripts import; LMCACHE_REPO_DIR; the HF cache; the ports; disk) and prints one
# line per check with the command that fixes a failure. Exit 0 only when every check passed. Installs nothing
# but this project's own npm packages and build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"
ensure_node_project >/dev/null
detect_profile
exec node dist/src/client/cli.js doctor
