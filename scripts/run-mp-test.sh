#!/usr/bin/env bash
# Runs the whole LMCache multiprocessing test pipeline as the `lmcacheMpTest` workflow and prints its summary.
# Installs what it needs; starts dockerd if none answers (as root); uses TEMPORAL_ADDRESS if set, else starts
# a local Temporal dev server (UI on :8233); starts a worker unless WORKER_RUNNING=1. Configuration: the
# reference suite's environment variables (see README). Exit 0 only when every check passed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"

ensure_node_project
ensure_python_tools

detect_profile
ensure_gpu_tools
ensure_vllm
export BUILD_ID="${BUILD_ID:-local_$(date +%s)}"
WORKFLOW_ID="${WORKFLOW_ID:-lmcache-mp-test-$BUILD_ID}"
TASK_QUEUE="${TASK_QUEUE:-lmcache-mp}"

# Bad input is refused here, before anything starts.
INPUT="$(node dist/src/client/cli.js input --workflow-id "$WORKFLOW_ID")" || exit 2
RESULTS_DIR="$(node dist/src/client/cli.js results-dir --workflow-id "$WORKFLOW_ID")"
SUMMARY="$(node dist/src/client/cli.js static-summary --workflow-id "$WORKFLOW_ID")"

ensure_docker
ensure_temporal

if [ "${WORKER_RUNNING:-0}" != 1 ]; then
  worker_log="$RUN_DIR/worker-$BUILD_ID.log"
  say "starting a worker on task queue $TASK_QUEUE (log: $worker_log)"
  TASK_QUEUE="$TASK_QUEUE" node dist/src/worker.js >"$worker_log" 2>&1 &
  worker_pid=$!
  trap 'kill -TERM "$worker_pid" 2>/dev/null; wait "$worker_pid" 2>/dev/null || true' EXIT
fi

say "running workflow $WORKFLOW_ID (type lmcacheMpTest) — watch it at http://127.0.0.1:${TEMPORAL_UI_PORT:-8233}/namespaces/${TEMPORAL_NAMESPACE:-default}/workflows/$WORKFLOW_ID"
status=0
"$TEMPORAL_BIN" workflow execute --address "$TEMPORAL_ADDRESS" \
  --type lmcacheMpTest --task-queue "$TASK_QUEUE" --workflow-id "$WORKFLOW_ID" \
  --static-summary "$SUMMARY" --input "$INPUT" >"$RUN_DIR/execute-$BUILD_ID.log" 2>&1 &
execute_pid=$!
# ON_FAILURE=hold: while the run waits for a decision, say how to give it one; the run's end is awaited as ever.
if [ "${ON_FAILURE:-cleanup}" = hold ]; then
  announce_holds "$WORKFLOW_ID" "$execute_pid"
fi
wait "$execute_pid" || status=$?

if [ -f "$RESULTS_DIR/report.json" ]; then
  node dist/src/client/cli.js summary "$RESULTS_DIR/report.json" || true
  say "report: $RESULTS_DIR/report.md (JSON: report.json, JUnit: junit.xml)"
else
  tail -40 "$RUN_DIR/execute-$BUILD_ID.log" >&2
fi
if [ "$status" -ne 0 ]; then
  say "FAILED (temporal workflow execute exited $status; its output: $RUN_DIR/execute-$BUILD_ID.log)"
  exit 1
fi
say "PASSED"
