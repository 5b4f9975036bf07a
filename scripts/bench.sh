#!/usr/bin/env bash
# `npm run bench [-- --quick]`: the benchmarks against the real local stack; the last line is one JSON object.
# They work in a database (burnrate_<id>) and a topic namespace (<id>) of their own, removed when they end however they
# end (bench/scratch.ts): the demo's and the user's data are never touched, and the next `npm run up` finds no backlog.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/infra.sh up >&2
npm run --silent build >&2
BENCH_ID="bench$(date +%s)"
export BURNRATE_TOPIC_NAMESPACE="$BENCH_ID"
DATABASE_URL="$(node -r @swc-node/register bench/scratch.ts up "$BENCH_ID")"
export DATABASE_URL
trap 'node -r @swc-node/register bench/scratch.ts down "$BENCH_ID" >&2 || true' EXIT
node dist/scripts/migrate.js >/dev/null
# The benchmarks measure the pipeline, not the per-key rate limit (one key sends thousands of requests a second).
export RATE_LIMIT_PER_S="${RATE_LIMIT_PER_S:-0}"
node -r @swc-node/register bench/run-all.ts "$@"
