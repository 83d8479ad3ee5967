#!/usr/bin/env bash
# How often the performance verdicts are wrong under noise, measured in the sim: the vllm_bench and long_doc_qa
# stages run TRIALS times (default 30) on servers launched once per condition, caches emptied between trials,
# under SIM_NOISE_PERCENT (default 3) with no defect (false alarms) and with POWER_DEFECT (default slow-store:8,
# just past the 5 % throughput limit: detection). Prints one JSON line per rule and condition:
# {rule, noisePercent, defect, trials, failed, rate, meanSecondsPerVerdict}; rule "single" is each trial's first
# samples, "grey" the same trial's grey-zone verdict (GREY_ZONE_PERCENT, MAX_REPEATS). Progress goes to stderr.
# About 20 minutes with the defaults on a shared 2-core machine; the workload knobs (NUM_PROMPTS, …) apply.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"
[ "${SKIP_BUILD:-0}" = 1 ] || ensure_node_project >&2
ensure_python_tools >&2
ensure_docker
exec node dist/src/client/check-power.js
