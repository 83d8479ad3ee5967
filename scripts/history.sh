#!/usr/bin/env bash
# Lists the last runs from Temporal visibility with verdict, failed stage and key figures, flags regressions
# (REGRESSION_MARGIN_PERCENT, default 10) and writes history.md with an SVG chart per figure.
# Arguments go to `cli.js history`: [--profile P] [--model M] [--last N] [--out DIR] (default ./history).
# Uses TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (default: the local dev server).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ensure_node_project
export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:${TEMPORAL_PORT:-7233}}"
node "$PROJECT_ROOT/dist/src/client/cli.js" history "$@"
