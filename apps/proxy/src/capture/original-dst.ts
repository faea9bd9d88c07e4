/** The pre-NAT destination of a connection redirected by iptables (SO_ORIGINAL_DST), via a small Node-API addon. */
import { createRequire } from 'node:module';
import type net from 'node:net';

interface Addon {
  getOriginalDst(fd: number): { address: string; port: number; family: number };
}

let addon: Addon | null | undefined;

function load(): Addon | null {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)('tsmesh-original-dst') as Addon;
  } catch {
    addon = null;
  }
  return addon;
}

/** True when the addon is loaded (Linux, built on install). */
export function originalDstAvailable(): boolean {
  return load() !== null;
}

/**
 * The original destination of `socket`, or null when the connection was not redirected (no NAT
 * entry) or the addon is missing; callers then use the socket's local address.
 */
export function originalDst(socket: net.Socket): { address: string; port: number } | null {
  const a = load();
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (!a || fd === undefined || fd < 0) return null;
  try {
    const d = a.getOriginalDst(fd);
    return { address: d.address, port: d.port };
  } catch {
    return null;
  }
}
