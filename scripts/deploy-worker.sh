#!/usr/bin/env bash
# Upgrades this node's workers to a new Worker Deployment version without losing a run:
#   1. starts WORKERS (default 1) workers of the new version (the workflow bundle of this checkout's build, or
#      WORKFLOW_BUNDLE; build id WORKER_BUILD_ID or the one recorded beside the bundle) beside the old ones;
#   2. makes it the deployment's current version (temporal worker deployment set-current-version): new runs
#      start on it, while runs already open stay pinned to the version they started on;
#   3. waits until the old version has no open runs (DRAIN_TIMEOUT_MINUTES, default 720: GPU runs last hours);
#   4. stops the old version's workers that this script started (by pid) and says so; old workers it did not
#      start (a systemd unit) it names, to be stopped by whoever runs them.
# Connection: the TEMPORAL_* variables (see README). WORKER_DEPLOYMENT_NAME (default lmcache-mp), TASK_QUEUE,
# NODE_NAME, LEASE_DIR, PORT_RANGE and the rest of the worker's environment pass through to the new workers.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"

[ -n "${TEMPORAL_ADDRESS:-}" ] || die "TEMPORAL_ADDRESS is not set: deploy-worker.sh upgrades the workers of a running Temporal"
[ -n "${WORKFLOW_BUNDLE:-}" ] || ensure_node_project
ensure_python_tools
check_temporal_reachable
DEPLOYMENT="${WORKER_DEPLOYMENT_NAME:-lmcache-mp}"
WORKERS="${WORKERS:-1}"
DRAIN_TIMEOUT_MINUTES="${DRAIN_TIMEOUT_MINUTES:-720}"
[[ "$WORKERS" =~ ^[1-9][0-9]?$ ]] || die "WORKERS must be a number of workers from 1 to 99, not '$WORKERS'"
[[ "$DRAIN_TIMEOUT_MINUTES" =~ ^[1-9][0-9]*$ ]] || die "DRAIN_TIMEOUT_MINUTES must be a whole number of minutes, not '$DRAIN_TIMEOUT_MINUTES'"
bundle="${WORKFLOW_BUNDLE:-$PROJECT_ROOT/dist/workflow-bundle.js}"
NEW="${WORKER_BUILD_ID:-$(cat "$bundle.build-id" 2>/dev/null || true)}"
[ -n "$NEW" ] || die "no WORKER_BUILD_ID and no $bundle.build-id (npm run build writes it): set WORKER_BUILD_ID"
PIDS_DIR="$RUN_DIR/workers/$DEPLOYMENT"

# Empty when the deployment has no current version (or does not exist yet).
current_build_id() {
  "$TEMPORAL_BIN" worker deployment describe --name "$DEPLOYMENT" -o json 2>/dev/null \
    | node -e 'let s="";process.stdin.on("data",(c)=>(s+=c)).on("end",()=>{try{process.stdout.write(JSON.parse(s).routingConfig.currentVersionBuildID??"")}catch{}})' || true
}

open_runs_on() {
  "$TEMPORAL_BIN" workflow count --query "TemporalWorkerDeploymentVersion = '$DEPLOYMENT:$1' AND ExecutionStatus = 'Running'" \
    | grep -oE '[0-9]+' | head -1
}

OLD="$(current_build_id)"
if [ "$OLD" = "$NEW" ]; then
  say "version $NEW is already current in deployment $DEPLOYMENT: nothing to deploy"
  exit 0
fi

mkdir -p "$PIDS_DIR/$NEW"
for i in $(seq 1 "$WORKERS"); do
  log="$RUN_DIR/worker-$DEPLOYMENT-$NEW-$i.log"
  WORKER_DEPLOYMENT_NAME="$DEPLOYMENT" WORKER_BUILD_ID="$NEW" WORKFLOW_BUNDLE="$bundle" \
    nohup node dist/src/worker.js >"$log" 2>&1 &
  echo $! >"$PIDS_DIR/$NEW/$!.pid"
  say "started worker $i of version $NEW (pid $!, log: $log)"
done

# The version exists once its workers have polled; until then set-current-version fails.
for attempt in $(seq 1 60); do
  if "$TEMPORAL_BIN" worker deployment set-current-version --deployment-name "$DEPLOYMENT" --build-id "$NEW" --yes \
    >"$RUN_DIR/set-current-version.log" 2>&1; then
    break
  fi
  [ "$attempt" -lt 60 ] || { cat "$RUN_DIR/set-current-version.log" >&2; die "could not make $NEW current in deployment $DEPLOYMENT"; }
  sleep 1
done
say "version $NEW is current in deployment $DEPLOYMENT${OLD:+ (was $OLD)}: new runs start on it"

if [ -n "$OLD" ]; then
  deadline=$((SECONDS + DRAIN_TIMEOUT_MINUTES * 60))
  while :; do
    open="$(open_runs_on "$OLD")"
    [ "${open:-0}" -gt 0 ] || break
    [ "$SECONDS" -lt "$deadline" ] || die "version $OLD still has $open open run(s) after $DRAIN_TIMEOUT_MINUTES minutes; its workers keep running"
    say "waiting for $open open run(s) pinned to version $OLD"
    sleep 10
  done
  say "version $OLD has no open runs"
  stopped=0
  for file in "$PIDS_DIR/$OLD"/*.pid; do
    [ -e "$file" ] || continue
    pid="$(basename "$file" .pid)"
    if kill -0 "$pid" 2>/dev/null; then
      # SIGTERM: stop polling, finish running activities within the worker's 30 s grace time.
      kill -TERM "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -KILL "$pid" 2>/dev/null || true
      stopped=$((stopped + 1))
    fi
    rm -f "$file"
  done
  if [ "$stopped" -gt 0 ]; then
    say "stopped $stopped worker(s) of version $OLD"
  else
    say "no worker of version $OLD was started here: stop its workers now (e.g. systemctl stop on their nodes)"
  fi
fi
