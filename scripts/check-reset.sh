#!/usr/bin/env bash
# Checks `npm run reset` (scripts/infra.sh reset) on the local stack: after it, Kafka has no topics left, PostgreSQL no
# burnrate database with data in it, and the stack starts afresh. CI runs it before `npm test`, which then starts from
# nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}" PGPASSWORD="${PGPASSWORD:-postgres}"
fail() {
  printf '[check-reset] FAILED: %s\n' "$*" >&2
  exit 1
}
psql_() { PATH="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1):$PATH" psql -d postgres -Atc "$1"; }

bash scripts/infra.sh up
psql_ "create database burnrate_resetcheck" >/dev/null
[ -d .burnrate/infra/kafka/data ] || fail "no Kafka data before the reset: nothing to check"
npm run --silent reset
[ ! -e .burnrate/infra/kafka/data ] || fail "Kafka's data is still there"
bash scripts/infra.sh up
left="$(psql_ "select string_agg(datname, ',') from pg_database where datname like 'burnrate\_%'")"
[ -z "$left" ] || fail "databases left: $left"
[ -z "$(PATH="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1):$PATH" psql -d burnrate -Atc "select to_regclass('burnrate_migrations')")" ] ||
  fail "the burnrate database kept its tables"
echo "[check-reset] npm run reset removed the stack's data, and it started afresh"
