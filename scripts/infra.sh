#!/usr/bin/env bash
# The local stack, on loopback: Apache Kafka (KRaft, from Maven Central), Apicurio Registry (Confluent-compatible
# API at /apis/ccompat/v7, from Maven Central, storing its schemas in PostgreSQL) and PostgreSQL (Debian's package).
#
#   scripts/infra.sh up [--timescaledb] | down | reset | status | stop-kafka | start-kafka
#
# `up --timescaledb` (`npm run infra:up -- --timescaledb`) also starts PostgreSQL with TimescaleDB on 127.0.0.1:5433
# (scripts/timescaledb.sh, built from ../shared/vendor once) and prints its DATABASE_URL.
#
# `reset` (`npm run reset`): starts over. Stops the services and the stack, and removes their data: Kafka's log
# directory (every topic), the registry's schemas, the burnrate databases (burnrate, apicurio, and the tests' and
# benchmarks' burnrate_*), the admin key, the demo's secrets, the logs. Downloads and built tools are kept.
#
# `up` is idempotent and returns only when Kafka accepts a produce, the registry answers and PostgreSQL accepts a
# connection. Data and logs live under .burnrate/infra (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${BURNRATE_INFRA_DIR:-$ROOT/.burnrate/infra}"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
APICURIO_VERSION="${APICURIO_VERSION:-3.0.9}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
REGISTRY_PORT="${REGISTRY_PORT:-8085}"
PGHOST="${PGHOST:-127.0.0.1}"
PGPORT="${PGPORT:-5432}"
PGUSER="${PGUSER:-postgres}"
PGPASSWORD="${PGPASSWORD:-postgres}"
export PGHOST PGPORT PGUSER PGPASSWORD
READY_TIMEOUT="${INFRA_READY_TIMEOUT:-180}"

log() { printf '[infra] %s\n' "$*" >&2; }
die() {
  printf '[infra] ERROR: %s\n' "$*" >&2
  exit 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # description, seconds, command...
  local what="$1" secs="$2" start
  shift 2
  start=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    if [ $(($(date +%s) - start)) -ge "$secs" ]; then return 1; fi
    sleep 1
  done
  log "$what ready after $(($(date +%s) - start))s"
}

# The console's browser tests (test/console.test.ts) drive Debian's Chromium through playwright-core.
need_chromium() {
  if ! command -v chromium >/dev/null; then
    log "installing Chromium (Debian chromium) for the console's browser tests"
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
}

need_java() {
  if ! command -v java >/dev/null; then
    log "installing a Java runtime (Debian openjdk-17-jre-headless)"
    as_root apt-get update -qq && as_root apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  fi
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
  [ "${major%%.*}" -ge 17 ] || die "Kafka $KAFKA_VERSION and Apicurio $APICURIO_VERSION need Java 17 or later (found $major)"
  if ! command -v mvn >/dev/null; then
    log "installing Maven (Debian maven) to resolve Kafka and Apicurio from Maven Central"
    as_root apt-get update -qq && as_root apt-get install -y -qq maven >/dev/null
  fi
}

# ---------------------------------------------------------------------------------------------- PostgreSQL
pg_ready() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

postgres_up() {
  if ! pg_ready; then
    [ "$PGHOST" = 127.0.0.1 ] || [ "$PGHOST" = localhost ] || die "PostgreSQL at $PGHOST:$PGPORT is not reachable"
    if [ -z "$(pg_bin)" ]; then
      log "installing PostgreSQL (Debian postgresql)"
      as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    command -v pg_isready >/dev/null || export PATH="$(pg_bin):$PATH"
    if command -v pg_lsclusters >/dev/null && [ -n "$(pg_lsclusters -h 2>/dev/null | awk -v p="$PGPORT" '$3 == p')" ]; then
      local ver name
      read -r ver name _ < <(pg_lsclusters -h | awk -v p="$PGPORT" '$3 == p')
      log "starting the Debian PostgreSQL cluster $ver/$name on port $PGPORT"
      as_root pg_ctlcluster "$ver" "$name" start 9>&- || true
      touch "$STATE/postgres.started-by-us"
      echo "$ver $name" >"$STATE/postgres.cluster"
    else
      # No packaged cluster on that port (or not Debian): run our own under .burnrate.
      local data="$STATE/postgres/data" bin
      bin="$(pg_bin)"
      mkdir -p "$STATE/postgres"
      local runas=()
      if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd -r -m postgres
        chown -R postgres "$STATE/postgres"
        runas=(su postgres -s /bin/bash -c)
      else
        runas=(bash -c)
      fi
      if [ ! -f "$data/PG_VERSION" ]; then
        log "initialising a PostgreSQL cluster in $data"
        echo "$PGPASSWORD" >"$STATE/postgres/pwfile"
        [ "$(id -u)" = 0 ] && chown postgres "$STATE/postgres/pwfile"
        "${runas[@]}" "$bin/initdb -D '$data' -U postgres --pwfile='$STATE/postgres/pwfile' -A scram-sha-256 >/dev/null"
      fi
      "${runas[@]}" "$bin/pg_ctl -D '$data' -l '$STATE/postgres/postgres.log' -o '-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1' -w start >/dev/null" 9>&-
      touch "$STATE/postgres.own"
    fi
    wait_for PostgreSQL 60 pg_ready || die "PostgreSQL did not start (see /var/log/postgresql or $STATE/postgres/postgres.log)"
  fi
  # The password the services use; on a Debian cluster the postgres role has none until we set it.
  if ! psql -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      # Over the Unix socket as the OS user postgres (peer authentication): not with our PGHOST/PGPASSWORD, which su keeps.
      su postgres -c "env -u PGHOST -u PGPASSWORD psql -h /var/run/postgresql -p $PGPORT -qc \"ALTER USER $PGUSER PASSWORD '$PGPASSWORD'\"" >/dev/null ||
        die "could not set the password of PostgreSQL role $PGUSER"
    else
      die "cannot log in to PostgreSQL as $PGUSER with PGPASSWORD; set DATABASE_URL/PGPASSWORD"
    fi
  fi
  for db in burnrate apicurio; do
    psql -d postgres -Atc "select 1 from pg_database where datname = '$db'" | grep -q 1 ||
      psql -d postgres -qc "create database $db" >/dev/null
  done
}

postgres_down() {
  if [ -f "$STATE/postgres.own" ]; then
    local bin
    bin="$(pg_bin)"
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$bin/pg_ctl -D '$STATE/postgres/data' -m fast stop" >/dev/null || true
    else "$bin/pg_ctl" -D "$STATE/postgres/data" -m fast stop >/dev/null || true; fi
    rm -f "$STATE/postgres.own"
  elif [ -f "$STATE/postgres.started-by-us" ]; then
    local ver name
    read -r ver name <"$STATE/postgres.cluster"
    as_root pg_ctlcluster "$ver" "$name" stop || true
    rm -f "$STATE/postgres.started-by-us"
  fi
}

# ---------------------------------------------------------------------------------------------- Kafka
KAFKA_DIR="$STATE/kafka"
kafka_libs() {
  local libs="$KAFKA_DIR/libs-$KAFKA_VERSION"
  if [ ! -f "$libs/.complete" ]; then
    log "resolving Apache Kafka $KAFKA_VERSION from Maven Central"
    rm -rf "$libs"
    mvn -q -B -f "$ROOT/infra/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs" >&2 ||
      die "could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central"
    touch "$libs/.complete"
  fi
  echo "$libs"
}

kafka_ready() { node "$ROOT/scripts/infra-ready.js" kafka; }

kafka_up() {
  if alive "$KAFKA_DIR/pid"; then
    wait_for Kafka 60 kafka_ready || die "Kafka (pid $(cat "$KAFKA_DIR/pid")) is running but does not accept produces; see $KAFKA_DIR/logs"
    return
  fi
  if port_open "$KAFKA_PORT"; then
    log "port $KAFKA_PORT is in use by another process; using that broker"
    wait_for Kafka 30 kafka_ready || die "something listens on $KAFKA_PORT but is not a working Kafka broker"
    return
  fi
  need_java
  local libs
  libs="$(kafka_libs)"
  mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
  sed -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" -e "s#@DATA_DIR@#$KAFKA_DIR/data#g" \
    "$ROOT/infra/kafka/server.properties.template" >"$KAFKA_DIR/server.properties"
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    log "formatting Kafka storage (KRaft)"
    local id
    id=$(java -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    java -cp "$libs/*" -Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.properties" -Dkafka.logs.dir="$KAFKA_DIR/logs" \
      kafka.tools.StorageTool format -t "$id" -c "$KAFKA_DIR/server.properties" >>"$KAFKA_DIR/logs/format.log" 2>&1 ||
      die "kafka-storage format failed; see $KAFKA_DIR/logs/format.log"
  fi
  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT"
  nohup java -Xms256m -Xmx${KAFKA_HEAP:-768m} -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.properties" -Dkafka.logs.dir="$KAFKA_DIR/logs" \
    -cp "$libs/*" kafka.Kafka "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/logs/stdout.log" 2>&1 9>&- &
  echo $! >"$KAFKA_DIR/pid"
  wait_for Kafka "$READY_TIMEOUT" kafka_ready || die "Kafka did not become ready; see $KAFKA_DIR/logs/server.log and stdout.log"
}

stop_pid() { # name, pidfile
  if alive "$2"; then
    local pid
    pid=$(cat "$2")
    log "stopping $1 (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$2"
}

# ---------------------------------------------------------------------------------------------- Apicurio
REG_DIR="$STATE/apicurio"
registry_ready() { node "$ROOT/scripts/infra-ready.js" registry; }

registry_up() {
  if alive "$REG_DIR/pid"; then
    wait_for "Schema registry" 90 registry_ready || die "Apicurio (pid $(cat "$REG_DIR/pid")) does not answer; see $REG_DIR/registry.log"
    return
  fi
  if port_open "$REGISTRY_PORT"; then
    log "port $REGISTRY_PORT is in use by another process; using that registry"
    wait_for "Schema registry" 30 registry_ready || die "something listens on $REGISTRY_PORT but is not a schema registry"
    return
  fi
  need_java
  local home="$REG_DIR/apicurio-registry-$APICURIO_VERSION"
  if [ ! -f "$home/.complete" ]; then
    log "resolving Apicurio Registry $APICURIO_VERSION from Maven Central"
    mkdir -p "$REG_DIR/dl"
    mvn -q -B dependency:copy -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
      -DoutputDirectory="$REG_DIR/dl" >&2 || die "could not resolve io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all"
    rm -rf "$home" && mkdir -p "$home"
    tar xzf "$REG_DIR/dl/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" -C "$home"
    rm -rf "$REG_DIR/dl"
    touch "$home/.complete"
  fi
  local jar
  jar=$(ls "$home"/*-runner.jar "$home"/quarkus-run.jar 2>/dev/null | head -n 1 || true)
  [ -n "$jar" ] || die "no runnable jar in $home"
  log "starting Apicurio Registry $APICURIO_VERSION on 127.0.0.1:$REGISTRY_PORT (storage: PostgreSQL database apicurio)"
  (
    cd "$home"
    QUARKUS_HTTP_HOST=127.0.0.1 QUARKUS_HTTP_PORT="$REGISTRY_PORT" \
      APICURIO_STORAGE_KIND=sql APICURIO_STORAGE_SQL_KIND=postgresql \
      APICURIO_DATASOURCE_URL="jdbc:postgresql://$PGHOST:$PGPORT/apicurio" \
      APICURIO_DATASOURCE_USERNAME="$PGUSER" APICURIO_DATASOURCE_PASSWORD="$PGPASSWORD" \
      QUARKUS_LOG_LEVEL=WARN \
      nohup java -Xms128m -Xmx${REGISTRY_HEAP:-384m} -jar "$jar" >"$REG_DIR/registry.log" 2>&1 9>&- &
    echo $! >"$REG_DIR/pid"
  )
  wait_for "Schema registry" "$READY_TIMEOUT" registry_ready || die "Apicurio did not become ready; see $REG_DIR/registry.log"
}

# ---------------------------------------------------------------------------------------------- commands
up() {
  mkdir -p "$STATE" "$KAFKA_DIR" "$REG_DIR"
  exec 9>"$STATE/.lock"
  flock 9
  command -v node >/dev/null || die "node is not on PATH (run through npm, or npm ci first)"
  [ -d "$ROOT/node_modules/kafkajs" ] || die "run npm ci first"
  need_chromium
  postgres_up
  kafka_up
  registry_up
  node "$ROOT/scripts/infra-ready.js" all || die "the stack is up but not healthy"
  log "ready: Kafka 127.0.0.1:$KAFKA_PORT, registry http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7, PostgreSQL $PGHOST:$PGPORT"
  if [ "${1:-}" = "--timescaledb" ]; then
    # PostgreSQL with TimescaleDB beside the plain one (the vendored source, built once): what CI tests storage on
    local url
    url="$(bash "$ROOT/scripts/timescaledb.sh" up)"
    log "TimescaleDB: DATABASE_URL=$url (export it to run the services or the tests on it)"
  fi
}

down() {
  mkdir -p "$STATE"
  stop_pid "Apicurio Registry" "$REG_DIR/pid"
  stop_pid Kafka "$KAFKA_DIR/pid"
  postgres_down
  log "stopped"
}

reset() {
  mkdir -p "$STATE"
  [ -f "$ROOT/scripts/stack.sh" ] && bash "$ROOT/scripts/stack.sh" down >/dev/null 2>&1 || true
  stop_pid "Apicurio Registry" "$REG_DIR/pid"
  stop_pid Kafka "$KAFKA_DIR/pid"
  rm -rf "$KAFKA_DIR/data" "$KAFKA_DIR/logs" "$REG_DIR/registry.log"
  if pg_ready || { postgres_up 2>/dev/null && pg_ready; }; then
    local dbs
    dbs="$(psql -d postgres -Atc "select datname from pg_database where datname in ('burnrate', 'apicurio') or datname like 'burnrate\_%'" 2>/dev/null || true)"
    for db in $dbs; do psql -d postgres -qc "drop database if exists \"$db\" with (force)" >/dev/null; done
    log "dropped databases: $(echo $dbs)"
  fi
  postgres_down
  if [ -f "$STATE/postgres.own" ] || [ -d "$STATE/postgres/data" ]; then rm -rf "$STATE/postgres"; fi
  rm -rf "$ROOT/.burnrate/run" "$ROOT/.burnrate/logs" "$ROOT/.burnrate/test-logs" "$ROOT/.burnrate/admin-key" \
    "$ROOT/.burnrate/demo-webhook-secret"
  log "reset: the local stack is stopped and its data removed (npm run up starts afresh)"
}

status() {
  local rc=0
  pg_ready && log "PostgreSQL: up" || { log "PostgreSQL: down"; rc=1; }
  kafka_ready && log "Kafka: up" || { log "Kafka: down"; rc=1; }
  registry_ready && log "Schema registry: up" || { log "Schema registry: down"; rc=1; }
  return $rc
}

case "${1:-up}" in
  up) up "${2:-}" ;;
  down) down ;;
  reset) reset ;;
  status) status ;;
  stop-kafka) stop_pid Kafka "$KAFKA_DIR/pid" ;;
  start-kafka) mkdir -p "$KAFKA_DIR" && kafka_up ;;
  *) die "usage: $0 up|down|reset|status|stop-kafka|start-kafka" ;;
esac
