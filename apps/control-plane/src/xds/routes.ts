/**
 * RDS: route tables. Sidecar outbound: one table per HTTP port (`<port>`), one virtual host per
 * service with all its names; gateways: `http.<port>` and `https.<port>.<server>`. VirtualService
 * HTTP routes become Envoy routes: matches (uri exact/prefix/regex, headers, method, authority,
 * query), weighted destinations with subsets, rewrite, redirect, direct response, retries,
 * timeouts, fault injection, mirroring and header manipulation.
 */
import {
  formatClusterName, headerValues, pack, ExtensionTypeUrl, routeConfiguration, virtualHost,
  type HeaderMatcher, type Route, type RouteAction, type RouteConfiguration, type RouteMatch, type VirtualHost,
} from '@tsmesh/xds';
import { isHttpProtocol, resolveHost, type Destination, type Headers, type HTTPRoute, type StringMatch } from '@tsmesh/mesh-config';
import type { PushContext, VirtualServiceConfig } from '../model/push-context';
import { matches } from '../model/push-context';
import type { Proxy } from '../model/proxy';
import type { ServiceModel } from '../registry/registry';
import { durationOf, fractionOf, PASSTHROUGH_CLUSTER, BLACKHOLE_CLUSTER } from './common';
import { corsPolicy, PREFIX_REDIRECT, retryPolicy } from './route-policies';

/** Where routes are being generated. */
export interface RouteContext {
  push: PushContext;
  proxy: Proxy;
  /** The port traffic arrived on (service port for sidecars, server port for gateways). */
  port: number;
  /** `mesh` for sidecars, `ns/name` of the Gateway for gateways. */
  gateway: string;
  /** Proxyless gRPC: only what @grpc/grpc-js-xds implements. */
  proxyless?: boolean;
}

/** The name of Envoy's fault filter, used as the key of per-route fault config. */
export const FAULT_FILTER = 'envoy.filters.http.fault';
/** The name of Envoy's CORS filter, used as the key of per-route CORS policies. */
export const CORS_FILTER = 'envoy.filters.http.cors';

/** Istio's retry host selection: avoid hosts already tried, re-picking up to 5 times. */
const RETRY_HOSTS = {
  retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: pack(ExtensionTypeUrl.PreviousHostsPredicate, {}) }],
  host_selection_retry_max_attempts: 5,
};

const DEFAULT_RETRY = { retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes', num_retries: { value: 2 }, retriable_status_codes: [503], ...RETRY_HOSTS };

const GRPC_CODES: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
  DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

const REDIRECT_CODES: Record<number, string> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };

/** Envoy `StringMatcher` from an Istio `StringMatch`. */
export function stringMatcher(m: StringMatch, ignoreCase = false): Record<string, unknown> {
  const base = ignoreCase ? { ignore_case: true } : {};
  if (m.exact !== undefined) return { ...base, exact: m.exact };
  if (m.prefix !== undefined) return { ...base, prefix: m.prefix };
  if (m.regex !== undefined) return { safe_regex: { regex: m.regex } };
  return { ...base, prefix: '' };
}

function headerMatcher(name: string, m: StringMatch, invert = false): HeaderMatcher {
  const h: HeaderMatcher = { name, string_match: stringMatcher(m) as never };
  if (invert) h.invert_match = true;
  return h;
}

/** The cluster of a destination: `outbound|<port>|<subset>|<fqdn>`. */
export function destinationCluster(ctx: RouteContext, d: Destination, namespace: string): string {
  const host = resolveHost(d.host, namespace, ctx.push.options.domain);
  const svc = ctx.push.registry.byHost.get(host);
  let port = d.port?.number;
  if (port === undefined) {
    if (svc?.ports.length === 1) port = svc.ports[0].port;
    else if (svc?.ports.some((p) => p.port === ctx.port)) port = ctx.port;
    else port = svc?.ports[0]?.port ?? ctx.port;
  }
  return formatClusterName({ direction: 'outbound', port, subset: d.subset ?? '', host });
}

function headerOps(h: Headers | undefined, into: Record<string, unknown>): void {
  if (!h) return;
  const req = [...headerValues(h.request?.set ?? {}, false), ...headerValues(h.request?.add ?? {}, true)];
  const res = [...headerValues(h.response?.set ?? {}, false), ...headerValues(h.response?.add ?? {}, true)];
  if (req.length) into.request_headers_to_add = req;
  if (h.request?.remove?.length) into.request_headers_to_remove = h.request.remove;
  if (res.length) into.response_headers_to_add = res;
  if (h.response?.remove?.length) into.response_headers_to_remove = h.response.remove;
}

/** True when an HTTP match applies to this proxy, port and gateway. */
function matchApplies(m: { port?: number; gateways?: string[]; sourceLabels?: Record<string, string>; sourceNamespace?: string }, ctx: RouteContext, vsNamespace: string): boolean {
  if (m.port !== undefined && m.port !== ctx.port) return false;
  if (m.gateways?.length && !m.gateways.some((g) => (g === 'mesh' ? 'mesh' : g.includes('/') ? g : `${vsNamespace}/${g}`) === ctx.gateway)) return false;
  if (m.sourceLabels && !matches(m.sourceLabels, ctx.proxy.labels)) return false;
  if (m.sourceNamespace && m.sourceNamespace !== ctx.proxy.namespace) return false;
  return true;
}

/** Istio's pseudo-header for JWT claims: `@request.auth.claims.<claim>` (`.`-separated nested claims). */
const CLAIM_PREFIX = '@request.auth.claims.';

/**
 * A route match on a JWT claim, as Istio builds it: the claims the JWT filter verified are in the
 * `istio_authn` dynamic metadata under `request.auth.claims` (each claim a list of strings;
 * `a.b` names the nested claim `b` of `a`), and the route matches when one value does;
 * `withoutHeaders` inverts it. The proxy picks the route again once the token is verified.
 */
function claimMatchers(claim: string, m: StringMatch, invert: boolean): Record<string, unknown>[] {
  const path = [{ key: 'request.auth.claims' }, ...claim.split('.').map((key) => ({ key }))];
  return [{ filter: 'istio_authn', path, value: { list_match: { one_of: { string_match: stringMatcher(m) } } }, ...(invert ? { invert: true } : {}) }];
}

function routeMatch(m: NonNullable<HTTPRoute['match']>[number] | undefined, proxyless: boolean): RouteMatch {
  const rm: RouteMatch = {};
  const uri = m?.uri;
  if (uri?.exact !== undefined) rm.path = uri.exact;
  else if (uri?.regex !== undefined) rm.safe_regex = { regex: uri.regex } as never;
  else rm.prefix = uri?.prefix ?? (proxyless ? '' : '/');
  if (m?.ignoreUriCase) rm.case_sensitive = { value: false };
  const headers: HeaderMatcher[] = [];
  const metadata: Record<string, unknown>[] = [];
  for (const [k, v] of Object.entries(m?.headers ?? {})) {
    if (k.startsWith(CLAIM_PREFIX)) metadata.push(...claimMatchers(k.slice(CLAIM_PREFIX.length), v, false));
    else headers.push(headerMatcher(k.toLowerCase(), v));
  }
  for (const [k, v] of Object.entries(m?.withoutHeaders ?? {})) {
    if (k.startsWith(CLAIM_PREFIX)) metadata.push(...claimMatchers(k.slice(CLAIM_PREFIX.length), v, true));
    else headers.push(headerMatcher(k.toLowerCase(), v, true));
  }
  if (metadata.length) (rm as Record<string, unknown>).dynamic_metadata = metadata;
  if (m?.method) headers.push(headerMatcher(':method', m.method));
  if (m?.authority) headers.push(headerMatcher(':authority', m.authority));
  if (m?.scheme) headers.push(headerMatcher(':scheme', m.scheme));
  if (headers.length) rm.headers = headers;
  const qp = Object.entries(m?.queryParams ?? {});
  if (qp.length) rm.query_parameters = qp.map(([name, v]) => ({ name, string_match: stringMatcher(v) as never }));
  return rm;
}

type HttpMatch = NonNullable<HTTPRoute['match']>[number];

/** The delegate VirtualService (no hosts) a route's `delegate` names, if it exists. */
export function delegateOf(push: PushContext, ref: { name: string; namespace?: string }, rootNamespace: string): VirtualServiceConfig | undefined {
  const ns = ref.namespace || rootNamespace;
  return push.virtualServices.find((v) => v.name === ref.name && v.namespace === ns && !v.spec.hosts?.length);
}

/** The delegates a VirtualService's routes name (for cache keys: their changes change its routes). */
export function delegatesOf(push: PushContext, vs: VirtualServiceConfig | undefined): VirtualServiceConfig[] {
  if (!vs) return [];
  const out: VirtualServiceConfig[] = [];
  for (const h of vs.spec.http ?? []) {
    const d = h.delegate ? delegateOf(push, h.delegate, vs.namespace) : undefined;
    if (d && !out.includes(d)) out.push(d);
  }
  return out;
}

function mergeString(root: StringMatch | undefined, del: StringMatch | undefined, uri: boolean): StringMatch | undefined | null {
  if (!root) return del;
  if (!del) return root;
  if (JSON.stringify(root) === JSON.stringify(del)) return del;
  // A delegate's URI may narrow the root's prefix (root /productpage, delegate /productpage/v1).
  if (uri && root.prefix !== undefined) {
    if (del.prefix !== undefined && del.prefix.startsWith(root.prefix)) return del;
    if (del.exact !== undefined && del.exact.startsWith(root.prefix)) return del;
  }
  return null;
}

function mergeMaps(root: Record<string, StringMatch> | undefined, del: Record<string, StringMatch> | undefined): Record<string, StringMatch> | undefined | null {
  if (!root) return del;
  if (!del) return root;
  const out = { ...root };
  for (const [k, v] of Object.entries(del)) {
    if (out[k] && JSON.stringify(out[k]) !== JSON.stringify(v)) return null;
    out[k] = v;
  }
  return out;
}

/**
 * A root route's match merged with a delegate route's, as Istio merges them: both must hold; the
 * delegate may narrow the root's URI prefix; a conflict (a different URI, method or header value)
 * drops that combination. Null when they conflict.
 */
export function mergeMatch(root: HttpMatch | undefined, del: HttpMatch | undefined): HttpMatch | undefined | null {
  if (!root) return del;
  if (!del) return root;
  const out: HttpMatch = { ...root, ...del };
  for (const f of ['uri', 'scheme', 'method', 'authority'] as const) {
    const m = mergeString(root[f], del[f], f === 'uri');
    if (m === null) return null;
    if (m) out[f] = m; else delete out[f];
  }
  for (const f of ['headers', 'queryParams', 'withoutHeaders'] as const) {
    const m = mergeMaps(root[f], del[f]);
    if (m === null) return null;
    if (m) out[f] = m; else delete out[f];
  }
  if (root.port !== undefined && del.port !== undefined && root.port !== del.port) return null;
  out.port = root.port ?? del.port;
  if (out.port === undefined) delete out.port;
  if (root.sourceLabels || del.sourceLabels) out.sourceLabels = { ...root.sourceLabels, ...del.sourceLabels };
  if (root.gateways?.length) out.gateways = root.gateways;
  if (root.ignoreUriCase || del.ignoreUriCase) out.ignoreUriCase = true;
  return out;
}

/**
 * A root route with `delegate`: the delegate VirtualService's HTTP routes, in order, each under the
 * root route's match (Istio's delegation). A missing delegate yields no routes (Istio drops them).
 */
function delegateRoutes(h: HTTPRoute, vs: VirtualServiceConfig, ctx: RouteContext): Route[] {
  const d = delegateOf(ctx.push, h.delegate!, vs.namespace);
  if (!d) return [];
  const roots: (HttpMatch | undefined)[] = h.match?.length ? h.match.filter((m) => matchApplies(m, ctx, vs.namespace)) : [undefined];
  if (!roots.length) return [];
  const out: Route[] = [];
  (d.spec.http ?? []).forEach((dh, k) => {
    if (dh.delegate) return; // one level of delegation, as Istio
    const dms: (HttpMatch | undefined)[] = dh.match?.length ? dh.match : [undefined];
    const merged: HttpMatch[] = [];
    let catchAll = false;
    for (const r of roots) {
      for (const m of dms) {
        const x = mergeMatch(r, m);
        if (x === null) continue;
        if (x === undefined) catchAll = true;
        else merged.push(x);
      }
    }
    if (!merged.length && !catchAll) return;
    out.push(...translateHttpRoute({ ...dh, match: catchAll ? undefined : merged }, k, d, ctx));
  });
  return out;
}

/** Envoy routes for one VirtualService HTTP route (one per applicable match). */
export function translateHttpRoute(h: HTTPRoute, index: number, vs: VirtualServiceConfig, ctx: RouteContext): Route[] {
  if (h.delegate) return delegateRoutes(h, vs, ctx);
  const applicable = h.match?.length ? h.match.filter((m) => matchApplies(m, ctx, vs.namespace)) : [undefined];
  if (applicable.length === 0) return [];
  const proxyless = !!ctx.proxyless;
  const base: Route = { match: {} };
  if (h.redirect) {
    const r = h.redirect;
    base.redirect = {
      // Gateway API's RequestRedirect ReplacePrefixMatch: the matched prefix is replaced (Istio's `%PREFIX()%` form).
      ...(r.uri?.startsWith(PREFIX_REDIRECT) ? { prefix_rewrite: r.uri.slice(PREFIX_REDIRECT.length) } : r.uri ? { path_redirect: r.uri } : {}),
      ...(r.authority ? { host_redirect: r.authority } : {}),
      ...(r.port ? { port_redirect: r.port } : {}),
      ...(r.scheme ? { scheme_redirect: r.scheme } : {}),
      response_code: (REDIRECT_CODES[r.redirectCode ?? 301] ?? 'MOVED_PERMANENTLY') as never,
    };
  } else if (h.directResponse) {
    base.direct_response = { status: h.directResponse.status, ...(h.directResponse.body?.string !== undefined ? { body: { inline_string: h.directResponse.body.string } } : {}) };
  } else {
    const dests = (h.route ?? []).filter((d) => h.route!.length === 1 || (d.weight ?? 0) > 0);
    const action: RouteAction = {};
    if (dests.length === 1 && !dests[0].headers) {
      action.cluster = destinationCluster(ctx, dests[0].destination, vs.namespace);
    } else {
      action.weighted_clusters = {
        clusters: dests.map((d) => {
          const cw: Record<string, unknown> = { name: destinationCluster(ctx, d.destination, vs.namespace), weight: { value: d.weight ?? 100 } };
          if (!proxyless) headerOps(d.headers, cw);
          return cw as never;
        }),
      };
    }
    if (!proxyless) {
      action.timeout = durationOf(h.timeout) ?? { seconds: 0, nanos: 0 };
      if (h.retries) {
        if ((h.retries.attempts ?? 0) > 0) action.retry_policy = { ...retryPolicy(h.retries, DEFAULT_RETRY.retry_on), ...RETRY_HOSTS };
      } else {
        action.retry_policy = DEFAULT_RETRY;
      }
      if (h.rewrite?.uri !== undefined) action.prefix_rewrite = h.rewrite.uri;
      if (h.rewrite?.uriRegexRewrite) action.regex_rewrite = { pattern: { regex: h.rewrite.uriRegexRewrite.match }, substitution: h.rewrite.uriRegexRewrite.rewrite } as never;
      if (h.rewrite?.authority) action.host_rewrite_literal = h.rewrite.authority;
      const mirrors = [
        ...(h.mirror ? [{ destination: h.mirror, percentage: h.mirrorPercentage, legacy: h.mirrorPercent }] : []),
        ...(h.mirrors ?? []).map((m) => ({ destination: m.destination, percentage: m.percentage, legacy: undefined })),
      ];
      if (mirrors.length) {
        action.request_mirror_policies = mirrors.map((m) => ({
          cluster: destinationCluster(ctx, m.destination, vs.namespace),
          runtime_fraction: { default_value: fractionOf(m.percentage, m.legacy) },
        }));
      }
    } else if (h.timeout) {
      action.max_stream_duration = { max_stream_duration: durationOf(h.timeout) };
    }
    base.route = action;
  }
  if (!proxyless) {
    headerOps(h.headers, base as Record<string, unknown>);
    if (h.corsPolicy) base.typed_per_filter_config = { ...base.typed_per_filter_config, [CORS_FILTER]: pack(ExtensionTypeUrl.CorsPolicy, corsPolicy(h.corsPolicy)) as never };
    const f = h.fault;
    if (f && (f.delay || f.abort)) {
      const fault: Record<string, unknown> = {};
      if (f.delay?.fixedDelay) fault.delay = { fixed_delay: durationOf(f.delay.fixedDelay), percentage: fractionOf(f.delay.percentage, f.delay.percent) };
      if (f.abort) {
        fault.abort = {
          ...(f.abort.grpcStatus !== undefined ? { grpc_status: GRPC_CODES[f.abort.grpcStatus] ?? 2 } : { http_status: f.abort.httpStatus ?? 500 }),
          percentage: fractionOf(f.abort.percentage),
        };
      }
      base.typed_per_filter_config = { ...base.typed_per_filter_config, [FAULT_FILTER]: pack(ExtensionTypeUrl.HttpFault, fault) as never };
    }
  }
  return applicable.map((m, j) => {
    const r: Route = { ...base, match: routeMatch(m, proxyless) };
    const name = h.name ?? m?.name;
    r.name = name ? (h.match && h.match.length > 1 ? `${name}.${j}` : name) : `${vs.namespace}.${vs.name}.${index}${applicable.length > 1 ? `.${j}` : ''}`;
    return r;
  });
}

/** Routes of a VirtualService for a context (all HTTP routes in order). */
export function virtualServiceRoutes(vs: VirtualServiceConfig, ctx: RouteContext): Route[] {
  return (vs.spec.http ?? []).flatMap((h, i) => translateHttpRoute(h, i, vs, ctx));
}

/** The default route to a service port when no VirtualService applies. */
export function defaultRoute(svc: ServiceModel, port: number, proxyless = false): Route {
  const cluster = formatClusterName({ direction: 'outbound', port, subset: '', host: svc.hostname });
  if (proxyless) return { name: 'default', match: { prefix: '' }, route: { cluster } };
  return { name: 'default', match: { prefix: '/' }, route: { cluster, timeout: { seconds: 0, nanos: 0 }, retry_policy: DEFAULT_RETRY } };
}

/** All names a service answers to on a port, for a client in `namespace`. */
export function serviceDomains(svc: ServiceModel, port: number, namespace: string): string[] {
  const names = [svc.hostname];
  if (svc.source === 'kubernetes') {
    names.push(`${svc.name}.${svc.namespace}`, `${svc.name}.${svc.namespace}.svc`);
    if (svc.namespace === namespace) names.push(svc.name);
  }
  // A headless Kubernetes Service also answers for its pods' names (`<pod>.<svc>.<ns>.svc.cluster.local`,
  // StatefulSets), as Istio adds `*.<name>` for every name of a Passthrough service.
  if (svc.source === 'kubernetes' && svc.resolution === 'PASSTHROUGH') names.push(...names.map((n) => `*.${n}`));
  if (svc.vip) names.push(svc.vip);
  return names.flatMap((n) => [n, `${n}:${port}`]);
}

/** The first VirtualService (oldest) for a host among `list`. */
export function virtualServiceForHost(list: readonly VirtualServiceConfig[], host: string): VirtualServiceConfig | undefined {
  return list.find((v) => v.hosts.includes(host)) ?? list.find((v) => v.hosts.some((h) => h.startsWith('*') && (h === '*' || host.endsWith(h.slice(1)))));
}

/** Sidecar outbound route table `<port>`: one virtual host per HTTP service on the port, then the catch-all. */
export function outboundRouteConfig(push: PushContext, proxy: Proxy, port: number, services: readonly ServiceModel[], registryOnly: boolean): RouteConfiguration {
  const ctx: RouteContext = { push, proxy, port, gateway: 'mesh' };
  const vss = push.virtualServicesFor('mesh', proxy.namespace);
  const used = new Set<string>();
  const vhosts: VirtualHost[] = [];
  for (const svc of services) {
    const sp = svc.ports.find((p) => p.port === port);
    if (!sp || !isHttpProtocol(sp.protocol)) continue;
    const domains = serviceDomains(svc, port, proxy.namespace).filter((d) => !used.has(d));
    if (!domains.length) continue;
    for (const d of domains) used.add(d);
    const vs = virtualServiceForHost(vss, svc.hostname);
    const routes = vs ? virtualServiceRoutes(vs, ctx) : [];
    if (!vs || routes.length === 0) routes.push(defaultRoute(svc, port));
    vhosts.push(virtualHost(`${svc.hostname}:${port}`, domains, routes));
  }
  vhosts.push(virtualHost(registryOnly ? 'block_all' : 'allow_any', ['*'], [
    { name: registryOnly ? 'block_all' : 'allow_any', match: { prefix: '/' }, route: { cluster: registryOnly ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER, timeout: { seconds: 0, nanos: 0 } } },
  ]));
  return routeConfiguration(String(port), vhosts, { validateClusters: false });
}
