#!/usr/bin/env bash
# The whole test suite: lint, typecheck, unit and integration tests, build, for every project.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
rm -rf "$ROOT/.reports"
mkdir -p "$ROOT/.reports"
status=0
# The image tests (infra) build and start the images: make sure a Docker engine runs (installs
# Debian's docker.io and starts dockerd where none does and root can), once, before the parallel run.
bash "$ROOT/infra/docker/engine.sh" || echo "tsmesh: no Docker engine (infra/docker/engine.sh exited $?); the image tests say why" >&2
nx run-many -t lint typecheck test build --outputStyle=static --parallel=2 "$@" || status=$?
node tools/summarize-tests.mjs "$ROOT/.reports" || status=$?
exit $status
