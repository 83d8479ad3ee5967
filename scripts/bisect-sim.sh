#!/usr/bin/env bash
# A bisect's figures in sim: starts NODES workers as sim nodes (as scripts/fleet-sim.sh does), makes a git repository
# of the sim build context with COMMITS commits where commit CULPRIT (default two thirds in, 0-based) plants
# `slow-load`, bisects it on long doc QA's TTFT check with one probe per node per round, and prints one JSON line:
#   {"commits":…,"culpritFound":…,"probes":…,"rounds":…,"parallelProbes":…,"wallSeconds":…,"oneProbeSeconds":…,"buildsSkipped":…}
# A second run on the same node finds the commits' images and skips their builds. The probe is the light one that
# still shows slow-load: STAGES=build,launch,health,long_doc_qa, 4 documents overflowing a 4000-token sim GPU cache.
# Uses TEMPORAL_ADDRESS if set, else the local dev server (started if needed). Usage: scripts/bisect-sim.sh NODES COMMITS
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"

nodes="${1:?usage: scripts/bisect-sim.sh NODES COMMITS}"
commits="${2:?usage: scripts/bisect-sim.sh NODES COMMITS}"
[[ "$nodes" =~ ^[1-9][0-9]*$ && "$commits" =~ ^[0-9]+$ && "$commits" -ge 2 ]] || die "NODES must be >= 1 and COMMITS >= 2"
culprit="${CULPRIT:-$((commits * 2 / 3))}"

[ "${SKIP_BUILD:-0}" = 1 ] || ensure_node_project
ensure_python_tools
ensure_docker
ensure_temporal

tag="bisect$$"
work="$RUN_DIR/$tag"
mkdir -p "$work"
export LEASE_DIR="${LEASE_DIR:-$work/leases}" TASK_QUEUE="lmcache-mp-$tag"
trap stop_sim_nodes EXIT
start_sim_nodes "$nodes" "$tag" "$work"

repo_json="$(node dist/src/client/cli.js sim-repo "$commits" "$culprit" slow-load)"
repo_dir="$(node -e 'console.log(JSON.parse(process.argv[1]).dir)' "$repo_json")"
sha_at() { node -e 'console.log(JSON.parse(process.argv[1]).shas[Number(process.argv[2])])' "$repo_json" "$1"; }
say "repository $repo_dir: $commits commits, slow-load planted at commit $culprit ($(sha_at "$culprit"))"

id="$tag-bisect"
# One build id for the input and the results directory (unset, each call would take its own timestamp).
export BUILD_ID="$id"
input="$(PROFILE=sim STAGES=build,launch,health,long_doc_qa NUM_DOCUMENTS=4 SIM_GPU_CACHE_TOKENS=4000 LMCACHE_REPO_DIR="$repo_dir" \
  node dist/src/client/cli.js bisect-input "$(sha_at 0)" "$(sha_at $((commits - 1)))" \
  --check long_doc_qa.query_ttft_per_prompt --workflow-id "$id")"
started=$(date +%s.%N)
"$TEMPORAL_BIN" workflow execute --address "$TEMPORAL_ADDRESS" --type lmcacheMpBisect --task-queue "$TASK_QUEUE" \
  --workflow-id "$id" --input "$input" >"$work/$id.out" 2>&1 || say "the bisect did not name a commit: $work/$id.out"
wall=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
results="$(PROFILE=sim node dist/src/client/cli.js results-dir --workflow-id "$id")"
node dist/src/client/cli.js bisect-figures "$results/bisect.json" "$wall" "$(sha_at "$culprit")" | tee "$work/figures.json"
rm -rf "$repo_dir"
