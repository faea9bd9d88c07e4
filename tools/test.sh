#!/usr/bin/env bash
# The whole test suite: lint, typecheck, unit and integration tests, build, for every project.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
rm -rf "$ROOT/.reports"
mkdir -p "$ROOT/.reports"
status=0
nx run-many -t lint typecheck test build --outputStyle=static --parallel=2 "$@" || status=$?
node tools/summarize-tests.mjs "$ROOT/.reports" || status=$?
exit $status
