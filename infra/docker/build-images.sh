#!/usr/bin/env bash
# Builds the tsmesh images: tsmesh/<app>:<tag> for proxy control-plane ca injector todolist caller callme.
#
#   infra/docker/build-images.sh [--host] [--tag TAG] [app ...]
#
# Default: everything is built inside the official Node image (needs an image registry).
# --host:  no image registry needed. A base image is made from this machine's own Node runtime (node,
#          /bin/sh and iptables with their shared libraries, imported with `docker import`), the bundles
#          and production node_modules are prepared here, and the Dockerfile only copies them in.
# Builds on one machine take turns (flock /tmp/tsmesh-images.lock): the infra image tests and the
# e2e suite build the same tags, and the second build finds every layer in the cache.
# With buildx, images are built without provenance/SBOM attestations: `kind load docker-image`
# cannot import an image index with attestations from Docker's containerd image store.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
HOST=0
TAG=latest
APPS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --host) HOST=1 ;;
    --tag) TAG="$2"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) APPS+=("$1") ;;
  esac
  shift
done
[ ${#APPS[@]} -eq 0 ] && APPS=(proxy control-plane ca injector todolist caller callme)
export DOCKER_BUILDKIT=1
# A client that builds with BuildKit: docker with buildx, else a classic client with BuildKit built in.
DOCKER="${DOCKER:-docker}"
command -v "$DOCKER" >/dev/null || { echo "build-images: docker is not installed" >&2; exit 1; }
if ! "$DOCKER" buildx version >/dev/null 2>&1; then
  for candidate in /usr/bin/docker /usr/local/bin/docker; do
    if [ -x "$candidate" ] && "$candidate" version --format '{{.Client.Version}}' 2>/dev/null | grep -qE '^(19|20|21|22)\.'; then DOCKER="$candidate"; break; fi
  done
fi
"$DOCKER" info >/dev/null 2>&1 || { echo "build-images: no Docker engine is running (infra/docker/engine.sh starts one)" >&2; exit 1; }
attest=()
if "$DOCKER" buildx version >/dev/null 2>&1; then attest=(--provenance=false --sbom=false); fi

exec 8>"${TSMESH_IMAGES_LOCK:-/tmp/tsmesh-images.lock}"
flock 8

build_args=()
CONTEXT="$ROOT"
if [ "$HOST" = 1 ]; then
  BASE="tsmesh/node-base:host"
  bash "$ROOT/infra/docker/host-base-image.sh" "$BASE"
  # Bundles and each app's production packages, made on this machine.
  # A fixed folder per checkout (the bundles name their sources by relative path): unchanged code
  # stages the same bytes, and an image already built from them is kept.
  CONTEXT="${TMPDIR:-/tmp}/tsmesh-image-context-$(printf %s "$ROOT" | sha256sum | cut -c1-12)"
  mkdir -p "$CONTEXT"
  base="$("$DOCKER" image inspect "$BASE" --format '{{index .Config.Labels "tsmesh.base"}}')"
  node infra/docker/stage.mjs --keep-built "$TAG" --base "$base" "$CONTEXT" "${APPS[@]}" >&2
  cp infra/docker/Dockerfile.dockerignore "$CONTEXT/.dockerignore"
  build_args=(--build-arg "NODE_IMAGE=$BASE" --build-arg BUILD_MODE=host)
fi

for app in "${APPS[@]}"; do
  label=()
  if [ "$HOST" = 1 ]; then
    inputs="$(cat "$CONTEXT/.docker-stage/inputs/$app")"
    label=(--label "tsmesh.inputs=$inputs")
    if [ "$("$DOCKER" image inspect "tsmesh/$app:$TAG" --format '{{index .Config.Labels "tsmesh.inputs"}}' 2>/dev/null || true)" = "$inputs" ]; then
      echo "build-images: tsmesh/$app:$TAG is up to date" >&2
      continue
    fi
  fi
  echo "build-images: tsmesh/$app:$TAG" >&2
  "$DOCKER" build -q -f infra/docker/Dockerfile "${build_args[@]}" "${attest[@]}" "${label[@]}" --target "$app" -t "tsmesh/$app:$TAG" "$CONTEXT" >/dev/null
done
"$DOCKER" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^tsmesh/' >&2 || true
