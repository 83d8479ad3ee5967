#!/usr/bin/env bash
# Follows a run (running or finished) until it ends: each stage's start and end, its progress, then the summary.
# Usage: scripts/follow.sh WORKFLOW_ID. Reaches Temporal as the CLI does (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, …).
# Exit: 0 passed, 1 failed, 3 passed with overrides, 4 cancelled, 2 when it cannot follow the run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"
[ $# -eq 1 ] || die "usage: scripts/follow.sh WORKFLOW_ID"
[ -f dist/src/client/cli.js ] || ensure_node_project
exec node dist/src/client/cli.js follow --workflow-id "$1"
