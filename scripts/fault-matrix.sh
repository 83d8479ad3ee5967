#!/usr/bin/env bash
# The fault matrix: injects each fault into sim runs (the cases of test/e2e/faults.test.ts, on worker nodes of their
# own with their own Temporal dev servers) and prints one row per case, then one JSON line:
# {"cases":…,"asExpected":…}. Cases: cancel during each stage; the LMCache container killed during a benchmark
# (with the detection delay); terminate during a benchmark, then the janitor (with its time); the worker SIGKILLed
# during each stage of one run and restarted on the same node; a node's worker gone for good before launch; the
# Temporal server SIGKILLed and restarted on its database during a benchmark. About 6 minutes, most of it heartbeat
# timeouts. Run it alone: it uses the Docker engine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"
[ "${SKIP_BUILD:-0}" = 1 ] || ensure_node_project
ensure_python_tools
ensure_docker

tap="$RUN_DIR/fault-matrix-$$.tap"
node --test --test-force-exit --test-reporter=tap dist/test/e2e/faults.test.js >"$tap" 2>&1 || true
# Cases are the indented "ok"/"not ok" lines; their diagnostics carry the figures (e.g. the detection delay).
awk '/^    (not )?ok [0-9]+ - / { sub(/^    /, ""); print } /^    # / && !/# Subtest:/ { sub(/^    # /, "    "); print }' "$tap"
cases=$(grep -cE '^    (not )?ok [0-9]+ - ' "$tap" || true)
expected=$(grep -cE '^    ok [0-9]+ - ' "$tap" || true)
printf '{"cases":%d,"asExpected":%d}\n' "$cases" "$expected"
[ "$cases" -gt 0 ] && [ "$cases" -eq "$expected" ]
