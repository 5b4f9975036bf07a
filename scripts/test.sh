#!/usr/bin/env bash
# `npm test`: the whole suite. Lint and types, unit specs, then integration and end-to-end tests against the real
# local stack (started here when it is not up; `npm run infra:down` stops it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

step "lint (eslint, prettier)"
npx eslint --max-warnings 0 .
npx prettier --check . >/dev/null || { npx prettier --check . ; exit 1; }

step "typecheck"
npx tsc -p tsconfig.json --noEmit

step "build"
npm run --silent build

step "unit tests"
npx jest --selectProjects unit --silent

step "local stack"
bash scripts/infra.sh up

step "integration and end-to-end tests"
BURNRATE_SKIP_INFRA=1 npx jest --selectProjects integration --runInBand --forceExit "$@"
