/**
 * Gateway API's order of HTTPRoute matches (HTTPRouteRule `matches`, HTTPRouteSpec `hostnames`),
 * across every route attached to one listener and hostname:
 *
 * 1. the match: an `Exact` path, then a `RegularExpression` path (its place is left to
 *    implementations; tsmesh puts it between the two others), then a `PathPrefix` — longer paths
 *    first within each —, then a `method` match, then more header matches, then more query
 *    parameter matches;
 * 2. the route's own hostname: more characters in a non-wildcard hostname, then more characters
 *    (a route for `shop.example.com` before one for `*.example.com`, before one with none);
 * 3. the oldest route (`metadata.creationTimestamp`), then `{namespace}/{name}` alphabetically;
 * 4. within a route, the first rule, then the first match.
 *
 * A precedence vector starts with its route kind (0 HTTPRoute, 1 GRPCRoute; see
 * {@link grpcMatchPrecedence}), so the two kinds are never compared field by field.
 *
 * Two matches equal in every respect are a conflict, resolved by that same order: the first one
 * (the older route's) serves, and the other route stays Accepted.
 */
import type { ConfigResource } from '../resource';
import type { GRPCRouteObject, HTTPRouteMatchApi } from '../types/gateway-api';

const PATH_RANK: Record<string, number> = { Exact: 3, RegularExpression: 2, PathPrefix: 1 };

/** The precedence of one match, as a vector compared element by element (larger first). */
export function matchPrecedence(m: HTTPRouteMatchApi | undefined): number[] {
  const type = m?.path?.type ?? 'PathPrefix';
  return [0, PATH_RANK[type] ?? 0, (m?.path?.value ?? '/').length, m?.method ? 1 : 0, m?.headers?.length ?? 0, m?.queryParams?.length ?? 0];
}

/** Negative when vector `a` comes first (larger elements first), positive when `b` does, 0 on a tie. */
export function comparePrecedence(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return b[i] - a[i];
  return 0;
}

/** A route hostname's specificity: [characters when not a wildcard (else 0), characters] (none: [0, 0]). */
export function hostnameSpecificity(hostname: string | undefined): [number, number] {
  if (!hostname || hostname === '*') return [0, 0];
  return [hostname.startsWith('*') ? 0 : hostname.length, hostname.length];
}

/**
 * True when hostname `pattern` covers `host`: equal, `*` (or none), or a `*.suffix` wildcard over a
 * host with at least one more label (`*.example.com` covers `a.example.com`, `a.b.example.com`
 * and `*.a.example.com`, not `example.com`).
 */
export function hostnameCovers(pattern: string | undefined, host: string): boolean {
  if (!pattern || pattern === '*' || pattern === host) return true;
  if (!pattern.startsWith('*.')) return false;
  const suffix = pattern.slice(1);
  const h = host.startsWith('*.') ? host.slice(1) : host;
  return h.endsWith(suffix) && h.length > suffix.length;
}

/**
 * Gateway API hostname intersection of a listener hostname (none: any) and a route hostname,
 * either of which may be a `*.suffix` wildcard: the more specific of the two, or undefined when
 * they do not intersect.
 */
export function hostnameIntersection(listener: string | undefined, route: string): string | undefined {
  if (!listener || listener === route) return route;
  const within = (wild: string, h: string) => wild.startsWith('*.') && h.endsWith(wild.slice(1)) && h.length > wild.length - 1;
  if (within(listener, route)) return route;
  if (within(route, listener)) return listener;
  return undefined;
}

/** `metadata.creationTimestamp` in ms (a route without one sorts last). */
export function creationOf(r: ConfigResource): number {
  const t = (r.object as { metadata?: { creationTimestamp?: string | Date } }).metadata?.creationTimestamp;
  const ms = t ? new Date(t).getTime() : NaN;
  return Number.isNaN(ms) ? Number.MAX_SAFE_INTEGER : ms;
}

/** Route order on a tie of matches and hostnames: the oldest first, then `{namespace}/{name}` alphabetically. */
export function compareRouteAge(a: ConfigResource, b: ConfigResource): number {
  const d = creationOf(a) - creationOf(b);
  if (d) return d;
  const x = `${a.namespace}/${a.name}`;
  const y = `${b.namespace}/${b.name}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

type GrpcMatch = NonNullable<NonNullable<NonNullable<GRPCRouteObject['spec']>['rules']>[number]['matches']>[number];

/**
 * The precedence of one GRPCRoute match (GRPCRouteRule `matches`): more characters in the service,
 * then more characters in the method, then more header matches. On a hostname shared with
 * HTTPRoutes (a conflict Gateway API leaves to implementations), GRPCRoute matches come first: they
 * name gRPC service paths, which an HTTPRoute's catch-all would otherwise take.
 */
export function grpcMatchPrecedence(m: GrpcMatch | undefined): number[] {
  return [1, m?.method?.service?.length ?? 0, m?.method?.method?.length ?? 0, m?.headers?.length ?? 0];
}
