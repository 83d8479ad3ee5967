#!/usr/bin/env bash
# Prepares a Temporal namespace for lmcacheMpTest runs: registers the runs' search attributes (LmcacheMp…)
# where missing, so runs can be found by verdict, stage or figure and `history` works. Run it once per server
# and namespace before the first run: TEMPORAL_ADDRESS (default 127.0.0.1:7233) and TEMPORAL_NAMESPACE
# (default "default"). RETENTION (e.g. 720h) also sets how long closed runs are kept.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"
ensure_node_project
ensure_python_tools
export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:${TEMPORAL_PORT:-7233}}"
prepare_namespace "${RETENTION:-}"
say "namespace ${TEMPORAL_NAMESPACE:-default} at $TEMPORAL_ADDRESS is ready${RETENTION:+ (retention $RETENTION)}"
