#!/usr/bin/env bash
# Fuzzes both OpenAPI documents (the api's and ingestion's) with schemathesis against the running services: every
# operation with generated valid and invalid input, as a team key and as an admin key, with every check schemathesis
# has (status codes, content types, headers and bodies as documented, invalid input refused, valid input taken, 405s,
# auth not ignored...). Fails on any failure; scripts/schemathesis.toml lists the few cross-field rules a schema cannot
# state (FUZZ_CHECKS=not_a_server_error narrows it to 5xx only). CI runs it
# before `npm test`; locally: `bash scripts/fuzz-api.sh`. It runs the services on a database of its own
# (burnrate_fuzz, dropped and made again each time), because what the admin key creates there (catch-all routes,
# settings, keys) must not reach the local stack's or the tests' data; the services are stopped again at the end.
# FUZZ_MAX_EXAMPLES (default 40) bounds the cases per operation; FUZZ_SEED (default 1) picks them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[fuzz] %s\n' "$*" >&2; }

VENV="${BURNRATE_TOOLS_DIR:-$ROOT/.burnrate/tools}/schemathesis"
if [ ! -x "$VENV/bin/st" ]; then
  log "installing schemathesis from PyPI into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4.3,<5'
fi

API="http://127.0.0.1:${API_PORT:-8080}"
INGESTION="http://127.0.0.1:${INGESTION_PORT:-8081}"
FUZZ_DB="${FUZZ_DATABASE:-burnrate_fuzz}"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}" PGPASSWORD="${PGPASSWORD:-postgres}"
bash scripts/infra.sh up
psql -d postgres -qc "drop database if exists $FUZZ_DB with (force)" -c "create database $FUZZ_DB" >/dev/null
bash scripts/stack.sh down
trap 'bash scripts/stack.sh down' EXIT
# The local admin key, when there is one, is registered in the fuzz database too, so .burnrate/admin-key stays valid.
if [ -z "${BURNRATE_ADMIN_KEY:-}" ] && [ -s .burnrate/admin-key ]; then BURNRATE_ADMIN_KEY="$(cat .burnrate/admin-key)"; fi
export BURNRATE_ADMIN_KEY
DATABASE_URL="postgres://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$FUZZ_DB" bash scripts/stack.sh up

ADMIN="$(cat .burnrate/admin-key)"
TEAM_KEY="$(curl -fsS -XPOST "$API/v1/api-keys" -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' \
  -d '{"team":"fuzz","name":"schemathesis","role":"team"}' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).key))')"

# schemathesis's report goes to a log and is printed only when it found something: its closing banner
# ("=== 3 warnings in 18.82s ===") is shaped like pytest's, and a CI reading the log's closing lines would take it
# for a test runner that ran no test.
LOGS="$ROOT/.burnrate/logs"
mkdir -p "$LOGS"
fuzz() {
  local name="$1" url="$2" key="$3" out
  shift 3
  out="$LOGS/fuzz-$(printf '%s' "$name" | tr -c 'a-z0-9' '-').log"
  if "$VENV/bin/st" --config-file "$ROOT/scripts/schemathesis.toml" run "$url/openapi.json" "$@" \
    --url "$url" \
    --checks "${FUZZ_CHECKS:-all}" \
    --header "Authorization: Bearer $key" \
    --max-examples "${FUZZ_MAX_EXAMPLES:-40}" \
    --request-timeout 20 \
    --seed "${FUZZ_SEED:-1}" \
    --no-color >"$out" 2>&1; then
    log "$name: $(grep -Eo '[0-9]+ generated, [0-9]+ passed' "$out" | tail -1 || true) (report: $out)"
  else
    log "$name: FAILED; the report ($out):"
    sed -E 's/^=+ (.*) =+$/-- \1 --/' "$out" >&2
    return 1
  fi
}

status=0
fuzz "api, team key" "$API" "$TEAM_KEY" || status=1
# (not DELETE as the admin: it would revoke the key it fuzzes with, and the local stack's admin key with it)
fuzz "api, admin key" "$API" "$ADMIN" --exclude-method DELETE || status=1
fuzz "ingestion, team key" "$INGESTION" "$TEAM_KEY" || status=1
[ "$status" -eq 0 ] && log "no failure in either document" || log "schemathesis found failures (above)"
exit "$status"
