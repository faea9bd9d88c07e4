import { describe, expect, it } from 'vitest';
import { accepted, ingressConfig, INGRESS_SERVICE } from '../../test/gateway-api-helpers';

const GW = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: istio-ingressgateway.istio-system.svc.cluster.local}]
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
${INGRESS_SERVICE}---
apiVersion: v1
kind: Pod
metadata: {name: istio-ingressgateway-0, namespace: istio-system, labels: {istio: ingressgateway}}
spec: {containers: [{name: istio-proxy, image: proxy}]}
status: {podIP: 10.244.0.2, phase: Running}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec: {clusterIP: 10.96.0.50, selector: {app: web}, ports: [{name: http, port: 80}]}
`;

type EnvoyRoute = { name: string; match: Record<string, unknown>; route?: Record<string, unknown>; redirect?: Record<string, unknown>; typed_per_filter_config?: Record<string, Record<string, unknown>> };

/** The Envoy routes of the gateway's `http.8080` table for one HTTPRoute's rules. */
function routes(rules: string): EnvoyRoute[] {
  const yaml = `${GW}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: apps}
spec:
  parentRefs: [{name: gw}]
  rules: ${rules}
`;
  const rds = ingressConfig(accepted(yaml)).RDS as { name: string; virtual_hosts: { routes: EnvoyRoute[] }[] }[];
  return rds.find((r) => r.name === 'http.8080')!.virtual_hosts.flatMap((v) => v.routes);
}

describe('HTTPRoute timeouts and retry', () => {
  it('retry (attempts, codes, backoff) and timeouts.backendRequest become the route\'s retry policy with a per-try timeout', () => {
    const [r] = routes(`[{retry: {attempts: 3, codes: [500, 502], backoff: 100ms}, timeouts: {request: 10s, backendRequest: 2s}, backendRefs: [{name: web, port: 80}]}]`);
    expect(r.route!.timeout).toEqual({ seconds: '10' });
    expect(r.route!.retry_policy).toMatchObject({
      retry_on: 'connect-failure,refused-stream,reset,retriable-status-codes',
      num_retries: { value: 3 },
      per_try_timeout: { seconds: '2' },
      retry_back_off: { base_interval: { nanos: 100_000_000 } },
      retriable_status_codes: [500, 502],
    });
  });

  it('timeouts.backendRequest alone: a per-try timeout with the default two retries; attempts 0: one try bounded by the shorter timeout', () => {
    const [r] = routes(`[{timeouts: {backendRequest: 500ms}, backendRefs: [{name: web, port: 80}]}]`);
    expect(r.route!.retry_policy).toMatchObject({ num_retries: { value: 2 }, per_try_timeout: { nanos: 500_000_000 }, retry_on: 'connect-failure,refused-stream,reset' });
    const [once] = routes(`[{retry: {attempts: 0}, timeouts: {request: 5s, backendRequest: 1s}, backendRefs: [{name: web, port: 80}]}]`);
    expect(once.route!.retry_policy).toBeUndefined();
    expect(once.route!.timeout).toEqual({ seconds: '1' });
  });
});

describe('HTTPRoute ReplacePrefixMatch', () => {
  it('URLRewrite: the exact half of a PathPrefix is replaced whole, the prefix half keeps the separator', () => {
    const rs = routes(`[{matches: [{path: {type: PathPrefix, value: /foo/}}], filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /xyz}}}], backendRefs: [{name: web, port: 80}]}]`);
    expect(rs.map((r) => [r.match, r.route!.prefix_rewrite])).toEqual([[{ path: '/foo' }, '/xyz'], [{ prefix: '/foo/' }, '/xyz/']]);
    const empty = routes(`[{matches: [{path: {type: PathPrefix, value: /foo}}], filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: ""}}}], backendRefs: [{name: web, port: 80}]}]`);
    expect(empty.map((r) => r.route!.prefix_rewrite)).toEqual(['/', '/']);
  });

  it('RequestRedirect: the matched prefix is replaced in the Location (Envoy redirect prefix_rewrite)', () => {
    const rs = routes(`[{matches: [{path: {type: PathPrefix, value: /old}}], filters: [{type: RequestRedirect, requestRedirect: {statusCode: 301, path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}}]}]`);
    expect(rs.map((r) => [r.match, r.redirect])).toEqual([
      // response_code MOVED_PERMANENTLY is the enum's zero value (not written).
      [{ path: '/old' }, { prefix_rewrite: '/new' }],
      [{ prefix: '/old/' }, { prefix_rewrite: '/new/' }],
    ]);
  });
});

describe('HTTPRoute CORS filter', () => {
  it('becomes the route\'s per-filter CorsPolicy (origins with wildcards, methods, headers, max age, credentials); the gateway runs the CORS filter', () => {
    const [r] = routes(`[{filters: [{type: CORS, cors: {allowOrigins: ["https://app.example.com", "https://*.example.org"], allowMethods: [GET, POST], allowHeaders: [x-user], exposeHeaders: [x-trace], maxAge: 600, allowCredentials: true}}], backendRefs: [{name: web, port: 80}]}]`);
    expect(r.typed_per_filter_config!['envoy.filters.http.cors']).toEqual({
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
      allow_origin_string_match: [{ exact: 'https://app.example.com' }, { safe_regex: { regex: 'https://[^/]*\\.example\\.org' } }],
      allow_methods: 'GET,POST',
      allow_headers: 'x-user',
      expose_headers: 'x-trace',
      max_age: '600',
      allow_credentials: { value: true },
      filter_enabled: { default_value: { numerator: 100 } },
      forward_not_matching_preflights: {}, // BoolValue false
    });
  });
});
