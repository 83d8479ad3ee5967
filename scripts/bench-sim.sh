#!/usr/bin/env bash
# Performance figures of one sim run: each stage's duration, the whole run, and per server the time from
# being seen healthy to the workflow leaving the health wait; then a run held on a failed check and retried
# ("retry-to-green s" beside "full rerun s"), and the orchestration overhead with and without cli.js follow
# attached. Prints figures; asserts nothing.
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

# A run held on long_doc_qa (its TTFT limit set out of reach), then retried with the sim limit: the time from
# the retryStage update to the run's green end, beside the full rerun a retry replaces (the run above).
hold_build="${BUILD_ID}_hold"
hold_id="lmcache-mp-test-$hold_build"
BUILD_ID="$hold_build" WORKFLOW_ID="$hold_id" ON_FAILURE=hold MAX_LMCACHE_TTFT=0.001 \
  scripts/run-mp-test.sh >"$RUN_DIR/bench-hold-$hold_build.log" 2>&1 &
hold_pid=$!
until "$TEMPORAL_BIN" workflow query --address "$TEMPORAL_ADDRESS" --workflow-id "$hold_id" --name state \
  --output json 2>/dev/null | grep -q '"held"'; do
  kill -0 "$hold_pid" 2>/dev/null || die "the held run ended before being held: $RUN_DIR/bench-hold-$hold_build.log"
  sleep 1
done
retry_started=$(date +%s.%N)
"$TEMPORAL_BIN" workflow update execute --address "$TEMPORAL_ADDRESS" --workflow-id "$hold_id" --name retryStage \
  --input '{"stage":"long_doc_qa","config":{"maxLmcacheTtft":0.2}}' >/dev/null
"$TEMPORAL_BIN" workflow result --address "$TEMPORAL_ADDRESS" --workflow-id "$hold_id" >/dev/null \
  || say "the retried run did not end green: $RUN_DIR/bench-hold-$hold_build.log"
retry_ended=$(date +%s.%N)
wait "$hold_pid" || true
awk -v s="$started" -v e="$ended" -v rs="$retry_started" -v re="$retry_ended" \
  'BEGIN { printf "retry-to-green s: %.1f    full rerun s: %.1f\n", re - rs, e - s }'

# What following costs: the orchestration overhead (a run's wall time outside its activities, from a worker's
# first pickup) of the run above, which run-mp-test.sh followed with cli.js follow, beside one more run of the
# same configuration that nobody follows, on a worker started the same way.
quiet_build="${BUILD_ID}_unfollowed"
quiet_id="lmcache-mp-test-$quiet_build"
quiet_input="$(BUILD_ID="$quiet_build" node dist/src/client/cli.js input --workflow-id "$quiet_id")"
WORKER_BECOME_CURRENT=1 TASK_QUEUE="${TASK_QUEUE:-lmcache-mp}" node dist/src/worker.js >"$RUN_DIR/worker-$quiet_build.log" 2>&1 &
quiet_worker=$!
"$TEMPORAL_BIN" workflow start --address "$TEMPORAL_ADDRESS" --type lmcacheMpTest \
  --task-queue "${TASK_QUEUE:-lmcache-mp}" --workflow-id "$quiet_id" --input "$quiet_input" >/dev/null
"$TEMPORAL_BIN" workflow result --address "$TEMPORAL_ADDRESS" --workflow-id "$quiet_id" >/dev/null \
  || say "the unfollowed run failed; its figure follows anyway"
kill -TERM "$quiet_worker"
wait "$quiet_worker" || true
quiet_history="$RUN_DIR/history-$quiet_build.json"
"$TEMPORAL_BIN" workflow show --address "$TEMPORAL_ADDRESS" --workflow-id "$quiet_id" --output json >"$quiet_history"
printf 'orchestration overhead s: followed %s    unfollowed %s\n' \
  "$(node dist/src/client/cli.js overhead "$history")" "$(node dist/src/client/cli.js overhead "$quiet_history")"
