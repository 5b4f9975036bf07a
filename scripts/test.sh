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
npx tsc -p console/tsconfig.json --noEmit

step "build"
npm run --silent build

# Each jest run also writes its counts as JSON; the last line of `npm test` sums them as a plain
# "tests: N passed, N failed" line, the closing line a CI reads when it does not know jest's summary.
RESULTS="$(mktemp -d)"
trap 'rm -rf "$RESULTS"' EXIT
summary() {
  node -e '
    const fs = require("fs"); let passed = 0, failed = 0;
    for (const f of process.argv.slice(1)) { if (!fs.existsSync(f)) continue; const r = JSON.parse(fs.readFileSync(f, "utf8")); passed += r.numPassedTests; failed += r.numFailedTests; }
    console.log(`tests: ${passed} passed, ${failed} failed`);' "$RESULTS/unit.json" "$RESULTS/integration.json"
}

step "unit tests"
npx jest --selectProjects unit --silent --json --outputFile="$RESULTS/unit.json" || { summary; exit 1; }

step "local stack"
bash scripts/infra.sh up

step "integration and end-to-end tests"
BURNRATE_SKIP_INFRA=1 npx jest --selectProjects integration --runInBand --forceExit \
  --json --outputFile="$RESULTS/integration.json" "$@" || { summary; exit 1; }
echo
summary
