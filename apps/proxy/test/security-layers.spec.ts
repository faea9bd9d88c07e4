/**
 * Inbound security in the real data path, configured only over ADS: a filter chain with a
 * DownstreamTlsContext (`default` and `ROOTCA` secrets) terminates mutual TLS, and the HTTP
 * connection manager runs Envoy's local rate limit (per route), JWT authentication and the RBAC
 * filters (DENY then ALLOW) before the router, with Istio telemetry around them; clients are real
 * TLS clients with CA-issued certificates.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import { Writable } from 'node:stream';
import { createRootCa, createWorkloadCert, type Issuer, type WorkloadCert } from '@tsmesh/certs';
import { downstreamTlsContext, ExtensionTypeUrl, httpConnectionManager, listener, pack, route, sdsCommonTlsContext, type HttpFilter } from '@tsmesh/xds';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { Proxy } from '../src/agent/proxy';
import { SDS_DEFAULT, SDS_ROOTCA } from '../src/security/secrets';
import type { TelemetryRecorder } from '../src/telemetry/recorder';
import { AccessLogger } from '../src/telemetry/access-log';
import { ControlPlane, edsCluster, routes, startProxy, until, upstream, type Upstream } from './harness';

const CALLER = 'spiffe://cluster.local/ns/shop/sa/caller';
const OTHER = 'spiffe://cluster.local/ns/other/sa/intruder';
const ISS = 'https://issuer.example.com';

let root: Issuer;
let serverCert: WorkloadCert;
let callerCert: WorkloadCert;
let otherCert: WorkloadCert;
let jwtKey: CryptoKey;
let jwks = '';
let cp: ControlPlane;
let proxy: Proxy;
let app: Upstream;
let port = 0;
const logLines: string[] = [];
let recorder: TelemetryRecorder;
let filters: HttpFilter[] = [];

beforeAll(async () => {
  root = await createRootCa();
  serverCert = await createWorkloadCert(root, { identity: 'spiffe://cluster.local/ns/shop/sa/callme' });
  callerCert = await createWorkloadCert(root, { identity: CALLER });
  otherCert = await createWorkloadCert(root, { identity: OTHER });
  const k = await generateKeyPair('ES256', { extractable: true });
  jwtKey = k.privateKey;
  jwks = JSON.stringify({ keys: [{ ...(await exportJWK(k.publicKey)), kid: 'k1', alg: 'ES256' }] });

  const rbac = (rules: object) => ({ name: 'envoy.filters.http.rbac', typed_config: pack(ExtensionTypeUrl.HttpRbac, { rules }) });
  filters = [
    { name: 'envoy.filters.http.local_ratelimit', typed_config: pack(ExtensionTypeUrl.LocalRateLimit, { stat_prefix: 'http_local_rate_limiter' }) },
    { name: 'envoy.filters.http.jwt_authn', typed_config: pack(ExtensionTypeUrl.JwtAuthentication, {
      providers: { 'origins-0': { issuer: ISS, local_jwks: { inline_string: jwks }, claim_to_headers: [{ header_name: 'x-jwt-sub', claim_name: 'sub' }] } },
      rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } } }],
    }) },
    rbac({ action: 'DENY', policies: { 'deny-admin': { permissions: [{ url_path: { path: { prefix: '/admin' } } }], principals: [{ any: true }] } } }),
    rbac({ action: 'ALLOW', policies: {
      'from-shop': { permissions: [{ any: true }], principals: [{ authenticated: { principal_name: { safe_regex: { regex: '.*/ns/shop/.*' } } } }] },
      'jwt-admins': { permissions: [{ url_path: { path: { prefix: '/claims' } } }], principals: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'groups' }], value: { list_match: { one_of: { string_match: { exact: 'admins' } } } } } }] },
    } }),
  ];
  app = await upstream('callme');
  cp = new ControlPlane();
  await cp.start();
  proxy = await startProxy(cp);
  proxy.security.store.set(SDS_DEFAULT, { kind: 'tls_certificate', chainPem: serverCert.chainPem, keyPem: serverCert.keyPem });
  proxy.security.store.set(SDS_ROOTCA, { kind: 'validation_context', trustedCaPem: root.rootPem, sans: [] });
  const sink = new Writable({ write(c, _e, cb) { logLines.push(...String(c).split('\n').filter(Boolean)); cb(); } });
  proxy.telemetry.deps.accessLog = new AccessLogger('stdout', sink);
  recorder = proxy.telemetry.recorder;
  const tls = { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.DownstreamTlsContext, downstreamTlsContext(sdsCommonTlsContext({ certSecret: SDS_DEFAULT, validationSecret: SDS_ROOTCA, alpn: ['h2', 'http/1.1'] }), true)) };
  const { c, e } = edsCluster('inbound|9080||', [app.port]);
  // a route with its own token bucket (Envoy's per-route local rate limit)
  const limitedRoute = { ...route({ name: 'limited', match: { path: '/limited' }, cluster: 'inbound|9080||' }), typed_per_filter_config: { 'envoy.filters.http.local_ratelimit': pack(ExtensionTypeUrl.LocalRateLimit, {
    stat_prefix: 'rl', token_bucket: { max_tokens: 3, tokens_per_fill: { value: 3 }, fill_interval: { seconds: 3600 } },
    filter_enabled: { runtime_key: 'e', default_value: { numerator: 100, denominator: 'HUNDRED' } },
    filter_enforced: { runtime_key: 'f', default_value: { numerator: 100, denominator: 'HUNDRED' } },
  }) } };
  // Istio's JWT claim routing: the route matches the verified token's claims (istio_authn metadata)
  const claimRoute = {
    name: 'dev-group', match: { prefix: '/by-claim', dynamic_metadata: [{ filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'groups' }], value: { list_match: { one_of: { string_match: { exact: 'dev' } } } } }] },
    direct_response: { status: 200, body: { inline_string: 'dev route' } },
  };
  cp.push({
    listeners: [listener({
      name: 'inbound_9080', address: '127.0.0.1', port: 0, trafficDirection: 'INBOUND',
      filterChains: [{ name: 'inbound_9080_mtls', transport_socket: tls, filters: [httpConnectionManager({ statPrefix: 'inbound_0.0.0.0_9080', rdsName: 'inbound-9080', httpFilters: filters })] }],
    })],
    routes: [routes('inbound-9080', [limitedRoute, claimRoute, route({ name: 'default', match: { prefix: '/' }, cluster: 'inbound|9080||' })])],
    clusters: [c],
    endpoints: [e],
  });
  await until(() => (proxy.listeners.boundPort('inbound_9080') ?? 0) > 0, 10_000, 'inbound listener');
  port = proxy.listeners.boundPort('inbound_9080')!;
}, 60_000);

afterAll(async () => {
  proxy?.stop();
  await cp?.close();
  await app?.close();
});

function call(path: string, o: { cert?: WorkloadCert | null; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const cert = o.cert === undefined ? callerCert : o.cert;
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path, method: 'GET', agent: false, ca: root.rootPem, checkServerIdentity: () => undefined,
      headers: { host: 'callme.shop.svc.cluster.local:9080', ...o.headers }, ...(cert ? { cert: cert.chainPem, key: cert.keyPem } : {}),
    }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

const token = (groups: string[]) => new SignJWT({ groups }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISS).setSubject('alice').setIssuedAt().setExpirationTime('5m').sign(jwtKey);

describe('inbound mTLS with the security layers', () => {
  it('serves a client with a CA-issued certificate from an allowed namespace', async () => {
    const r = await call('/orders');
    expect(r.status).toBe(200);
    expect(r.body).toContain('callme GET /orders');
    expect(r.headers['x-envoy-peer-metadata']).toBeDefined();
  });

  it('refuses a client without a certificate (no request reaches the app)', async () => {
    const hits = app.hits;
    await expect(call('/orders', { cert: null })).rejects.toThrow();
    expect(app.hits).toBe(hits);
  });

  it('RBAC: a peer from another namespace gets 403; DENY on /admin holds through encoded and dotted paths', async () => {
    expect((await call('/orders', { cert: otherCert })).status).toBe(403);
    for (const p of ['/admin', '/admin?x=1', '/public/../admin', '/public/%2e%2e/admin', '/Admin%2F..%2Fadmin', '//admin']) {
      const r = await call(p);
      expect(r.status, p).toBe(403);
      expect(r.body).toBe('RBAC: access denied');
    }
  });

  it('JWT claim routing: the route is picked on the verified token\'s claims (a forged claim in a header does nothing)', async () => {
    expect((await call('/by-claim', { headers: { authorization: `Bearer ${await token(['dev'])}` } })).body).toBe('dev route');
    expect((await call('/by-claim', { headers: { authorization: `Bearer ${await token(['ops'])}` } })).body).toContain('callme GET /by-claim');
    expect((await call('/by-claim', { headers: { groups: 'dev' } })).body).toContain('callme GET /by-claim');
  });

  it('JWT: a bad token gets 401, a good one passes with its claims to headers and to authorization', async () => {
    expect((await call('/orders', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const r = await call('/claims', { cert: otherCert, headers: { authorization: `Bearer ${await token(['admins'])}` } });
    expect(r.status).toBe(200);
    expect(app.lastHeaders['x-jwt-sub']).toBe('alice');
    expect(app.lastHeaders.authorization).toBeUndefined();
    expect((await call('/claims', { cert: otherCert, headers: { authorization: `Bearer ${await token(['users'])}` } })).status).toBe(403);
  });

  it('local rate limit answers 429 once the route bucket is empty', async () => {
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await call('/limited')).status);
    expect(codes).toEqual([200, 200, 200, 429, 429]);
  });

  it('metrics carry the peer principal and mutual_tls; the access log has a JSON line per request', async () => {
    await until(() => logLines.length > 5, 5000, 'access log lines');
    const text = recorder.metrics.registry.expose();
    expect(text).toMatch(/istio_requests_total\{reporter="destination",[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/shop\/sa\/caller"[^}]*response_code="200"[^}]*connection_security_policy="mutual_tls"\} \d+/);
    expect(text).toMatch(/istio_requests_total\{[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/other\/sa\/intruder"[^}]*response_code="403"/);
    const line = JSON.parse(logLines.find((l) => l.includes('"/orders"'))!);
    expect(line).toMatchObject({ method: 'GET', path: '/orders', protocol: 'HTTP/1.1', authority: 'callme.shop.svc.cluster.local:9080' });
    expect(logLines.some((l) => JSON.parse(l).response_code === 429)).toBe(true);
    // Envoy's RL response flag on rate-limited requests, in the access log and the metrics
    expect(logLines.filter((l) => JSON.parse(l).response_code === 429).every((l) => JSON.parse(l).response_flags === 'RL')).toBe(true);
    expect(text).toMatch(/istio_requests_total\{[^}]*response_code="429"[^}]*response_flags="RL"/);
  });
});
