/**
 * A gateway (`proxy router`) runs the security filters the control plane puts on its listeners:
 * local rate limit, JWT authentication and RBAC, with the original client's address taken from
 * `x-forwarded-for` as Envoy does with `use_remote_address` and `xff_num_trusted_hops`
 * (Istio's `remoteIpBlocks` → `remote_ip`), while `ipBlocks` (`direct_remote_ip`) keep using the
 * socket peer. Raw bytes over TCP to a real proxy process; the app records everything it gets.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { ExtensionTypeUrl, pack, route, routeConfiguration, virtualHost } from '@tsmesh/xds';
import { appCluster, freePort, hcm, httpListenerOn, raw, rbacFilter, startApp, startProxyProcess, type App, type MeshProxy } from './wire';

const ISS = 'https://issuer.example.com';
let app: App;
let mesh: MeshProxy;
let port = 0;
let key: CryptoKey;

const ONE = { responses: 1, idleMs: 2000 };
const get = (target: string, headers = '') => `GET ${target} HTTP/1.1\r\nHost: todolist.example.com\r\n${headers}\r\n`;

beforeAll(async () => {
  app = await startApp();
  port = await freePort();
  const k = await generateKeyPair('ES256', { extractable: true });
  key = k.privateKey;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(k.publicKey)), kid: 'k1', alg: 'ES256' }] });
  const filters = [
    { name: 'envoy.filters.http.local_ratelimit', typed_config: pack(ExtensionTypeUrl.LocalRateLimit, { stat_prefix: 'http_local_rate_limiter' }) },
    { name: 'envoy.filters.http.jwt_authn', typed_config: pack(ExtensionTypeUrl.JwtAuthentication, {
      providers: { 'origins-0': { issuer: ISS, local_jwks: { inline_string: jwks } } },
      rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } } }],
    }) },
    rbacFilter('DENY', {
      // remoteIpBlocks: ["203.0.113.0/24"]
      'ns[istio-system]-policy[deny-remote]-rule[0]': { permissions: [{ any: true }], principals: [{ remote_ip: { address_prefix: '203.0.113.0', prefix_len: { value: 24 } } }] },
      // ipBlocks: ["127.0.0.0/8"] on /direct
      'ns[istio-system]-policy[deny-direct]-rule[0]': { permissions: [{ url_path: { path: { prefix: '/direct' } } }], principals: [{ direct_remote_ip: { address_prefix: '127.0.0.0', prefix_len: { value: 8 } } }] },
    }),
    // RequestAuthentication + "requestPrincipals: [*]" on /jwt
    rbacFilter('ALLOW', {
      'ns[istio-system]-policy[jwt]-rule[0]': { permissions: [{ url_path: { path: { prefix: '/jwt' } } }], principals: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.principal' }], value: { string_match: { safe_regex: { regex: '.+' } } } } }] },
      'ns[istio-system]-policy[jwt]-rule[1]': { permissions: [{ not_rule: { url_path: { path: { prefix: '/jwt' } } } }], principals: [{ any: true }] },
    }),
  ];
  const a = appCluster('outbound|80||app.default.svc.cluster.local', app.port);
  const limited = { ...route({ name: 'limited', match: { prefix: '/limited' }, cluster: a.c.name }), typed_per_filter_config: { 'envoy.filters.http.local_ratelimit': pack(ExtensionTypeUrl.LocalRateLimit, {
    stat_prefix: 'rl', token_bucket: { max_tokens: 2, tokens_per_fill: { value: 2 }, fill_interval: { seconds: 3600 } },
    filter_enabled: { runtime_key: 'e', default_value: { numerator: 100, denominator: 'HUNDRED' } },
    filter_enforced: { runtime_key: 'f', default_value: { numerator: 100, denominator: 'HUNDRED' } },
  }) } };
  mesh = await startProxyProcess('gateway', {
    listeners: [httpListenerOn('0.0.0.0_8080', port, hcm({ statPrefix: 'outbound_0.0.0.0_8080', rdsName: 'http.8080', httpFilters: filters as never, useRemoteAddress: true, xffNumTrustedHops: 1, upgradeWebsocket: true }))],
    routes: [routeConfiguration('http.8080', [virtualHost('todolist', ['*'], [limited as never, route({ cluster: a.c.name })])])],
    clusters: [a.c],
    endpoints: [a.e],
  }, 'router');
}, 60_000);

afterAll(async () => {
  await mesh?.stop();
  await app?.close();
});

beforeEach(() => app.reset());

describe('gateway: remote address from x-forwarded-for (use_remote_address, xff_num_trusted_hops: 1)', () => {
  it('remoteIpBlocks use the address the trusted proxy appended (rightmost), not what the client wrote', async () => {
    const denied = await raw(port, get('/a', 'x-forwarded-for: 198.51.100.7, 203.0.113.9\r\n'), ONE);
    expect(denied.statuses).toEqual([403]);
    expect(app.raw()).toBe('');
    const spoofed = await raw(port, get('/b', 'x-forwarded-for: 203.0.113.9, 198.51.100.7\r\n'), ONE);
    expect(spoofed.statuses).toEqual([200]);
    expect(app.requests).toEqual(['GET /b']);
    // the gateway appends the peer it got the request from
    expect(app.headers[0]['x-forwarded-for']).toBe('203.0.113.9, 198.51.100.7, 127.0.0.1');
  });

  it('without x-forwarded-for (or with an entry that is not an address) the peer is the client', async () => {
    expect((await raw(port, get('/c'), ONE)).statuses).toEqual([200]);
    expect((await raw(port, get('/d', 'x-forwarded-for: not-an-ip\r\n'), ONE)).statuses).toEqual([200]);
    expect(app.requests).toEqual(['GET /c', 'GET /d']);
  });

  it('ipBlocks use the socket peer whatever x-forwarded-for says', async () => {
    const r = await raw(port, get('/direct', 'x-forwarded-for: 198.51.100.7\r\n'), ONE);
    expect(r.statuses).toEqual([403]);
    expect(app.raw()).toBe('');
  });
});

describe('gateway: JWT and local rate limit filters run on router listeners', () => {
  it('a bad token is refused with 401; /jwt needs a valid one; a valid one is admitted', async () => {
    const bad = await raw(port, get('/x', 'authorization: Bearer not.a.jwt\r\n'), ONE);
    expect(bad.statuses).toEqual([401]);
    const missing = await raw(port, get('/jwt/me'), ONE);
    expect(missing.statuses).toEqual([403]);
    const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISS).setIssuedAt().setExpirationTime('5m').sign(key);
    const ok = await raw(port, get('/jwt/me', `authorization: Bearer ${token}\r\n`), ONE);
    expect(ok.statuses).toEqual([200]);
    expect(app.requests).toEqual(['GET /jwt/me']);
  });

  it("the route's token bucket answers 429 once spent", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push(...(await raw(port, get('/limited'), ONE)).statuses);
    expect(statuses).toEqual([200, 200, 429]);
    expect(app.requests).toEqual(['GET /limited', 'GET /limited']);
  });
});
