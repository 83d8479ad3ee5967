#!/usr/bin/env bash
# Records the histories test/workflow/replay.test.ts replays, from light sim runs of this checkout's workflow:
#   sim-placed-pass.json      a green run of every stage: claimNode, the GPU and port lease (select_gpus), launch, …
#   sim-placed-held.json      a run held on a failed long_doc_qa check, retried with an overridden threshold to green
#   sim-placed-script.json    the servers' stages and a test script as a stage
#   sim-placed-cancelled.json a run cancelled in its health wait
# Re-record them (and commit them beside the older ones, which stay) when the workflow's commands change on purpose.
# Arguments name the ones to record (pass held script cancelled; default all). Uses TEMPORAL_ADDRESS if set, else
# the local dev server; starts a worker unless WORKER_RUNNING=1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"

ensure_node_project
ensure_python_tools
ensure_docker
ensure_temporal
OUT="${HISTORIES_DIR:-$PROJECT_ROOT/test/fixtures/histories}"
TASK_QUEUE="${TASK_QUEUE:-record-histories-$$}"
tag="rec_$(date +%s)"

if [ "${WORKER_RUNNING:-0}" != 1 ]; then
  worker_log="$RUN_DIR/worker-$tag.log"
  say "starting a worker on task queue $TASK_QUEUE (log: $worker_log)"
  WORKER_BECOME_CURRENT=1 TASK_QUEUE="$TASK_QUEUE" node dist/src/worker.js >"$worker_log" 2>&1 &
  worker_pid=$!
  trap 'kill -TERM "$worker_pid" 2>/dev/null; wait "$worker_pid" 2>/dev/null || true' EXIT
fi

temporal_cli() { "$TEMPORAL_BIN" "$@" --address "$TEMPORAL_ADDRESS"; }

# The lightest workloads that still pass every check in sim; a loose throughput limit, so that other work on the
# machine does not fail the green run (the history is about the commands, not the figures).
LIGHT='"profile":"sim","numPrompts":12,"numDocuments":6,"limit":10,"maxThroughputSlowdownPercent":50'
SERVERS='"stages":["build","launch","health"]'

start() { # NAME INPUT_FIELDS: starts run NAME, prints its workflow id
  local id="lmcache-mp-test-${tag}_$1"
  temporal_cli workflow start --type lmcacheMpTest --task-queue "$TASK_QUEUE" --workflow-id "$id" \
    --input "{\"buildId\":\"${tag}_$1\",$2}" >/dev/null
  echo "$id"
}

# Polls the run's state query until its JSON matches PATTERN (held, or running a stage), at most 10 minutes.
await_state() {
  local id="$1" pattern="$2" state
  for _ in $(seq 1 600); do
    state="$(temporal_cli workflow query --workflow-id "$id" --name state --output json 2>/dev/null)" || true
    grep -q "$pattern" <<<"$state" && return 0
    sleep 1
  done
  die "$id never showed $pattern in its state query"
}

# Waits for the run's end and saves its history; EXPECTED is its status in `temporal workflow describe`.
record() {
  local id="$1" file="$2" expected="$3" described
  temporal_cli workflow result --workflow-id "$id" >/dev/null 2>&1 || true
  described="$(temporal_cli workflow describe --workflow-id "$id" --output json)"
  grep -q "WORKFLOW_EXECUTION_STATUS_$expected" <<<"$described" || die "$id did not end $expected"
  temporal_cli workflow show --workflow-id "$id" --output json >"$OUT/$file"
  say "recorded $OUT/$file"
}

wanted() { local name="$1"; shift; [ "$#" -eq 0 ] || [[ " $* " == *" $name "* ]]; }

if wanted pass "$@"; then
  record "$(start pass "$LIGHT")" sim-placed-pass.json COMPLETED
fi

if wanted held "$@"; then
  held=$(start held "$LIGHT,\"stages\":[\"build\",\"launch\",\"health\",\"long_doc_qa\"],\"onFailure\":\"hold\",\"maxLmcacheTtft\":0.001")
  await_state "$held" '"held"'
  temporal_cli workflow update execute --workflow-id "$held" --name retryStage \
    --input '{"stage":"long_doc_qa","config":{"maxLmcacheTtft":0.2}}' >/dev/null
  record "$held" sim-placed-held.json COMPLETED
fi

if wanted script "$@"; then
  record "$(start script "$LIGHT,$SERVERS,\"scripts\":[\"test/fixtures/scripts/run-env-check.sh\"]")" sim-placed-script.json COMPLETED
fi

if wanted cancelled "$@"; then
  # A model load far longer than the run lives: the run is cancelled while it waits for health.
  cancelled=$(start cancelled "$LIGHT,$SERVERS,\"simStartupSeconds\":600,\"maxWaitSeconds\":900")
  await_state "$cancelled" '"stage": *"health"'
  temporal_cli workflow cancel --workflow-id "$cancelled" >/dev/null
  record "$cancelled" sim-placed-cancelled.json CANCELED
fi
