#!/usr/bin/env bash
# A fleet on this machine: starts NODES workers as separate nodes (each its own NODE_NAME, port range and lease
# directory under one LEASE_DIR, SIM_GPUS virtual GPUs), runs one sim run alone (oneRunSeconds), then RUNS sim runs
# at once, and prints one JSON line measured from the runs' histories and what is left on the engine:
#   {"nodes":…,"runs":…,"passed":…,"gpuOverlaps":…,"portOverlaps":…,"crossNodeStages":…,"leakedContainers":…,…}
# The workload is light (what is measured is pinning, leases and cleanup), yet it reaches LMCache: 4 documents
# overflow a 4000-token sim GPU cache, so the evidence checks hold. STAGES, NUM_DOCUMENTS and SIM_GPU_CACHE_TOKENS
# override it.
# Uses TEMPORAL_ADDRESS if set, else the local dev server (started if needed). Usage: scripts/fleet-sim.sh NODES RUNS
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"

nodes="${1:?usage: scripts/fleet-sim.sh NODES RUNS}"
runs="${2:?usage: scripts/fleet-sim.sh NODES RUNS}"
[[ "$nodes" =~ ^[1-9][0-9]*$ && "$runs" =~ ^[1-9][0-9]*$ ]] || die "NODES and RUNS must be positive integers"

[ "${SKIP_BUILD:-0}" = 1 ] || ensure_node_project
ensure_python_tools
ensure_docker
ensure_temporal

export PROFILE=sim STAGES="${STAGES:-build,launch,health,long_doc_qa}" NUM_DOCUMENTS="${NUM_DOCUMENTS:-4}" \
  SIM_GPU_CACHE_TOKENS="${SIM_GPU_CACHE_TOKENS:-4000}"
tag="fleet$$"
work="$RUN_DIR/$tag"
mkdir -p "$work/histories"
export LEASE_DIR="${LEASE_DIR:-$work/leases}" TASK_QUEUE="lmcache-mp-$tag"

pids=()
stop_workers() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_workers EXIT
for i in $(seq 1 "$nodes"); do
  first=$((21000 + i * 100))
  NODE_NAME="$tag-node$i" PORT_RANGE="$first-$((first + 99))" SIM_GPUS="${SIM_GPUS:-8}" \
    WORKER_BECOME_CURRENT=1 node dist/src/worker.js >"$work/worker-$i.log" 2>&1 &
  pids+=($!)
done
for i in $(seq 1 "$nodes"); do
  for _ in $(seq 1 120); do
    grep -q 'worker polling' "$work/worker-$i.log" && break
    sleep 0.5
  done
  grep -q 'worker polling' "$work/worker-$i.log" || { tail -20 "$work/worker-$i.log" >&2; die "worker $i did not start"; }
done
say "$nodes workers polling $TASK_QUEUE (logs in $work)"

# Runs one workflow to its end; exit status 0 when it passed.
run_one() {
  local id="$1" input
  input="$(BUILD_ID="$id" node dist/src/client/cli.js input --workflow-id "$id")"
  "$TEMPORAL_BIN" workflow execute --address "$TEMPORAL_ADDRESS" --type lmcacheMpTest --task-queue "$TASK_QUEUE" \
    --workflow-id "$id" --input "$input" >"$work/$id.out" 2>&1
}

started=$(date +%s.%N)
run_one "$tag-single" || say "the single run failed: $work/$tag-single.out"
one_run=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

started=$(date +%s.%N)
run_pids=()
for r in $(seq 1 "$runs"); do
  run_one "$tag-run$r" &
  run_pids+=($!)
done
passed=0
for pid in "${run_pids[@]}"; do
  if wait "$pid"; then passed=$((passed + 1)); fi
done
wall=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')

for r in $(seq 1 "$runs"); do
  "$TEMPORAL_BIN" workflow show --address "$TEMPORAL_ADDRESS" --workflow-id "$tag-run$r" --output json \
    >"$work/histories/$tag-run$r.json"
done
FIGURES_JSON="{\"nodes\":$nodes,\"runs\":$runs,\"passed\":$passed,\"wallSeconds\":$wall,\"oneRunSeconds\":$one_run}" \
  node dist/src/client/cli.js fleet-figures "$work"/histories/*.json | tee "$work/figures.json"
