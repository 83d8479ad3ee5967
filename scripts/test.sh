#!/usr/bin/env bash
# Runs every test: unit, workflow (real local Temporal server), integration (real Docker engine) and end to
# end (whole sim pipeline through the temporal CLI). Installs what it needs first (for integration and e2e
# also Debian's chromium, which loads the reports' charts, and PyPI vllm); starts dockerd if none answers (as root).
# Pass suite names to run only those: scripts/test.sh unit workflow
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"

ensure_node_project
ensure_python_tools
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit workflow integration e2e)
for suite in "${suites[@]}"; do
  case "$suite" in
    unit|workflow) ;;
    # The contract tests hand our command lines to vLLM's own parsers; the end-to-end suite runs the real
    # `vllm bench serve` against the sim.
    integration) ensure_docker; ensure_chromium; ensure_vllm force ;;
    # test/e2e/cluster.test.ts runs a Temporal cluster: its server is built from Go (minutes, once; cached).
    e2e) ensure_docker; ensure_chromium; ensure_vllm force; bash scripts/temporal-cluster.sh build ;;
    *) die "unknown suite $suite (unit, workflow, integration, e2e)" ;;
  esac
done

# The house rules first: lint and formatting fail CI before any test runs.
say "lint (eslint) and format check (prettier)"
npx --no-install eslint . || die "eslint found problems (npm run lint)"
npx --no-install prettier --check . >/dev/null || { npx --no-install prettier --check . >&2; die "files are not formatted (npm run format)"; }

paths=()
for suite in "${suites[@]}"; do paths+=("dist/test/$suite"); done
# One file at a time: the latency and throughput checks of the sim runs need the machine's two cores.
# A test file whose failed test left a handle open (a stream, a child process) must not hold CI forever:
# the runner ends each file once its tests are done, and a test that hangs fails after 15 minutes.
node --test --test-concurrency=1 --test-force-exit --test-timeout=900000 "${paths[@]}"
