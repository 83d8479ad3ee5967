#!/usr/bin/env bash
# The fault matrix: injects each fault into sim runs (the cases of test/e2e/faults.test.ts, on worker nodes of their
# own with their own Temporal dev servers) and prints one row per case, then one JSON line:
# {"cases":…,"asExpected":…}. Cases: cancel during each stage; the LMCache container killed during a benchmark
# (with the detection delay); terminate during a benchmark, then the janitor (with its time); the worker SIGKILLed
# during each stage of one run and restarted on the same node; a node's worker gone for good before launch; the
# Temporal server SIGKILLed and restarted on its database during a benchmark; on a Temporal cluster (temporal-cluster.sh),
# its frontend SIGKILLed mid-lm_eval, its history service mid-vllm_bench and PostgreSQL restarted mid-long_doc_qa, in one
# run. About 8 minutes, most of it heartbeat timeouts. Run it alone: it uses the Docker engine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"
[ "${SKIP_BUILD:-0}" = 1 ] || ensure_node_project
ensure_python_tools
ensure_docker

tap="$RUN_DIR/fault-matrix-$$.tap"
node --test --test-force-exit --test-reporter=tap dist/test/e2e/faults.test.js >"$tap" 2>&1 || true
# The Temporal cluster's own faults (frontend and history SIGKILLed, PostgreSQL restarted) on one run.
bash scripts/temporal-cluster.sh build
node --test --test-force-exit --test-reporter=tap --test-name-pattern="cluster's faults" \
  dist/test/e2e/cluster.test.js >>"$tap" 2>&1 || true
# Cases are the indented "ok"/"not ok" lines (not the cluster file's other tests, skipped here); their diagnostics
# carry the figures (e.g. the detection delay).
awk '/# SKIP/ { next } /^    (not )?ok [0-9]+ - / { sub(/^    /, ""); print } /^    # / && !/# Subtest:/ { sub(/^    # /, "    "); print }' "$tap"
cases=$(grep -E '^    (not )?ok [0-9]+ - ' "$tap" | grep -cv '# SKIP' || true)
expected=$(grep -E '^    ok [0-9]+ - ' "$tap" | grep -cv '# SKIP' || true)
printf '{"cases":%d,"asExpected":%d}\n' "$cases" "$expected"
[ "$cases" -gt 0 ] && [ "$cases" -eq "$expected" ]
