#!/usr/bin/env bash
# Injects each covered fault into a sim run (the cases of test/e2e/faults.test.ts, on a worker node of its own with
# its own Temporal dev server) and prints one row per case, then one JSON line: {"cases":…,"asExpected":…}.
# Covered: the LMCache container killed during lm_eval (with the detection delay), cancel during lm_eval, the
# worker SIGKILLed during lm_eval and restarted on the same node. Run it alone: it uses the Docker engine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"
[ "${SKIP_BUILD:-0}" = 1 ] || ensure_node_project
ensure_python_tools
ensure_docker

tap="$RUN_DIR/fault-matrix-$$.tap"
node --test --test-reporter=tap dist/test/e2e/faults.test.js >"$tap" 2>&1 || true
# Subtests are the indented "ok"/"not ok" lines; diagnostics carry the figures (e.g. the detection delay).
awk '/^    (not )?ok [0-9]+ - / { sub(/^    /, ""); print } /^    # .* ms after / { sub(/^    # /, "    "); print }' "$tap"
cases=$(grep -cE '^    (not )?ok [0-9]+ - ' "$tap" || true)
expected=$(grep -cE '^    ok [0-9]+ - ' "$tap" || true)
printf '{"cases":%d,"asExpected":%d}\n' "$cases" "$expected"
[ "$cases" -gt 0 ] && [ "$cases" -eq "$expected" ]
