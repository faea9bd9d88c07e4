/**
 * GRPCRoute read as the HTTPRoute it means on the wire: gRPC calls are HTTP/2 POSTs to
 * `/<service>/<method>`, so a method match becomes a path match — service and method Exact →
 * path Exact `/<service>/<method>`; service only → PathPrefix `/<service>/`; method only →
 * RegularExpression `/[^/]+/<method>`; RegularExpression → `/<service or [^/]+>/<method or [^/]+>` —
 * and headers, header modifiers, mirrors and weighted backendRefs carry over unchanged.
 */
import type { GRPCRouteObject, HTTPRouteObject, HTTPRouteMatchApi } from '../types/gateway-api';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type GrpcMatch = NonNullable<NonNullable<NonNullable<GRPCRouteObject['spec']>['rules']>[number]['matches']>[number];

function pathOf(m: GrpcMatch): HTTPRouteMatchApi['path'] | undefined {
  const mm = m.method;
  if (!mm || (!mm.service && !mm.method)) return undefined;
  if ((mm.type ?? 'Exact') === 'RegularExpression') return { type: 'RegularExpression', value: `/${mm.service ?? '[^/]+'}/${mm.method ?? '[^/]+'}` };
  if (mm.service && mm.method) return { type: 'Exact', value: `/${mm.service}/${mm.method}` };
  if (mm.service) return { type: 'PathPrefix', value: `/${mm.service}/` };
  return { type: 'RegularExpression', value: `/[^/]+/${escape(mm.method!)}` };
}

/** The HTTPRoute a GRPCRoute is routed as (same metadata and parents). */
export function grpcRouteAsHttpRoute(g: GRPCRouteObject): HTTPRouteObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: g.metadata,
    spec: {
      parentRefs: g.spec?.parentRefs,
      hostnames: g.spec?.hostnames,
      rules: (g.spec?.rules ?? [{}]).map((r) => ({
        ...(r.matches?.length ? {
          matches: r.matches.map((m) => ({
            ...(pathOf(m) ? { path: pathOf(m) } : {}),
            ...(m.headers?.length ? { headers: m.headers.map((h) => ({ name: h.name, value: h.value, type: h.type ?? 'Exact' })) } : {}),
          })),
        } : {}),
        ...(r.filters?.length ? { filters: r.filters as NonNullable<NonNullable<HTTPRouteObject['spec']['rules']>[number]['filters']> } : {}),
        ...(r.backendRefs?.length ? { backendRefs: r.backendRefs as NonNullable<NonNullable<HTTPRouteObject['spec']['rules']>[number]['backendRefs']> } : {}),
      })),
    },
  } as HTTPRouteObject;
}
