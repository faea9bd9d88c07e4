/**
 * Gateway API routes merged per Gateway listener port and hostname, as the specification orders
 * them (see `@tsmesh/mesh-config` `gateway-api/precedence`): every HTTPRoute / GRPCRoute attached to
 * the listeners of one port contributes its rules to each hostname its own hostnames cover, and
 * the rules of one hostname are sorted across routes — match precedence, then the route's own
 * hostname, then the oldest route, then `{namespace}/{name}`, then rule order. An identical match
 * of a later route is dropped (the older route wins the conflict; the later one stays Accepted).
 *
 * Each hostname is served by the routes of its most specific listener on that port only (listener
 * isolation): a request for `abc.foo.example.com` on a Gateway with listeners `*`, `*.example.com`
 * and `abc.foo.example.com` sees only the routes attached to the last; a listener hostname without
 * routes answers 404 rather than falling through to a wider listener's routes.
 *
 * The result is one VirtualService per (port, hostname), bound to the generated Istio Gateway,
 * every match limited to its listener port, and named so that its Envoy routes say which route
 * and rule they came from (`<namespace>.<route>.<rule index>`).
 */
import type { ConfigResource, HTTPRoute as IstioHTTPRoute, KubernetesGatewayObject, VirtualServiceSpec } from '@tsmesh/mesh-config';
import { compareRouteAge, comparePrecedence, hostnameCovers, hostnameSpecificity } from '@tsmesh/mesh-config';

type Listener = KubernetesGatewayObject['spec']['listeners'][number];

/** One rule match of a route as an Istio HTTP route, with its Gateway API precedence vector. */
export interface RuleEntry {
  p: number[];
  /** Index of the rule in the route. */
  rule: number;
  r: IstioHTTPRoute;
}

/** A route attached to one listener under one (intersected) hostname. */
export interface Attachment {
  /** `namespace/name` of the Gateway. */
  gateway: string;
  listener: Listener;
  /** The listener and route hostnames intersected (`*` when neither has one). */
  host: string;
  /** The route's own hostname this attachment came from (undefined: the route has none). */
  routeHost: string | undefined;
  resource: ConfigResource;
  entries: readonly RuleEntry[];
}

/** The generated VirtualServices for one Gateway. */
export interface MergedVirtualService {
  name: string;
  namespace: string;
  spec: VirtualServiceSpec;
  resource: ConfigResource;
  sources: readonly ConfigResource[];
}

const specificity = (h: string | undefined) => hostnameSpecificity(h);

/** The listener of `port` that receives requests for `host`: the most specific hostname covering it. */
function owningListener(listeners: readonly Listener[], host: string): Listener | undefined {
  let best: Listener | undefined;
  for (const l of listeners) {
    if (!hostnameCovers(l.hostname, host)) continue;
    if (!best || comparePrecedence(specificity(l.hostname), specificity(best.hostname)) < 0) best = l;
  }
  return best;
}

const sameHostname = (a: Listener, b: Listener) => (a.hostname ?? '') === (b.hostname ?? '');

/** Merges the attachments of one Gateway into VirtualServices, one per listener port and hostname. */
export function mergeGatewayRoutes(gateway: ConfigResource, listeners: readonly Listener[], attachments: readonly Attachment[], istioGateway: string): MergedVirtualService[] {
  const out: MergedVirtualService[] = [];
  const ports = [...new Set(listeners.map((l) => l.port))].sort((a, b) => a - b);
  for (const port of ports) {
    const onPort = listeners.filter((l) => l.port === port);
    const attached = attachments.filter((a) => a.listener.port === port);
    // Hostnames served on this port: every intersected hostname, and every listener hostname that
    // a wider listener's routes would otherwise serve (isolation: it answers 404 instead).
    const hosts = new Set(attached.map((a) => a.host));
    for (const l of onPort) {
      if (l.hostname && attached.some((a) => !sameHostname(a.listener, l) && hostnameCovers(a.host, l.hostname!))) hosts.add(l.hostname);
    }
    for (const host of [...hosts].sort()) {
      const owner = owningListener(onPort, host);
      if (!owner) continue;
      const applicable = attached.filter((a) => sameHostname(a.listener, owner) && hostnameCovers(a.host, host));
      const ranked = applicable.flatMap((a) => a.entries.map((e) => ({ e, a })));
      ranked.sort((x, y) => comparePrecedence(x.e.p, y.e.p)
        || comparePrecedence(specificity(x.a.routeHost), specificity(y.a.routeHost))
        || compareRouteAge(x.a.resource, y.a.resource)
        || x.e.rule - y.e.rule);
      const seen = new Set<string>();
      const http: IstioHTTPRoute[] = [];
      for (const { e } of ranked) {
        const key = JSON.stringify(e.r.match ?? []);
        if (seen.has(key)) continue; // the same match in a later rule or route: the earlier one serves
        seen.add(key);
        http.push({ ...e.r, match: (e.r.match ?? [{}]).map((m) => ({ ...m, port })) });
      }
      // A listener hostname no route serves answers 404 (a wider listener's routes must not serve it).
      if (!http.length) http.push({ name: `${gateway.namespace}.${gateway.name}.${port}.no-route`, match: [{ port }], directResponse: { status: 404 } });
      const sources = [gateway, ...new Set(applicable.map((a) => a.resource))];
      out.push({
        name: `${gateway.name}-${port}-${host.replace('*', 'wildcard')}-istio-autogenerated-k8s-gateway`,
        namespace: gateway.namespace,
        resource: gateway,
        sources,
        spec: { hosts: [host], gateways: [`${gateway.namespace}/${istioGateway}`], http },
      });
    }
  }
  return out;
}

/** A GAMMA route (Service parent) converted on its own, with its rules for merging. */
export interface MeshAttachment {
  /** The Service host and who sees the route: `host|` for a producer route, `host|<namespace>` for a consumer route. */
  key: string;
  vs: { name: string; namespace: string; spec: VirtualServiceSpec; resource: ConfigResource };
  /** The rules with their route names and the parentRef's port applied. */
  entries: readonly RuleEntry[];
}

/**
 * GAMMA routes for the same Service and the same callers (every caller for producer routes, one
 * namespace for consumer routes) merged into one VirtualService, in the same precedence as on a
 * Gateway listener (match, then the oldest route, then `{namespace}/{name}`, then rule order; an
 * identical match of a later route dropped). A Service with one route keeps that route's own
 * VirtualService. The merged one is named after the oldest route and lists every route it holds.
 */
export function mergeMeshRoutes(list: readonly MeshAttachment[]): (MeshAttachment['vs'] & { sources?: readonly ConfigResource[] })[] {
  const groups = new Map<string, MeshAttachment[]>();
  for (const a of list) groups.set(a.key, [...(groups.get(a.key) ?? []), a]);
  const out: (MeshAttachment['vs'] & { sources?: readonly ConfigResource[] })[] = [];
  for (const g of groups.values()) {
    if (g.length === 1) {
      out.push(g[0].vs);
      continue;
    }
    const ranked = g.flatMap((a) => a.entries.map((e) => ({ e, a })));
    ranked.sort((x, y) => comparePrecedence(x.e.p, y.e.p) || compareRouteAge(x.a.vs.resource, y.a.vs.resource) || x.e.rule - y.e.rule);
    const seen = new Set<string>();
    const http: IstioHTTPRoute[] = [];
    for (const { e } of ranked) {
      const key = JSON.stringify(e.r.match ?? []);
      if (seen.has(key)) continue;
      seen.add(key);
      http.push(e.r);
    }
    const first = g[0].vs;
    out.push({ ...first, spec: { ...first.spec, http }, sources: [...new Set(g.map((a) => a.vs.resource))] });
  }
  return out;
}
