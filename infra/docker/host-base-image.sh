#!/usr/bin/env bash
# Makes a minimal base image from this machine's own files, for machines with no image registry:
# node (the one on PATH), /bin/sh, iptables/ip6tables (for istio-init) and their shared libraries,
# users root, node (1000) and istio-proxy (1337).   usage: host-base-image.sh [IMAGE]
set -euo pipefail
IMAGE="${1:-tsmesh/node-base:host}"
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT

copy_with_libs() {  # copies a binary (following links) and every shared library it needs
  local bin="$1" dest="${2:-$1}"
  mkdir -p "$rootfs$(dirname "$dest")"
  cp -L "$bin" "$rootfs$dest"
  ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    [ -e "$rootfs$lib" ] && continue
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
}

node_bin="$(node -p 'process.execPath')"
copy_with_libs "$node_bin" /usr/local/bin/node
copy_with_libs "$(readlink -f /bin/sh)" /bin/sh
for tool in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  path="$(command -v "$tool" || true)"
  [ -z "$path" ] && continue
  # Multi-call binaries (xtables-nft-multi, xtables-legacy-multi) pick their mode from argv[0]: link by name.
  real="$(readlink -f "$path")"
  copy_with_libs "$real" "/usr/sbin/$(basename "$real")"
  [ "$(basename "$real")" != "$tool" ] && ln -sf "$(basename "$real")" "$rootfs/usr/sbin/$tool"
done
for dir in /usr/lib/x86_64-linux-gnu/xtables /usr/lib/aarch64-linux-gnu/xtables /usr/lib/xtables; do
  if [ -d "$dir" ]; then
    mkdir -p "$rootfs$dir"
    cp -L "$dir"/*.so "$rootfs$dir/"
    for so in "$dir"/*.so; do copy_with_libs "$so" "$so"; done
  fi
done
mkdir -p "$rootfs/etc" "$rootfs/tmp" "$rootfs/app" "$rootfs/run/xtables" "$rootfs/var/run"
chmod 1777 "$rootfs/tmp"
cat > "$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:node:/home/node:/bin/sh
istio-proxy:x:1337:1337:istio-proxy:/tmp:/bin/sh
PASSWD
cat > "$rootfs/etc/group" <<'GROUP'
root:x:0:
node:x:1000:
istio-proxy:x:1337:
GROUP
echo 'hosts: files dns' > "$rootfs/etc/nsswitch.conf"
[ -d /etc/ssl/certs ] && mkdir -p "$rootfs/etc/ssl" && cp -rL /etc/ssl/certs "$rootfs/etc/ssl/" 2>/dev/null || true
# Same files, same image: a base whose content is unchanged is kept, so the layers built on it stay cached.
pack() { tar -C "$rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -c .; }
digest="$(pack | sha256sum | cut -c1-32)"
if [ "$(docker image inspect "$IMAGE" --format '{{index .Config.Labels "tsmesh.base"}}' 2>/dev/null || true)" = "$digest" ]; then
  echo "host-base-image: $IMAGE is up to date ($(node -v) from $node_bin)" >&2
  exit 0
fi
pack | docker import \
  -c 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c "LABEL tsmesh.base=$digest" \
  -c 'WORKDIR /app' - "$IMAGE" >/dev/null
echo "host-base-image: $IMAGE ($(node -v) from $node_bin)" >&2
