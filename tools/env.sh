#!/usr/bin/env bash
# Puts Node.js 24 and node_modules/.bin on PATH, installing what is missing (Node.js 24 from the
# npm registry into .tools/, npm packages, Debian packages). Source it in your shell
# (`source tools/env.sh`) or from a script (tools/run.sh does). It leaves the caller's shell
# options alone, and on failure it says why and returns 1 — it never closes your shell.
_tsmesh_env() {
local ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
NODE_MAJOR_WANTED=24
# iptables and ip live in sbin; make sure they are found even with a minimal PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
local TOOLS_DIR="$ROOT/.tools"

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt "$NODE_MAJOR_WANTED" ]; then
  if [ ! -x "$TOOLS_DIR/node/node_modules/node/bin/node" ]; then
    echo "tsmesh: machine Node is $(node -v 2>/dev/null || echo none); installing Node.js $NODE_MAJOR_WANTED from the npm registry into .tools/node" >&2
    mkdir -p "$TOOLS_DIR/node"
    npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      --prefix "$TOOLS_DIR/node" "node@$NODE_MAJOR_WANTED" >&2 || true
  fi
  export PATH="$TOOLS_DIR/node/node_modules/node/bin:$PATH"
fi
if [ "$(node_major)" -lt "$NODE_MAJOR_WANTED" ]; then
  echo "tsmesh: could not provide Node.js $NODE_MAJOR_WANTED (have $(node -v 2>/dev/null || echo none))" >&2
  return 1
fi

# Debian packages the runtime and tests use (network namespaces, iptables, openssl as verifier).
local need_deb=()
command -v iptables >/dev/null 2>&1 || need_deb+=(iptables)
command -v ip >/dev/null 2>&1 || need_deb+=(iproute2)
command -v openssl >/dev/null 2>&1 || need_deb+=(openssl)
if [ "${#need_deb[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tsmesh: installing Debian packages: ${need_deb[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_deb[@]}" >&2 ||
      echo "tsmesh: could not install ${need_deb[*]}" >&2
  else
    echo "tsmesh: missing ${need_deb[*]} (install them, or run as root on Debian)" >&2
  fi
fi
# Optional: the demo's Prometheus (the demo and its test run without it, and say so), and
# Chromium for the dashboard's browser test (e2e) and screenshot (skipped, saying so, without it).
local want_deb=()
[ -x /usr/bin/prometheus ] || [ "${TSMESH_NO_PROMETHEUS:-}" = 1 ] || want_deb+=(prometheus)
[ -x /usr/bin/chromium ] || [ "${TSMESH_NO_CHROMIUM:-}" = 1 ] || want_deb+=(chromium)
if [ "${#want_deb[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "tsmesh: installing optional Debian packages: ${want_deb[*]}" >&2
  [ "${#need_deb[@]}" -gt 0 ] || DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want_deb[@]}" >&2 ||
    echo "tsmesh: could not install ${want_deb[*]}; the demo runs without Prometheus, the dashboard's browser test is skipped" >&2
fi

# npm packages: a clean install on a fresh clone; an in-place install when the lockfile changed.
local stamp="$ROOT/node_modules/.tsmesh-installed"
if [ ! -d "$ROOT/node_modules" ] || [ ! -f "$ROOT/node_modules/.package-lock.json" ]; then
  echo "tsmesh: installing npm packages (npm ci)" >&2
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2) || { echo "tsmesh: npm ci failed" >&2; return 1; }
  touch "$stamp"
elif [ ! -f "$stamp" ] || [ "$ROOT/package-lock.json" -nt "$stamp" ]; then
  echo "tsmesh: package-lock.json changed; updating npm packages (npm install)" >&2
  (cd "$ROOT" && flock /tmp/tsmesh-npm.lock npm install --no-audit --no-fund --loglevel=error >&2) || { echo "tsmesh: npm install failed" >&2; return 1; }
  touch "$stamp"
fi
export PATH="$ROOT/node_modules/.bin:$PATH"
export VITE_CONFIG_NATIVE_IGNORE_WARNING=true NX_DAEMON=false NX_NO_CLOUD=true NX_SKIP_NX_CACHE="${NX_SKIP_NX_CACHE:-}" NX_TUI=false
}
_tsmesh_env
_tsmesh_env_rc=$?
unset -f _tsmesh_env node_major
# sourced: return to the caller's shell; run as a script: exit
if [ "$_tsmesh_env_rc" != 0 ]; then unset _tsmesh_env_rc; return 1 2>/dev/null || exit 1; fi
unset _tsmesh_env_rc
