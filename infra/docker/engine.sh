#!/usr/bin/env bash
# Makes sure a Docker engine answers, for the image tests and the kind path:
#   infra/docker/engine.sh          exit 0: an engine runs (started here if needed)
#                                   exit 3: none runs and none can be installed here (not root, or no apt-get)
#                                   exit 1: one was installed or started and does not answer (see the log named)
# An engine already answering (DOCKER_HOST, Docker Desktop, a system service) is used as it is.
# Otherwise, as root on Debian: installs `docker.io` when dockerd is missing and starts dockerd in
# the background (log: /tmp/tsmesh-dockerd.log), with --iptables=false so the engine leaves this
# machine's firewall (and the local runtime's bridge rules) alone; published ports go through
# docker-proxy and containers on one network reach each other over its bridge.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
LOG="${TSMESH_DOCKERD_LOG:-/tmp/tsmesh-dockerd.log}"

answers() { command -v docker >/dev/null 2>&1 && timeout 20 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

answers && exit 0
exec 9>/tmp/tsmesh-docker.lock
flock 9
answers && exit 0

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "engine: no Docker engine runs and none can be installed here (needs root and apt-get; or start one and set DOCKER_HOST)" >&2
    exit 3
  fi
  echo "engine: installing Debian's docker.io" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >&2
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "engine: dockerd is installed but not running, and only root can start it here" >&2
    exit 3
  fi
  echo "engine: starting dockerd (log: $LOG)" >&2
  setsid nohup dockerd --iptables=false --ip-masq=false >"$LOG" 2>&1 < /dev/null &
fi
for _ in $(seq 1 60); do
  answers && { echo "engine: Docker $(docker info --format '{{.ServerVersion}}') answers" >&2; exit 0; }
  sleep 1
done
echo "engine: dockerd does not answer after 60 s; see $LOG" >&2
tail -n 20 "$LOG" >&2 2>/dev/null || true
exit 1
