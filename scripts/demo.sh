#!/usr/bin/env bash
# `npm run demo`: the local stack and every service, then synthetic history and a runaway agent; prints the breakdown.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/stack.sh up
node dist/scripts/demo.js
