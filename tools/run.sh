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
    # --xds: the xDS interop demo (no build, no root). --help: the flags.
    for a in "$@"; do
      case "$a" in
        --xds) node libs/xds/scripts/generate-protos.mjs && exec tsx tools/demo-xds.ts ;;
        -h|--help) exec tsx tools/demo.ts --help ;;
      esac
    done
    kind=0
    for a in "$@"; do [ "$a" = --kind ] && kind=1; done
    if [ "$kind" = 0 ] && [ "$(id -u)" != 0 ]; then
      echo "tsmesh demo: the local runtime needs root: each pod gets a network namespace, a veth and iptables rules." >&2
      echo "  run it as root (sudo npm run demo), or: npm run demo -- --kind (kind and Docker), npm run demo -- --xds (no root)" >&2
      exit 1
    fi
    apps=(proxy control-plane ca injector todolist caller callme local-runtime cli dashboard)
    log="$(mktemp /tmp/tsmesh-demo-build.XXXXXX.log)"
    echo "tsmesh demo: building the apps (${apps[*]}); log in $log" >&2
    if ! nx run-many -t build -p "${apps[@]}" --outputStyle=static >"$log" 2>&1; then
      tail -n 40 "$log" >&2
      echo "tsmesh demo: the build failed (full log: $log)" >&2
      exit 1
    fi
    echo "tsmesh demo: apps built" >&2
    rm -f "$log"
    # tsx as a loader in this very process, not the tsx CLI: the CLI relays signals to a child and
    # SIGKILLs it when it does not acknowledge one at once, which would skip the teardown.
    exec node --import tsx tools/demo.ts "$@"
    ;;
  test)
    exec bash tools/test.sh "$@"
    ;;
  *)
    echo "usage: tools/run.sh demo|test" >&2
    exit 2
    ;;
esac
