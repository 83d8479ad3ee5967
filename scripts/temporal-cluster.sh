#!/usr/bin/env bash
# A production-shaped Temporal on this machine: the server built from its Go module at a pinned version,
# PostgreSQL (Debian's) for persistence and SQL visibility, the four services as separate processes from one
# config file, and a frontend that requires mTLS.
#
#   scripts/temporal-cluster.sh up       builds what is missing (cached in .temporal-cluster/build), starts what
#                                        is not running, creates the namespace (30-day retention), registers the
#                                        runs' search attributes; prints the TEMPORAL_* variables to export:
#                                        eval "$(scripts/temporal-cluster.sh up)"
#   scripts/temporal-cluster.sh build    only builds the server and installs PostgreSQL (scripts/test.sh, for CI)
#   scripts/temporal-cluster.sh status   each process, its pid and whether it runs; the frontend's health
#   scripts/temporal-cluster.sh down     stops every process it started, by pid
#   scripts/temporal-cluster.sh kill SERVICE | restart SERVICE   (frontend, history, matching, worker, postgres)
#                                        SIGKILL one process, or stop it and start it again: the fault tests
#
# Settings: TEMPORAL_CLUSTER_DIR (state: database, certificates, config, logs; default .temporal-cluster/run),
# TEMPORAL_CLUSTER_PORT (the frontend's gRPC port, default 7233; the other services use the next ports),
# TEMPORAL_CLUSTER_PG_PORT (default 5433), TEMPORAL_CLUSTER_NAMESPACE (default lmcache-mp).
# Everything but the exports goes to stderr.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$PROJECT_ROOT"

# The server version and the Go that builds it (v1.32.2 needs go >= 1.26.10; GOTOOLCHAIN fetches it from the
# Go module proxy when the installed Go is older).
SERVER_VERSION=v1.32.2
GO_TOOLCHAIN=go1.26.10
# The newest UI server whose dependencies the Go module proxy serves here (v2.58.1 needs go.temporal.io/api v1.64.0,
# which it refuses); it embeds the UI's assets.
UI_VERSION=v2.56.4
BUILD_DIR="$PROJECT_ROOT/.temporal-cluster/build/$SERVER_VERSION"
STATE_DIR="${TEMPORAL_CLUSTER_DIR:-$PROJECT_ROOT/.temporal-cluster/run}"
case "$STATE_DIR" in /*) ;; *) STATE_DIR="$PROJECT_ROOT/$STATE_DIR" ;; esac
PORT="${TEMPORAL_CLUSTER_PORT:-7233}"
UI_PORT=$((PORT + 1000))
PG_PORT="${TEMPORAL_CLUSTER_PG_PORT:-5433}"
NAMESPACE="${TEMPORAL_CLUSTER_NAMESPACE:-lmcache-mp}"
for var in TEMPORAL_CLUSTER_PORT TEMPORAL_CLUSTER_PG_PORT; do
  value="${!var:-}"
  [ -z "$value" ] || [[ "$value" =~ ^[0-9]+$ && "$value" -ge 1024 && "$value" -le 65000 ]] \
    || die "$var must be a port number from 1024 to 65000, not '$value'"
done
# Membership ports (the frontend's + 10..13) go into a smallint column of the persistence schema.
[ "$PORT" -le 32754 ] || die "TEMPORAL_CLUSTER_PORT must be at most 32754 (the services' membership ports, up to" \
  "TEMPORAL_CLUSTER_PORT+13, are stored as PostgreSQL smallints), not '$PORT'"
SERVICES=(history matching frontend worker ui) # history and matching first: the frontend routes to them
CERTS="$STATE_DIR/certs"
CONFIG="$STATE_DIR/config/temporal.yaml"
PGDATA="$STATE_DIR/postgres"

server_bin() { echo "$BUILD_DIR/bin/server"; }
sql_tool() { echo "$BUILD_DIR/bin/temporal-sql-tool"; }
ui_server_bin() { echo "$BUILD_DIR/bin/temporal-ui-server"; }

# go install of the server and its schema tool, once per version; the visibility schema is kept beside them
# because its columns are SQL visibility's search-attribute limits.
ensure_server_build() {
  [ -x "$(server_bin)" ] && [ -x "$(sql_tool)" ] && [ -x "$(ui_server_bin)" ] && [ -f "$BUILD_DIR/visibility-schema.sql" ] \
    && return 0
  command -v go >/dev/null || die "Go is needed to build the Temporal server (go not found; Debian: golang)"
  say "building Temporal server $SERVER_VERSION and temporal-sql-tool with $GO_TOOLCHAIN (about 3-5 minutes, once; log: $RUN_DIR/temporal-server-build.log)"
  mkdir -p "$BUILD_DIR/bin"
  GOTOOLCHAIN="$GO_TOOLCHAIN" GOBIN="$BUILD_DIR/bin" GOFLAGS= \
    go install "go.temporal.io/server/cmd/server@$SERVER_VERSION" "go.temporal.io/server/cmd/tools/sql@$SERVER_VERSION" \
    >"$RUN_DIR/temporal-server-build.log" 2>&1 \
    || { tail -30 "$RUN_DIR/temporal-server-build.log" >&2; die "go install of the Temporal server failed"; }
  mv "$BUILD_DIR/bin/sql" "$(sql_tool)"
  # Its command is also called server: built apart, then renamed.
  GOTOOLCHAIN="$GO_TOOLCHAIN" GOBIN="$BUILD_DIR/ui" GOFLAGS= \
    go install "github.com/temporalio/ui-server/v2/cmd/server@$UI_VERSION" >>"$RUN_DIR/temporal-server-build.log" 2>&1 \
    || { tail -30 "$RUN_DIR/temporal-server-build.log" >&2; die "go install of the Temporal UI server failed"; }
  mv "$BUILD_DIR/ui/server" "$(ui_server_bin)"
  rmdir "$BUILD_DIR/ui"
  local module
  module="$(GOTOOLCHAIN="$GO_TOOLCHAIN" GOFLAGS=-mod=mod go env GOMODCACHE)/go.temporal.io/server@$SERVER_VERSION"
  cp "$module/schema/postgresql/v12/visibility/schema.sql" "$BUILD_DIR/visibility-schema.sql"
}

# Debian's PostgreSQL server binaries (initdb, pg_ctl, postgres).
pg_bin_dir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed and this is not root: install Debian's postgresql"
    say "installing Debian's postgresql"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >"$RUN_DIR/apt-postgresql.log" 2>&1 \
      || { tail -30 "$RUN_DIR/apt-postgresql.log" >&2; die "installing postgresql failed"; }
    dir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  echo "$dir"
}

# PostgreSQL refuses to run as root: as root, its processes run as Debian's postgres user.
as_pg_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pid_of() { cat "$STATE_DIR/pids/$1.pid" 2>/dev/null || true; }
pg_pid() { head -1 "$PGDATA/postmaster.pid" 2>/dev/null || true; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

pg_password() { cat "$STATE_DIR/postgres-password"; }

psql_admin() {
  as_pg_user "$PG_BIN/psql" -h "$STATE_DIR/pgsock" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

ensure_postgres() {
  PG_BIN="$(pg_bin_dir)"
  mkdir -p "$STATE_DIR"
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    say "initialising PostgreSQL in $PGDATA"
    openssl rand -hex 16 >"$STATE_DIR/postgres-password"
    chmod 600 "$STATE_DIR/postgres-password"
    mkdir -p "$PGDATA" "$STATE_DIR/pgsock"
    if [ "$(id -u)" = 0 ]; then
      chown postgres: "$PGDATA" "$STATE_DIR/pgsock"
      # The postgres user only passes through the state directory (which holds the keys): no listing.
      chmod 711 "$STATE_DIR"
      as_pg_user test -w "$PGDATA" \
        || die "the postgres user cannot reach $PGDATA: give the directories above it o+x, or set TEMPORAL_CLUSTER_DIR"
    fi
    # The admin connects through the socket in the state directory; Temporal over TCP with its password.
    as_pg_user "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      >"$STATE_DIR/postgres-initdb.log" 2>&1 || { tail -20 "$STATE_DIR/postgres-initdb.log" >&2; die "initdb failed"; }
  fi
  if ! alive "$(pg_pid)"; then
    say "starting PostgreSQL on 127.0.0.1:$PG_PORT (log: $STATE_DIR/postgres.log)"
    touch "$STATE_DIR/postgres.log"
    [ "$(id -u)" != 0 ] || chown postgres: "$STATE_DIR/postgres.log"
    as_pg_user "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$STATE_DIR/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $STATE_DIR/pgsock" start >/dev/null \
      || { tail -20 "$STATE_DIR/postgres.log" >&2; die "PostgreSQL did not start"; }
  fi
  if [ -z "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = 'temporal'")" ]; then
    psql_admin -c "CREATE ROLE temporal LOGIN PASSWORD '$(pg_password)'" >/dev/null
  fi
  setup_database temporal postgresql/v12/temporal
  setup_database temporal_visibility postgresql/v12/visibility
}

# A database owned by Temporal's role, its schema set up once and brought to the tool's latest version.
setup_database() {
  local db="$1" schema="$2"
  local tool=("$(sql_tool)" --plugin postgres12 --ep 127.0.0.1 -p "$PG_PORT" -u temporal --pw "$(pg_password)" --db "$db")
  if [ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    say "creating database $db with the $schema schema"
    psql_admin -c "CREATE DATABASE $db OWNER temporal" >/dev/null
    "${tool[@]}" setup-schema -v 0.0 >"$STATE_DIR/logs/schema-$db.log" 2>&1 \
      || { tail -20 "$STATE_DIR/logs/schema-$db.log" >&2; die "temporal-sql-tool setup-schema of $db failed"; }
  fi
  "${tool[@]}" update-schema --schema-name "$schema" >>"$STATE_DIR/logs/schema-$db.log" 2>&1 \
    || { tail -20 "$STATE_DIR/logs/schema-$db.log" >&2; die "temporal-sql-tool update-schema of $db failed"; }
}

# A CA, a server certificate (also the services' own client certificate between each other) and a client
# certificate for workers, CLI and CI; made once.
ensure_certs() {
  [ -f "$CERTS/client.key" ] && return 0
  say "generating a CA, a server and a client certificate in $CERTS"
  mkdir -p "$CERTS"
  (
    cd "$CERTS"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=lmcache-mp Temporal CA" -keyout ca.key -out ca.pem
    cert() {
      local name="$1" subject="$2" ext="$3"
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subject" \
        -keyout "$name.key" -out "$name.csr"
      openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
        -extfile <(printf '%s\n' "$ext") -out "$name.pem"
      rm "$name.csr"
    }
    cert server "/CN=localhost" "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth"
    cert client "/CN=lmcache-mp-client" "extendedKeyUsage=clientAuth"
    chmod 600 ./*.key
  ) >"$STATE_DIR/logs/openssl.log" 2>&1 || { tail -20 "$STATE_DIR/logs/openssl.log" >&2; die "openssl failed"; }
}

# The one config file of all four services: PostgreSQL stores, mTLS on the frontend and between services.
write_config() {
  mkdir -p "$(dirname "$CONFIG")"
  local tls_server="
        certFile: $CERTS/server.pem
        keyFile: $CERTS/server.key
        requireClientAuth: true
        clientCaFiles: [$CERTS/ca.pem]"
  local tls_client="
        serverName: localhost
        rootCaFiles: [$CERTS/ca.pem]"
  cat >"$CONFIG" <<EOF
# Written by scripts/temporal-cluster.sh; rewritten at every up.
log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
$(for store in default:temporal visibility:temporal_visibility; do cat <<STORE
    ${store%%:*}:
      sql:
        pluginName: postgres12
        databaseName: ${store#*:}
        connectAddr: "127.0.0.1:$PG_PORT"
        connectProtocol: tcp
        user: temporal
        password: "$(pg_password)"
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
STORE
done)
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
  tls:
    internode:
      server:$tls_server
      client:$tls_client
    frontend:
      server:$tls_server
      client:$tls_client
services:
$(i=0; for service in frontend history matching worker; do cat <<SERVICE
  $service:
    rpc:
      grpcPort: $((PORT + i))
      membershipPort: $((PORT + 10 + i))
      bindOnLocalHost: true
SERVICE
i=$((i + 1)); done)
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:$PORT"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: $STATE_DIR/config/dynamic.yaml
  pollInterval: 10s
EOF
  # The server's defaults serve us (Updates and worker deployment versions are on); the file is where an
  # operator tunes them without a restart.
  [ -f "$STATE_DIR/config/dynamic.yaml" ] || echo '{}' >"$STATE_DIR/config/dynamic.yaml"
}

# The UI server reaches the frontend as a client, with the client certificate.
write_ui_config() {
  mkdir -p "$STATE_DIR/config/ui"
  cat >"$STATE_DIR/config/ui/cluster.yaml" <<EOF
temporalGrpcAddress: 127.0.0.1:$PORT
host: 127.0.0.1
port: $UI_PORT
enableUi: true
defaultNamespace: $NAMESPACE
refreshInterval: 1m
cors:
  allowOrigins: ["http://127.0.0.1:$UI_PORT", "http://localhost:$UI_PORT"]
tls:
  caFile: $CERTS/ca.pem
  certFile: $CERTS/client.pem
  keyFile: $CERTS/client.key
  serverName: localhost
  enableHostVerification: true
EOF
}

start_service() {
  local service="$1"
  alive "$(pid_of "$service")" && return 0
  say "starting the $service service (log: $STATE_DIR/logs/$service.log)"
  if [ "$service" = ui ]; then
    nohup "$(ui_server_bin)" --root / --config "$STATE_DIR/config/ui" --env cluster start \
      >>"$STATE_DIR/logs/ui.log" 2>&1 &
  else
    # No authorizer: the frontend's mTLS is what admits a client (any certificate the CA signed).
    nohup "$(server_bin)" --config-file "$CONFIG" --allow-no-auth start --service "$service" \
      >>"$STATE_DIR/logs/$service.log" 2>&1 &
  fi
  echo $! >"$STATE_DIR/pids/$service.pid"
}

export_lines() {
  cat <<EOF
export TEMPORAL_ADDRESS=127.0.0.1:$PORT
export TEMPORAL_NAMESPACE=$NAMESPACE
export TEMPORAL_TLS_CLIENT_CERT_PATH=$CERTS/client.pem
export TEMPORAL_TLS_CLIENT_KEY_PATH=$CERTS/client.key
export TEMPORAL_TLS_SERVER_CA_CERT_PATH=$CERTS/ca.pem
export TEMPORAL_TLS_SERVER_NAME=localhost
EOF
}

# The frontend answers over mTLS (with the client certificate), waiting up to 2 minutes.
wait_for_frontend() {
  for _ in $(seq 1 120); do
    "$TEMPORAL_BIN" operator cluster health >/dev/null 2>&1 && return 0
    for service in "${SERVICES[@]}"; do
      alive "$(pid_of "$service")" \
        || { tail -20 "$STATE_DIR/logs/$service.log" >&2; die "the $service service exited (log above)"; }
    done
    sleep 1
  done
  die "the frontend did not answer within 120 s (logs: $STATE_DIR/logs)"
}

# Per-type counts of custom search attributes SQL visibility can hold: the typed columns of its schema.
visibility_limits() {
  grep -oE '^\s+(Bool|Datetime|Double|Int|Keyword|Text|KeywordList)[0-9]{2}\s' "$BUILD_DIR/visibility-schema.sql" \
    | tr -d ' \t' | sed -E 's/[0-9]+$//' | sort | uniq -c | awk '{ print $2, $1 }'
}

# Refuses, before registering any, attributes that would exceed a type's limit, naming the type, the limit and
# the attributes; a new one is checked here long before a run would fail to upsert it.
check_search_attribute_limits() {
  local existing wanted limits problems=""
  existing="$("$TEMPORAL_BIN" operator search-attribute list -o json)" || die "cannot list the search attributes of $NAMESPACE"
  wanted="$(node dist/src/client/cli.js search-attributes)"
  limits="$(visibility_limits)"
  problems="$(
    node -e '
      const [existingJson, wanted, limits] = process.argv.slice(1);
      const custom = (JSON.parse(existingJson).customAttributes ?? {});
      const norm = (t) => String(t).replace(/^INDEXED_VALUE_TYPE_/, "").toLowerCase().replace(/_/g, "");
      const limit = new Map(limits.trim().split("\n").map((l) => { const [t, n] = l.split(" "); return [norm(t), Number(n)]; }));
      const byType = new Map();
      for (const [name, type] of Object.entries(custom)) byType.set(norm(type), [...(byType.get(norm(type)) ?? []), name]);
      for (const line of wanted.trim().split("\n")) {
        const [name, type] = line.split(" ");
        const names = byType.get(norm(type)) ?? [];
        if (!names.includes(name)) byType.set(norm(type), [...names, name]);
      }
      for (const line of wanted.trim().split("\n")) {
        const [name, type] = line.split(" ");
        const names = byType.get(norm(type));
        const max = limit.get(norm(type)) ?? 0;
        if (names.length > max && names.indexOf(name) >= max)
          console.log(`${name} (${type}) would exceed SQL visibility'"'"'s limit of ${max} ${type} attribute(s) per namespace: ${names.slice(0, max).join(", ")} take them`);
      }' "$existing" "$wanted" "$limits"
  )"
  [ -z "$problems" ] || die "search attributes over SQL visibility's limits:
$problems"
}

ensure_namespace() {
  if "$TEMPORAL_BIN" operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
    "$TEMPORAL_BIN" operator namespace update --namespace "$NAMESPACE" --retention 720h >/dev/null \
      || die "setting the retention of namespace $NAMESPACE failed"
  else
    say "creating namespace $NAMESPACE (retention 30 days)"
    "$TEMPORAL_BIN" operator namespace create --namespace "$NAMESPACE" --retention 720h >/dev/null \
      || die "creating namespace $NAMESPACE failed"
  fi
  # A new namespace reaches every service's namespace cache within about 10 s.
  for _ in $(seq 1 30); do
    "$TEMPORAL_BIN" operator search-attribute list >/dev/null 2>&1 && break
    sleep 1
  done
  check_search_attribute_limits
  prepare_namespace
}

up() {
  # Only the search-attribute list is needed from the build; run-mp-test.sh rebuilds anyway.
  [ -f dist/src/client/cli.js ] || ensure_node_project >&2
  ensure_python_tools
  ensure_server_build
  mkdir -p "$STATE_DIR/pids" "$STATE_DIR/logs"
  ensure_postgres
  ensure_certs
  write_config
  write_ui_config
  # Each service writes the cluster's metadata on a new database, and two at once collide: the history service
  # first, alone, until its gRPC port (the frontend's + 1) answers.
  start_service history
  for _ in $(seq 1 60); do
    (exec 3<>"/dev/tcp/127.0.0.1/$((PORT + 1))") 2>/dev/null && break
    alive "$(pid_of history)" || { tail -20 "$STATE_DIR/logs/history.log" >&2; die "the history service exited (log above)"; }
    sleep 1
  done
  for service in "${SERVICES[@]}"; do start_service "$service"; done
  eval "$(export_lines)"
  wait_for_frontend
  ensure_namespace
  say "Temporal $SERVER_VERSION is up: frontend 127.0.0.1:$PORT (mTLS; certificates in $CERTS), namespace $NAMESPACE," \
    "UI http://127.0.0.1:$UI_PORT/namespaces/$NAMESPACE, PostgreSQL 127.0.0.1:$PG_PORT; state in $STATE_DIR"
  export_lines
}

status() {
  local failed=0 pid
  for service in "${SERVICES[@]}"; do
    pid="$(pid_of "$service")"
    if alive "$pid"; then printf '%-10s running (pid %s)\n' "$service" "$pid"; else printf '%-10s stopped\n' "$service"; failed=1; fi
  done
  pid="$(pg_pid)"
  if alive "$pid"; then printf '%-10s running (pid %s, port %s)\n' postgres "$pid" "$PG_PORT"; else printf '%-10s stopped\n' postgres; failed=1; fi
  if [ -f "$CERTS/client.pem" ] && (eval "$(export_lines)"; ensure_python_tools; "$TEMPORAL_BIN" operator cluster health >/dev/null 2>&1); then
    echo "frontend   serving at 127.0.0.1:$PORT (mTLS), namespace $NAMESPACE"
  else
    echo "frontend   not serving at 127.0.0.1:$PORT"; failed=1
  fi
  return "$failed"
}

# SIGTERM, then SIGKILL after 20 s: the services drain their shards and leave membership cleanly.
stop_pid() {
  local name="$1" pid="$2"
  alive "$pid" || return 0
  say "stopping $name (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 1 20); do alive "$pid" || return 0; sleep 1; done
  kill -KILL "$pid" 2>/dev/null || true
}

stop_service() {
  stop_pid "$1" "$(pid_of "$1")"
  rm -f "$STATE_DIR/pids/$1.pid"
}

# PostgreSQL's fast shutdown (SIGINT): open connections are closed, nothing committed is lost.
stop_postgres() {
  local pid; pid="$(pg_pid)"
  alive "$pid" || return 0
  say "stopping PostgreSQL (pid $pid)"
  kill -INT "$pid"
  for _ in $(seq 1 30); do alive "$pid" || return 0; sleep 1; done
  die "PostgreSQL (pid $pid) did not stop within 30 s"
}

down() {
  local i
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do stop_service "${SERVICES[$i]}"; done
  stop_postgres
  say "stopped; state kept in $STATE_DIR (remove it for a fresh cluster)"
}

known_process() {
  case "$1" in frontend|history|matching|worker|ui|postgres) ;; *) die "unknown process '$1' (frontend, history, matching, worker, ui, postgres)" ;; esac
}

case "${1:-}" in
  build) ensure_server_build; pg_bin_dir >/dev/null ;;
  up) up ;;
  down) down ;;
  status) status ;;
  kill)
    known_process "${2:-}"
    if [ "$2" = postgres ]; then pid="$(pg_pid)"; else pid="$(pid_of "$2")"; fi
    alive "$pid" || die "$2 is not running"
    kill -KILL "$pid"
    say "SIGKILLed $2 (pid $pid)"
    ;;
  restart)
    known_process "${2:-}"
    ensure_python_tools
    if [ "$2" = postgres ]; then stop_postgres; ensure_postgres; else stop_service "$2"; start_service "$2"; fi
    eval "$(export_lines)"
    wait_for_frontend
    ;;
  *) die "usage: scripts/temporal-cluster.sh build|up|down|status|kill SERVICE|restart SERVICE" ;;
esac
