#!/usr/bin/env bash
# Finds the first commit between GOOD and BAD (refs of the git repository at LMCACHE_REPO_DIR) at which a check
# fails or a figure passes a limit, as the `lmcacheMpBisect` workflow: each probe is an `lmcacheMpTest` run at one
# commit, spread over the fleet's nodes.
#   scripts/bisect.sh GOOD BAD --check long_doc_qa.query_ttft_per_prompt
#   scripts/bisect.sh GOOD BAD --figure 'queryTtft>0.15'
# The probes' configuration is the same environment as scripts/run-mp-test.sh's; BISECT_PARALLEL_PROBES,
# BISECT_MAX_PROBES, BISECT_NOISE_PERCENT and BISECT_REPEATS tune the bisect. Prints bisect.md at the end and
# exits 0 when it named the first bad commit, 1 when it stopped without one, 2 for bad input.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"

ensure_node_project
detect_profile
export BUILD_ID="${BUILD_ID:-bisect_$(date +%s)}"
WORKFLOW_ID="${WORKFLOW_ID:-lmcache-mp-bisect-$BUILD_ID}"
TASK_QUEUE="${TASK_QUEUE:-lmcache-mp}"

INPUT="$(node dist/src/client/cli.js bisect-input "$@" --workflow-id "$WORKFLOW_ID")" || exit 2
RESULTS_DIR="$(node dist/src/client/cli.js results-dir --workflow-id "$WORKFLOW_ID")"

ensure_python_tools
ensure_gpu_tools
ensure_vllm
ensure_docker
ensure_temporal

start_worker_unless_running

say "bisecting as workflow $WORKFLOW_ID (type lmcacheMpBisect) — watch it at http://127.0.0.1:${TEMPORAL_UI_PORT:-8233}/namespaces/${TEMPORAL_NAMESPACE:-default}/workflows/$WORKFLOW_ID"
status=0
"$TEMPORAL_BIN" workflow execute --address "$TEMPORAL_ADDRESS" \
  --type lmcacheMpBisect --task-queue "$TASK_QUEUE" --workflow-id "$WORKFLOW_ID" \
  --static-summary "bisect $1..$2 ${*:3}" --input "$INPUT" >"$RUN_DIR/bisect-$BUILD_ID.log" 2>&1 || status=1
if [ -f "$RESULTS_DIR/bisect.md" ]; then
  cat "$RESULTS_DIR/bisect.md"
  say "bisect report: $RESULTS_DIR/bisect.md"
else
  cat "$RUN_DIR/bisect-$BUILD_ID.log" >&2
fi
exit "$status"
