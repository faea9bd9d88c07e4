/**
 * The match half of an EnvoyFilter patch: which listeners, filter chains, filters, route
 * configurations, virtual hosts, routes and clusters of a proxy a patch selects (Istio's
 * `EnvoyConfigObjectMatch` semantics).
 */
import { parseClusterName, type EnvoyJson } from '@tsmesh/xds';
import type { EnvoyFilterMatch } from '@tsmesh/mesh-config';
import type { Proxy } from '../../model/proxy';

/** Istio's patch contexts. */
export type PatchContext = 'SIDECAR_INBOUND' | 'SIDECAR_OUTBOUND' | 'GATEWAY';

export const VIRTUAL_INBOUND = 'virtualInbound';
export const VIRTUAL_OUTBOUND = 'virtualOutbound';
export const HCM_NAME = 'envoy.filters.network.http_connection_manager';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

/** True when a patch's `context` covers `ctx` (ANY or unset covers all). */
export function contextMatches(m: EnvoyFilterMatch | undefined, ctx: PatchContext): boolean {
  const want = m?.context ?? 'ANY';
  return want === 'ANY' || want === ctx;
}

/** `match.proxy`: `proxyVersion` (a regex on the node's `ISTIO_VERSION`) and `metadata` (exact values). */
export function proxyMatches(m: EnvoyFilterMatch | undefined, proxy: Proxy): boolean {
  const p = m?.proxy;
  if (!p) return true;
  if (p.proxyVersion) {
    const v = proxy.metadata.ISTIO_VERSION;
    if (typeof v !== 'string' || !new RegExp(p.proxyVersion).test(v)) return false;
  }
  for (const [k, v] of Object.entries(p.metadata ?? {})) if (String(proxy.metadata[k] ?? '') !== v) return false;
  return true;
}

/** The context of a listener of this proxy. */
export function listenerContext(proxy: Proxy, l: EnvoyJson): PatchContext {
  if (proxy.kind === 'router') return 'GATEWAY';
  return l.name === VIRTUAL_INBOUND || l.traffic_direction === 'INBOUND' ? 'SIDECAR_INBOUND' : 'SIDECAR_OUTBOUND';
}

/** The context of a cluster of this proxy. */
export function clusterContext(proxy: Proxy, c: EnvoyJson): PatchContext {
  if (proxy.kind === 'router') return 'GATEWAY';
  return String(c.name).startsWith('inbound|') ? 'SIDECAR_INBOUND' : 'SIDECAR_OUTBOUND';
}

const isVirtual = (l: EnvoyJson) => l.name === VIRTUAL_INBOUND || l.name === VIRTUAL_OUTBOUND;
const portOf = (l: EnvoyJson) => Number((l.address as { socket_address?: { port_value?: number } } | undefined)?.socket_address?.port_value ?? 0);

/**
 * `match.listener` on a listener: `name`, and `portNumber` on the listener's port — except for
 * patches below the listener on `virtualInbound`/`virtualOutbound`, whose port is matched on
 * each filter chain's destination port instead.
 */
export function listenerMatches(m: EnvoyFilterMatch | undefined, l: EnvoyJson, applyToListener: boolean): boolean {
  const lm = m?.listener;
  if (!lm) return true;
  if (lm.name && lm.name !== l.name) return false;
  if (!applyToListener && isVirtual(l)) return true;
  return !lm.portNumber || portOf(l) === lm.portNumber;
}

/** The HTTP connection manager filter of a chain, if any. */
export function hcmOf(chain: EnvoyJson): EnvoyJson | undefined {
  return ((chain.filters as EnvoyJson[] | undefined) ?? []).find((f) => f.name === HCM_NAME || (f.typed_config as EnvoyJson | undefined)?.['@type'] === HCM_TYPE);
}

/** `match.listener.filterChain` (and the port of a virtual listener) on one chain. */
export function chainMatches(m: EnvoyFilterMatch | undefined, l: EnvoyJson, chain: EnvoyJson): boolean {
  const lm = m?.listener;
  if (!lm) return true;
  const fcm = (chain.filter_chain_match ?? {}) as { destination_port?: { value?: number }; server_names?: string[]; transport_protocol?: string; application_protocols?: string[] };
  const dport = fcm.destination_port?.value ?? 0;
  if (lm.portNumber && isVirtual(l) && dport !== lm.portNumber) return false;
  const fc = lm.filterChain;
  if (!fc) return true;
  if (fc.name && fc.name !== chain.name) return false;
  if (fc.destinationPort && fc.destinationPort !== dport) return false;
  if (fc.sni && !(fcm.server_names ?? []).includes(fc.sni)) return false;
  if (fc.transportProtocol && fc.transportProtocol !== (fcm.transport_protocol ?? '')) return false;
  if (fc.applicationProtocols) {
    const have = fcm.application_protocols ?? [];
    for (const p of fc.applicationProtocols.split(',').map((s) => s.trim()).filter(Boolean)) if (!have.includes(p)) return false;
  }
  if (fc.filter?.name) {
    const filters = (chain.filters as EnvoyJson[] | undefined) ?? [];
    if (!filters.some((f) => f.name === fc.filter!.name)) return false;
    if (fc.filter.subFilter?.name && fc.filter.name !== HCM_NAME) return false;
  }
  return true;
}

/** The port a route configuration serves: sidecar RDS `<port>`, gateway `http.<port>` / `https.<port>.…`, or the inbound chain's port. */
export function routeConfigPort(name: string, inboundPort?: number): number {
  if (inboundPort !== undefined) return inboundPort;
  if (/^\d+$/.test(name)) return Number(name);
  const m = /^https?\.(\d+)(\.|$)/.exec(name);
  return m ? Number(m[1]) : 0;
}

/** `match.routeConfiguration` `name` and `portNumber` on a route configuration. */
export function routeConfigMatches(m: EnvoyFilterMatch | undefined, rc: EnvoyJson, inboundPort?: number): boolean {
  const rm = m?.routeConfiguration;
  if (!rm) return true;
  if (rm.name && rm.name !== rc.name) return false;
  return !rm.portNumber || routeConfigPort(String(rc.name ?? ''), inboundPort) === rm.portNumber;
}

/** `match.routeConfiguration.vhost` `name` and `domainName` on a virtual host. */
export function vhostMatches(m: EnvoyFilterMatch | undefined, vh: EnvoyJson): boolean {
  const v = m?.routeConfiguration?.vhost;
  if (!v) return true;
  if (v.name && v.name !== vh.name) return false;
  return !v.domainName || ((vh.domains as string[] | undefined) ?? []).includes(v.domainName);
}

/** `match.routeConfiguration.vhost.route` `name` and `action` on a route. */
export function routeMatches(m: EnvoyFilterMatch | undefined, r: EnvoyJson): boolean {
  const rm = m?.routeConfiguration?.vhost?.route;
  if (!rm) return true;
  if (rm.name && rm.name !== r.name) return false;
  switch (rm.action ?? 'ANY') {
    case 'ROUTE': return r.route !== undefined;
    case 'REDIRECT': return r.redirect !== undefined;
    case 'DIRECT_RESPONSE': return r.direct_response !== undefined;
    default: return true;
  }
}

/** `match.cluster` on a cluster: `name`, or the parts of Istio's cluster name (`service`, `portNumber`, `subset`). */
export function clusterMatches(m: EnvoyFilterMatch | undefined, c: EnvoyJson): boolean {
  const cm = m?.cluster;
  if (!cm) return true;
  const name = String(c.name ?? '');
  if (cm.name) return cm.name === name;
  if (!cm.service && !cm.portNumber && !cm.subset) return true;
  const parsed = parseClusterName(name);
  if (!parsed) return false;
  if (cm.service && cm.service !== parsed.host) return false;
  if (cm.portNumber && cm.portNumber !== parsed.port) return false;
  return !cm.subset || cm.subset === parsed.subset;
}
