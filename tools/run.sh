#!/usr/bin/env bash
# Entry point behind `npm run demo` and `npm test`.
# Installs what the project needs (Node.js 24 when the machine's Node is older, npm packages,
# Debian packages), then runs the demo or the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=tools/env.sh
source "$ROOT/tools/env.sh"

cmd="${1:-test}"
shift || true
case "$cmd" in
  demo)
    exec tsx tools/demo-xds.ts "$@"
    ;;
  test)
    exec bash tools/test.sh "$@"
    ;;
  *)
    echo "usage: tools/run.sh demo|test" >&2
    exit 2
    ;;
esac
