#!/usr/bin/env bash
# `npm run up` / `npm run down`: the local stack plus every service, each its own process in the background.
# Idempotent; `up` returns when every service answers /readyz. Logs: .burnrate/logs/<service>.log.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUN="$ROOT/.burnrate/run"
LOGS="$ROOT/.burnrate/logs"
mkdir -p "$RUN" "$LOGS"

# service=port (DESIGN.md "Commands"); each overridable with <SERVICE>_PORT, e.g. API_PORT=18080.
SERVICES=(ingestion=8081 pricing=9101 aggregator=9102 detector=9103 alert-router=9104 recorder=9105 api=8080)

log() { printf '[burnrate] %s\n' "$*" >&2; }
die() { printf '[burnrate] ERROR: %s\n' "$*" >&2; exit 1; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
port_of() {
  local name="$1" default="$2" var
  var="$(echo "$name" | tr 'a-z-' 'A-Z_')_PORT"
  echo "${!var:-$default}"
}

stop_one() {
  local pid
  pid=$(cat "$RUN/$1.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$RUN/$1.pid"
}

up() {
  bash "$ROOT/scripts/infra.sh" up
  log "building"
  npm run --silent build
  log "migrating the database, provisioning topics, registering schemas, seeding the rate card"
  node "$ROOT/dist/scripts/migrate.js"
  local entry name port build
  # A running service started from an older build is replaced, so `up` (and the demo) always run the current code.
  build="$(cd "$ROOT/dist" && find . -name '*.js' -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-16)"
  for pair in "${SERVICES[@]}"; do
    name="${pair%%=*}"
    port="$(port_of "$name" "${pair#*=}")"
    entry="$ROOT/dist/services/$name/src/main.js"
    [ -f "$entry" ] || { log "skipping $name (not built: $entry)"; continue; }
    if alive "$RUN/$name.pid"; then
      [ "$(cat "$RUN/$name.build" 2>/dev/null)" = "$build" ] && continue
      log "restarting $name (built again since it started)"
      stop_one "$name"
    fi
    log "starting $name on :$port"
    # Alert destinations on loopback are refused (a tenant must not reach inside the cluster); the local stack admits
    # the demo's webhook receiver. Set ALERT_DESTINATION_ALLOWLIST yourself to admit others (empty: none).
    ALERT_DESTINATION_ALLOWLIST="${ALERT_DESTINATION_ALLOWLIST-127.0.0.1:${DEMO_RECEIVER_PORT:-9999}}" \
      PORT="$port" nohup node --enable-source-maps "$entry" >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
    echo "$build" >"$RUN/$name.build"
  done
  for pair in "${SERVICES[@]}"; do
    name="${pair%%=*}"
    port="$(port_of "$name" "${pair#*=}")"
    [ -f "$RUN/$name.pid" ] || continue
    local start
    start=$(date +%s)
    until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
      alive "$RUN/$name.pid" || die "$name exited; see $LOGS/$name.log"
      [ $(($(date +%s) - start)) -lt 120 ] || die "$name not ready after 120s; see $LOGS/$name.log"
      sleep 0.5
    done
  done
  node "$ROOT/dist/scripts/admin-key.js" >/dev/null
  log "ready. api http://127.0.0.1:$(port_of api 8080) (OpenAPI: /docs), ingestion http://127.0.0.1:$(port_of ingestion 8081); admin key in .burnrate/admin-key; logs in .burnrate/logs"
}

down() {
  local name pid
  for pair in "${SERVICES[@]}"; do
    name="${pair%%=*}"
    if alive "$RUN/$name.pid"; then
      pid=$(cat "$RUN/$name.pid")
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pair in "${SERVICES[@]}"; do
    name="${pair%%=*}"
    if [ -f "$RUN/$name.pid" ]; then
      pid=$(cat "$RUN/$name.pid")
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$RUN/$name.pid"
    fi
  done
  if [ "${1:-}" = "--all" ]; then bash "$ROOT/scripts/infra.sh" down; fi
  log "services stopped${1:+ (and the local stack)}"
}

case "${1:-up}" in
  up) up ;;
  down) shift; down "${1:-}" ;;
  *) die "usage: $0 up|down [--all]" ;;
esac
