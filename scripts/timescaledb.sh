#!/usr/bin/env bash
# A second local PostgreSQL with TimescaleDB, beside the plain one, so that storage changes are tested on both engines:
#
#   scripts/timescaledb.sh up     build the vendored TimescaleDB (../shared/vendor, once) into Debian's PostgreSQL and
#                                 start a cluster "tsdb" on 127.0.0.1:5433 with it preloaded; prints its DATABASE_URL
#   scripts/timescaledb.sh test   `up`, then the storage, api and end-to-end integration tests against it (CI runs this
#                                 after `npm test`, which runs them on plain PostgreSQL); `npm run test:timescaledb`
#   scripts/timescaledb.sh down   stop that cluster
#
# TimescaleDB is in no package registry reachable here; its source is vendored beside the project (see the README
# there). The build needs Debian's postgresql-server-dev-<major>, cmake and libssl-dev (installed when run as root).
# Then: DATABASE_URL=$(bash scripts/timescaledb.sh up) npx jest --selectProjects integration test/<storage tests>
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${TIMESCALEDB_VERSION:-2.22.1}"
TARBALL="${TIMESCALEDB_TARBALL:-$ROOT/../shared/vendor/timescaledb-$VERSION.tar.gz}"
PORT="${TIMESCALEDB_PORT:-5433}"
CLUSTER="${TIMESCALEDB_CLUSTER:-tsdb}"
# apache: the cluster runs TimescaleDB as an Apache-only build does (timescaledb.license = 'apache': no compression,
# retention or continuous aggregates), which the migrations must survive
LICENSE="${TIMESCALEDB_LICENSE:-timescale}"
BUILD_DIR="${BURNRATE_TOOLS_DIR:-$ROOT/.burnrate/tools}/timescaledb-$VERSION"

log() { printf '[timescaledb] %s\n' "$*" >&2; }
die() {
  printf '[timescaledb] ERROR: %s\n' "$*" >&2
  exit 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi; }
as_postgres() { as_root su postgres -s /bin/bash -c "$*"; }

major() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1; }

install_build_deps() {
  local pg="$1" missing=()
  [ -f "/usr/include/postgresql/$pg/server/postgres.h" ] || missing+=("postgresql-server-dev-$pg")
  command -v cmake >/dev/null || missing+=(cmake)
  [ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
  command -v make >/dev/null || missing+=(make)
  command -v cc >/dev/null || missing+=(gcc)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (Debian)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

build() {
  local pg="$1" libdir
  libdir="$("/usr/lib/postgresql/$pg/bin/pg_config" --pkglibdir)"
  if [ -f "$libdir/timescaledb-$VERSION.so" ]; then return; fi
  [ -f "$TARBALL" ] || die "no $TARBALL (the vendored TimescaleDB source; see ../shared/vendor/README.md)"
  log "building TimescaleDB $VERSION against PostgreSQL $pg (about a minute)"
  rm -rf "$BUILD_DIR"
  mkdir -p "$(dirname "$BUILD_DIR")"
  tar -xzf "$TARBALL" -C "$(dirname "$BUILD_DIR")"
  (
    cd "$BUILD_DIR"
    PATH="/usr/lib/postgresql/$pg/bin:$PATH" ./bootstrap -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
      -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="/usr/lib/postgresql/$pg/bin/pg_config" >/dev/null
    make -C build -j"$(nproc)" >/dev/null
    as_root make -C build install >/dev/null
  )
  [ -f "$libdir/timescaledb-$VERSION.so" ] || die "the build did not install timescaledb-$VERSION.so into $libdir"
}

up() {
  local pg
  pg="$(major)"
  [ -n "$pg" ] || die "no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)"
  install_build_deps "$pg"
  build "$pg"
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $2}' | grep -qx "$CLUSTER"; then
    log "creating cluster $pg/$CLUSTER on port $PORT"
    as_root pg_createcluster "$pg" "$CLUSTER" --port "$PORT" -- --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    as_root sh -c "cat >> /etc/postgresql/$pg/$CLUSTER/postgresql.conf" <<EOF
shared_preload_libraries = 'timescaledb'
listen_addresses = '127.0.0.1'
timescaledb.telemetry_level = off
timescaledb.license = '$LICENSE'
max_connections = 200
EOF
  fi
  as_root pg_ctlcluster "$pg" "$CLUSTER" start >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do
    as_postgres "psql -p $PORT -Atqc 'select 1'" >/dev/null 2>&1 && break
    sleep 1
  done
  as_postgres "psql -p $PORT -qc \"alter user postgres password 'postgres'\"" >/dev/null
  as_postgres "psql -p $PORT -Atqc \"select 1 from pg_database where datname = 'burnrate'\"" | grep -q 1 ||
    as_postgres "psql -p $PORT -qc 'create database burnrate'" >/dev/null
  log "ready: PostgreSQL $pg with TimescaleDB $VERSION on 127.0.0.1:$PORT"
  echo "postgres://postgres:postgres@127.0.0.1:$PORT/burnrate"
}

down() {
  local pg
  pg="$(major)"
  as_root pg_ctlcluster "$pg" "$CLUSTER" stop 2>/dev/null || true
  log "stopped"
}

# Everything that writes or reads PostgreSQL in ways TimescaleDB changes: migrations (hypertables, compression,
# retention, continuous aggregates), the recorder's writes (into compressed chunks too), the api's queries, and the
# whole pipeline.
STORAGE_TESTS=(
  test/migrations.test.ts test/runs-writer.test.ts test/recorder.test.ts test/unpriced-models.test.ts
  test/secrets-at-rest.test.ts test/api.test.ts test/api-limits.test.ts test/pipeline.test.ts
  test/hostile-tenant.test.ts test/api-pagination.test.ts test/guard-api.test.ts
)

test_on_timescaledb() {
  local url
  url="$(up)"
  bash "$ROOT/scripts/infra.sh" up
  log "integration tests on TimescaleDB: ${STORAGE_TESTS[*]}"
  cd "$ROOT"
  DATABASE_URL="$url" BURNRATE_SKIP_INFRA=1 npx jest --selectProjects integration --runInBand --forceExit \
    "${STORAGE_TESTS[@]}" "$@"
  local hypertables
  hypertables="$(as_postgres "psql -p $PORT -d burnrate -Atqc 'select count(*) from timescaledb_information.hypertables'")"
  [ "$hypertables" -ge 1 ] || die "the tests ran, but the migrations made no hypertable: TimescaleDB was not used"
  log "TimescaleDB used: $hypertables hypertables"
  # the migrations on an Apache-only TimescaleDB (a third cluster): hypertables, and the rest skipped with a notice
  local apache
  apache="$(TIMESCALEDB_CLUSTER=tsdb-apache TIMESCALEDB_PORT=$((PORT + 1)) TIMESCALEDB_LICENSE=apache bash "$ROOT/scripts/timescaledb.sh" up)"
  log "migrations on an Apache-only TimescaleDB"
  DATABASE_URL="$apache" BURNRATE_SKIP_INFRA=1 npx jest --selectProjects integration --runInBand --forceExit \
    test/migrations.test.ts
  TIMESCALEDB_CLUSTER=tsdb-apache bash "$ROOT/scripts/timescaledb.sh" down
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  test)
    shift
    test_on_timescaledb "$@"
    ;;
  *) die "usage: $0 up|down|test" ;;
esac
