#!/usr/bin/env bash
# Performance figures of one sim run: each stage's duration, the whole run, and per server the time from
# being seen healthy to the workflow leaving the health wait. Prints figures; asserts nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"
export PROFILE=sim BUILD_ID="${BUILD_ID:-bench_$(date +%s)}"
export WORKFLOW_ID="lmcache-mp-test-$BUILD_ID"
started=$(date +%s.%N)
scripts/run-mp-test.sh >/dev/null || say "the run failed; figures follow anyway"
ended=$(date +%s.%N)
ensure_python_tools
: "${TEMPORAL_ADDRESS:=127.0.0.1:${TEMPORAL_PORT:-7233}}"
history="$RUN_DIR/history-$BUILD_ID.json"
"$TEMPORAL_BIN" workflow show --address "$TEMPORAL_ADDRESS" --workflow-id "$WORKFLOW_ID" --output json >"$history"
results_dir="$(node dist/src/client/cli.js results-dir --workflow-id "$WORKFLOW_ID")"
node dist/src/client/cli.js timings "$results_dir" "$history"
awk -v s="$started" -v e="$ended" 'BEGIN { printf "\nwall time of scripts/run-mp-test.sh (installs, worker start, run): %.1f s\n", e - s }'
