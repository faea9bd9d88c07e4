import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { ExtensionTypeUrl, pack, unpack } from '@tsmesh/xds';
import { AuthzAttributes } from './attributes';
import { JwtAuthn } from './jwt';
import { LocalRateLimit, TokenBucket } from './rate-limit';

const ISS = 'https://issuer.example.com';
let key: CryptoKey;
let otherKey: CryptoKey;
let jwks: string;
const dir = mkdtempSync(join(tmpdir(), 'tsmesh-jwt-'));
let jwksServer: http.Server;
let jwksUrl = '';

beforeAll(async () => {
  ({ privateKey: key } = await generateKeyPair('ES256', { extractable: true }).then(async (k) => {
    jwks = JSON.stringify({ keys: [{ ...(await exportJWK(k.publicKey)), kid: 'k1', alg: 'ES256' }] });
    return k;
  }));
  ({ privateKey: otherKey } = await generateKeyPair('ES256'));
  writeFileSync(join(dir, 'jwks.json'), jwks);
  jwksServer = http.createServer((_q, s) => s.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
});
afterAll(() => {
  jwksServer?.close();
  rmSync(dir, { recursive: true, force: true });
});

function token(o: { aud?: string; iss?: string; exp?: string | number; k?: CryptoKey; groups?: string[] } = {}): Promise<string> {
  return new SignJWT({ groups: o.groups ?? ['users'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(o.iss ?? ISS)
    .setSubject('alice')
    .setAudience(o.aud ?? 'shop')
    .setIssuedAt()
    .setExpirationTime(o.exp ?? '10m')
    .sign(o.k ?? key);
}

/** The filter config Istio generates for a RequestAuthentication with one jwtRule. */
function istioConfig(jwksSource: object, extra: object = {}) {
  return unpack(pack(ExtensionTypeUrl.JwtAuthentication, {
    providers: {
      'origins-0': { issuer: ISS, audiences: ['shop'], ...jwksSource, payload_in_metadata: ISS, claim_to_headers: [{ header_name: 'x-jwt-sub', claim_name: 'sub' }], ...extra },
    },
    rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } } }],
  }));
}

function request(headers: Record<string, string> = {}, target = '/orders'): AuthzAttributes {
  const a = new AuthzAttributes();
  a.method = 'GET';
  a.target = target;
  a.headers = headers;
  return a;
}

describe('RequestAuthentication (jwt_authn)', () => {
  for (const [name, source] of [['a JWKS file', () => ({ local_jwks: { filename: join(dir, 'jwks.json') } })], ['a JWKS URL', () => ({ remote_jwks: { http_uri: { uri: jwksUrl, cluster: 'jwks', timeout: { seconds: 5 } }, cache_duration: { seconds: 300 } } })]] as const) {
    it(`accepts a valid token from ${name}, exposing the request principal and claims`, async () => {
      const f = JwtAuthn.compile(istioConfig(source()));
      const a = request({ authorization: `Bearer ${await token({ groups: ['admins'] })}` });
      const r = await f.authenticate(a);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.authn?.principal).toBe(`${ISS}/alice`);
      expect(r.authn?.claims.groups).toEqual(['admins']);
      expect(r.setHeaders).toContainEqual(['x-jwt-sub', 'alice']);
      expect(r.removeHeaders).toEqual(['authorization']);
      expect((r.metadata?.[ISS] as { sub: string }).sub).toBe('alice');
    });
  }

  it('refuses a token signed by another key, expired, from another issuer or for another audience', async () => {
    const f = JwtAuthn.compile(istioConfig({ local_jwks: { inline_string: jwks } }));
    const cases: [string, number, string][] = [
      [await token({ k: otherKey }), 401, 'Jwt verification fails'],
      [await token({ exp: Math.floor(Date.now() / 1000) - 3600 }), 401, 'Jwt is expired'],
      [await token({ iss: 'https://evil.example.com' }), 401, 'Jwt verification fails'],
      [await token({ aud: 'other' }), 403, 'Audiences in Jwt are not allowed'],
      ['not.a.jwt', 401, 'Jwt verification fails'],
    ];
    for (const [t, status, body] of cases) {
      expect(await f.authenticate(request({ authorization: `Bearer ${t}` }))).toEqual({ ok: false, status, body });
    }
  });

  it('an empty key set (a rejected RequestAuthentication, enforced fail-closed by the control plane) refuses every token of its issuer', async () => {
    const f = JwtAuthn.compile(istioConfig({ local_jwks: { inline_string: '{"keys":[]}' } }));
    expect(await f.authenticate(request({ authorization: `Bearer ${await token()}` }))).toEqual({ ok: false, status: 401, body: 'Jwt verification fails' });
  });

  it('lets a request with no token through with no principal (authorization decides)', async () => {
    const f = JwtAuthn.compile(istioConfig({ local_jwks: { inline_string: jwks } }));
    expect(await f.authenticate(request())).toEqual({ ok: true, authn: null, removeHeaders: [], setHeaders: [], metadata: null });
  });

  it('reads the token from access_token when no location is configured; keeps it when forward is set', async () => {
    const f = JwtAuthn.compile(istioConfig({ local_jwks: { inline_string: jwks } }, { forward: true }));
    const r = await f.authenticate(request({}, `/orders?access_token=${await token()}`));
    expect(r.ok && r.authn?.principal).toBe(`${ISS}/alice`);
    const r2 = await f.authenticate(request({ authorization: `Bearer ${await token()}` }));
    expect(r2.ok && r2.removeHeaders).toEqual([]);
  });

  it('a required provider refuses a missing token; rules match the canonical path', async () => {
    const cfg = unpack(pack(ExtensionTypeUrl.JwtAuthentication, {
      providers: { p: { issuer: ISS, local_jwks: { inline_string: jwks }, from_headers: [{ name: 'x-token' }] } },
      rules: [{ match: { prefix: '/admin' }, requires: { provider_name: 'p' } }],
    }));
    const f = JwtAuthn.compile(cfg);
    expect(await f.authenticate(request({}, '/public/%2e%2e/admin'))).toEqual({ ok: false, status: 401, body: 'Jwt is missing' });
    expect((await f.authenticate(request({}, '/public'))).ok).toBe(true);
    expect((await f.authenticate(request({ 'x-token': await token() }, '/admin'))).ok).toBe(true);
  });

  it('names the field of a bad config', () => {
    expect(() => JwtAuthn.compile(unpack(pack(ExtensionTypeUrl.JwtAuthentication, { providers: { p: { issuer: ISS, local_jwks: { inline_string: '{' } } } })))).toThrow(/providers\["p"\]\.local_jwks: not a JWKS/);
    expect(() => JwtAuthn.compile(unpack(pack(ExtensionTypeUrl.JwtAuthentication, { rules: [{ match: { prefix: '/' }, requires: { provider_name: 'nope' } }] })))).toThrow(/rules\[0\]\.requires\.provider_name: provider "nope" is not defined/);
  });
});

describe('local rate limit', () => {
  it('token bucket: max tokens, then refills per interval', () => {
    let now = 0;
    const b = new TokenBucket(2, 1, 1000, () => now);
    expect([b.take(), b.take(), b.take()]).toEqual([true, true, false]);
    now = 999;
    expect(b.take()).toBe(false);
    now = 1000;
    expect([b.take(), b.take()]).toEqual([true, false]);
    now = 10_000;
    expect([b.take(), b.take(), b.take()]).toEqual([true, true, false]);
  });

  it('compiles Envoy LocalRateLimit: 429 when enforced, nothing when filter_enabled is unset', () => {
    const cfg = (enabled: boolean) => unpack(pack(ExtensionTypeUrl.LocalRateLimit, {
      stat_prefix: 'http_local_rate_limiter',
      token_bucket: { max_tokens: 1, tokens_per_fill: { value: 1 }, fill_interval: { seconds: 60 } },
      ...(enabled ? {
        filter_enabled: { runtime_key: 'e', default_value: { numerator: 100, denominator: 'HUNDRED' } },
        filter_enforced: { runtime_key: 'f', default_value: { numerator: 100, denominator: 'HUNDRED' } },
      } : {}),
      response_headers_to_add: [{ append_action: 'OVERWRITE_IF_EXISTS_OR_ADD', header: { key: 'x-local-rate-limit', value: 'true' } }],
    }));
    const rl = LocalRateLimit.compile(cfg(true));
    expect([rl.limited(), rl.limited()]).toEqual([false, true]);
    expect(rl.status).toBe(429);
    expect(rl.responseHeaders).toEqual([['x-local-rate-limit', 'true']]);
    const off = LocalRateLimit.compile(cfg(false));
    expect(off.inert).toBe(true);
    expect([off.limited(), off.limited()]).toEqual([false, false]);
  });
});
