/**
 * Which routes a Gateway listener admits (`allowedRoutes`), as Gateway API defines it: by namespace
 * (`from: Same` (default), `All`, or `Selector` — a label selector over the route namespace's
 * labels) and by kind (`kinds`, default: the kinds the listener's protocol supports).
 */
import type { ConfigResource } from '../resource';
import { GATEWAY_API_GROUP } from '../kinds';
import type { GatewayListener } from '../types/gateway-api';

/** Route kinds tsmesh attaches to a listener of each protocol (the default of `allowedRoutes.kinds`); TLS is {@link supportedRouteKinds}'s, by mode. */
export const SUPPORTED_ROUTE_KINDS: Record<string, readonly string[]> = { HTTP: ['HTTPRoute', 'GRPCRoute'], HTTPS: ['HTTPRoute', 'GRPCRoute'], TCP: ['TCPRoute'] };

/**
 * Route kinds a listener supports: HTTP / HTTPS take HTTPRoute and GRPCRoute; TLS Passthrough takes
 * TLSRoute (routed by SNI, TLS not terminated); TLS Terminate takes TLSRoute and TCPRoute (the
 * decrypted stream proxied as TCP); TCP takes TCPRoute. UDP (and anything else) takes none.
 */
export function supportedRouteKinds(l: GatewayListener): readonly string[] {
  if (l.protocol === 'TLS') return l.tls?.mode === 'Passthrough' ? ['TLSRoute'] : ['TLSRoute', 'TCPRoute'];
  return SUPPORTED_ROUTE_KINDS[l.protocol] ?? [];
}

type Selector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };

/** Whether `labels` satisfy a Kubernetes label selector (an empty selector selects everything). */
export function selectorMatches(sel: Selector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** The labels of each Namespace in a config set (a Namespace without an object has only `kubernetes.io/metadata.name`). */
export function namespaceLabels(byKind: (kind: string) => readonly ConfigResource[]): (ns: string) => Record<string, string> {
  const m = new Map(byKind('Namespace').map((n) => [n.name, (n.object as { metadata?: { labels?: Record<string, string> } }).metadata?.labels ?? {}]));
  return (ns) => ({ 'kubernetes.io/metadata.name': ns, ...(m.get(ns) ?? {}) });
}

/** The route kinds a listener admits: `allowedRoutes.kinds` that tsmesh supports, or the protocol's default. */
export function listenerRouteKinds(l: GatewayListener): string[] {
  const supported = supportedRouteKinds(l);
  const listed = l.allowedRoutes?.kinds;
  if (!listed?.length) return [...supported];
  return listed.filter((k) => (k.group ?? GATEWAY_API_GROUP) === GATEWAY_API_GROUP && supported.includes(k.kind)).map((k) => k.kind);
}

/** `allowedRoutes.kinds` entries tsmesh cannot attach to this listener (listener `ResolvedRefs` `InvalidRouteKinds`). */
export function invalidRouteKinds(l: GatewayListener): string[] {
  const supported = supportedRouteKinds(l);
  return (l.allowedRoutes?.kinds ?? []).filter((k) => (k.group ?? GATEWAY_API_GROUP) !== GATEWAY_API_GROUP || !supported.includes(k.kind)).map((k) => `${k.group ?? GATEWAY_API_GROUP}/${k.kind}`);
}

/** Whether a listener of a Gateway in `gwNs` admits a route of `routeKind` from `routeNs`. */
export function listenerAllows(l: GatewayListener, gwNs: string, routeNs: string, routeKind: string, labelsOf: (ns: string) => Record<string, string>): boolean {
  if (!listenerRouteKinds(l).includes(routeKind)) return false;
  const ns = l.allowedRoutes?.namespaces;
  const from = ns?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Same') return gwNs === routeNs;
  if (from === 'Selector') return !!ns?.selector && selectorMatches(ns.selector as Selector, labelsOf(routeNs));
  return false;
}
