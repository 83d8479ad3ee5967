#!/usr/bin/env bash
# The orchestration's figures on the production-shaped cluster beside the dev server's, in one run: the same light
# sim run (build, launch, health, long doc QA) once on the local dev server and once on scripts/temporal-cluster.sh's
# cluster over mTLS, then per activity the hand-over time (previous stage's end to this one's start), per server the
# readiness lag (seen healthy to the workflow leaving the health wait) and the whole orchestration overhead, side by
# side with their ratio. Prints figures; asserts nothing. The cluster listens on TEMPORAL_CLUSTER_PORT (default
# 17233 here, beside a dev server on 7233); it is left running (scripts/temporal-cluster.sh down stops it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"
ensure_node_project
ensure_python_tools
ensure_docker
export PROFILE=sim STAGES=build,launch,health,long_doc_qa NUM_DOCUMENTS="${NUM_DOCUMENTS:-4}" \
  SIM_GPU_CACHE_TOKENS="${SIM_GPU_CACHE_TOKENS:-4000}"
tag="benchcluster$$"

# Runs the light run against the Temporal the environment names; leaves its history beside its log.
run_on() {
  local label="$1" id="lmcache-mp-test-$tag-$1"
  BUILD_ID="$tag-$label" WORKFLOW_ID="$id" scripts/run-mp-test.sh >"$RUN_DIR/$tag-$label.log" 2>&1 \
    || say "the $label run failed ($RUN_DIR/$tag-$label.log); its figures follow anyway"
  "$TEMPORAL_BIN" workflow show --address "$TEMPORAL_ADDRESS" --workflow-id "$id" --output json >"$RUN_DIR/$tag-$label.json"
}

(unset TEMPORAL_ADDRESS TEMPORAL_NAMESPACE; ensure_temporal; run_on dev)
# shellcheck disable=SC2046 # the exports temporal-cluster.sh prints
eval "$(TEMPORAL_CLUSTER_PORT="${TEMPORAL_CLUSTER_PORT:-17233}" scripts/temporal-cluster.sh up)"
run_on cluster
node dist/src/client/cli.js compare-orchestration \
  "dev-server" "/tmp/lmcache_ci_results_$tag-dev" "$RUN_DIR/$tag-dev.json" \
  "cluster" "/tmp/lmcache_ci_results_$tag-cluster" "$RUN_DIR/$tag-cluster.json"
