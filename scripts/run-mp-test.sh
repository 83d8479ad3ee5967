#!/usr/bin/env bash
# Runs the whole LMCache multiprocessing test pipeline as the `lmcacheMpTest` workflow and prints its summary.
# Installs what it needs; starts dockerd if none answers (as root); uses TEMPORAL_ADDRESS if set, else starts
# a local Temporal dev server (UI on :8233); starts a worker unless WORKER_RUNNING=1. Configuration: the
# reference suite's environment variables (see README). Prints each stage's progress (cli.js follow) and exits
# as it does: 0 passed, 1 failed, 3 passed with overrides, 4 cancelled; 2 for bad input.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"

ensure_node_project
detect_profile
export BUILD_ID="${BUILD_ID:-local_$(date +%s)}"
WORKFLOW_ID="${WORKFLOW_ID:-lmcache-mp-test-$BUILD_ID}"
TASK_QUEUE="${TASK_QUEUE:-lmcache-mp}"

# Bad input is refused here, before anything starts or is installed (a gpu run's tools are gigabytes).
INPUT="$(node dist/src/client/cli.js input --workflow-id "$WORKFLOW_ID")" || exit 2
RESULTS_DIR="$(node dist/src/client/cli.js results-dir --workflow-id "$WORKFLOW_ID")"
SUMMARY="$(node dist/src/client/cli.js static-summary --workflow-id "$WORKFLOW_ID")"

ensure_python_tools
ensure_gpu_tools
ensure_vllm
ensure_docker
ensure_temporal

start_worker_unless_running

say "running workflow $WORKFLOW_ID (type lmcacheMpTest) — watch it at http://127.0.0.1:${TEMPORAL_UI_PORT:-8233}/namespaces/${TEMPORAL_NAMESPACE:-default}/workflows/$WORKFLOW_ID"
"$TEMPORAL_BIN" workflow start --address "$TEMPORAL_ADDRESS" \
  --type lmcacheMpTest --task-queue "$TASK_QUEUE" --workflow-id "$WORKFLOW_ID" \
  --static-summary "$SUMMARY" --input "$INPUT" >"$RUN_DIR/start-$BUILD_ID.log" 2>&1 \
  || { cat "$RUN_DIR/start-$BUILD_ID.log" >&2; die "temporal workflow start failed"; }
# Each stage as it starts and ends, its progress, a hold's retryStage and finish lines, then the summary table.
status=0
node dist/src/client/cli.js follow --workflow-id "$WORKFLOW_ID" || status=$?
[ -f "$RESULTS_DIR/report.json" ] && say "report: $RESULTS_DIR/report.md (JSON: report.json, JUnit: junit.xml)"
case "$status" in
  0) say "PASSED" ;;
  3) say "PASSED WITH OVERRIDES: green only because retryStage overrode what 'Overridden by retryStage' lists (exit 3)" ;;
  4) say "CANCELLED" ;;
  *) say "FAILED (cli.js follow exited $status)" ;;
esac
exit "$status"
