#!/usr/bin/env bash
# `npm run bench [-- --quick]`: the benchmarks against the real local stack; the last line is one JSON object.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/infra.sh up >&2
npm run --silent build >&2
node dist/scripts/migrate.js >/dev/null
# The benchmarks measure the pipeline, not the per-key rate limit (one key sends thousands of requests a second).
export RATE_LIMIT_PER_S="${RATE_LIMIT_PER_S:-0}"
exec node -r @swc-node/register bench/run-all.ts "$@"
