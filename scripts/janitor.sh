#!/usr/bin/env bash
# Removes the pipeline containers of runs that are no longer running (terminated, timed out, lost), saving
# their log tails into each run's results directory. Run it on each node, e.g. from cron or before a CI run.
# Uses TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (default: the local dev server). Pass --dry-run to only list.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"
ensure_node_project
ensure_docker
export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:${TEMPORAL_PORT:-7233}}"
node dist/src/client/cli.js janitor "$@"
