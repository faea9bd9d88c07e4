import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExtensionTypeUrl, pack, unpack } from '@tsmesh/xds';
import { AuthzAttributes } from './attributes';
import { authorize, compileRbacFilter, type RbacEngine } from './rbac';
import { normalizeRulePath } from './path';

/**
 * `testdata/control-plane-rbac.json` is what the control plane's AuthorizationPolicy translation
 * (apps/control-plane/src/xds/rbac.ts, `rbacFor`) emits for the policies listed next to each
 * output; the proxy compiles exactly that, after an Envoy protobuf round trip.
 */
const fixtures = JSON.parse(readFileSync(join(import.meta.dirname, 'testdata/control-plane-rbac.json'), 'utf8')) as Record<string, { http: { deny?: object; allow?: object }; tcp: { deny?: object; allow?: object } }>;

function engines(name: string, layer: 'http' | 'tcp' = 'http'): RbacEngine[] {
  const f = fixtures[name][layer];
  const out: RbacEngine[] = [];
  for (const rules of [f.deny, f.allow]) {
    if (!rules) continue;
    const url = layer === 'http' ? ExtensionTypeUrl.HttpRbac : ExtensionTypeUrl.NetworkRbac;
    const cfg = unpack(pack(url, layer === 'http' ? { rules } : { stat_prefix: 'tcp', rules }));
    out.push(compileRbacFilter(cfg, 'typed_config', layer)!);
  }
  return out;
}

const CALLER = 'spiffe://cluster.local/ns/shop/sa/caller';

function req(o: Partial<Pick<AuthzAttributes, 'principal' | 'authenticated' | 'directRemoteIp' | 'remoteIp' | 'destinationPort' | 'method' | 'target' | 'authority' | 'headers'>> = {}): AuthzAttributes {
  const a = new AuthzAttributes();
  a.method = 'GET';
  a.target = '/';
  a.authority = 'shop.example.com';
  a.directRemoteIp = '10.9.9.9';
  a.remoteIp = '10.9.9.9';
  a.destinationPort = 9080;
  a.headers = {};
  Object.assign(a, o);
  if (o.principal && o.authenticated === undefined) a.authenticated = true;
  return a;
}

const allowed = (name: string, a: AuthzAttributes, layer: 'http' | 'tcp' = 'http') => authorize(engines(name, layer), a).allowed;

describe('AuthorizationPolicy fields (control-plane output)', () => {
  it('from.principals: exact, prefix, and * (any authenticated peer)', () => {
    expect(allowed('principals', req({ principal: CALLER }))).toBe(true);
    expect(allowed('principals', req({ principal: 'spiffe://cluster.local/ns/shop/sa/other' }))).toBe(false);
    expect(allowed('principals', req())).toBe(false);
    expect(allowed('principalsPrefix', req({ principal: 'spiffe://cluster.local/ns/shop/sa/anyone' }))).toBe(true);
    expect(allowed('principalsPrefix', req({ principal: 'spiffe://cluster.local/ns/shopping/sa/x' }))).toBe(false);
    expect(allowed('anyAuthenticated', req({ principal: CALLER }))).toBe(true);
    expect(allowed('anyAuthenticated', req())).toBe(false);
  });

  it('from.namespaces and notNamespaces', () => {
    expect(allowed('namespaces', req({ principal: CALLER }))).toBe(true);
    expect(allowed('namespaces', req({ principal: 'spiffe://cluster.local/ns/other/sa/shop' }))).toBe(false);
    expect(allowed('namespaces', req())).toBe(false);
    expect(allowed('notNamespaces', req({ principal: 'spiffe://cluster.local/ns/other/sa/x' }))).toBe(false);
    expect(allowed('notNamespaces', req({ principal: CALLER }))).toBe(true);
  });

  it('from.ipBlocks (peer address) and remoteIpBlocks (original client)', () => {
    expect(allowed('ipBlocks', req({ directRemoteIp: '10.1.200.3' }))).toBe(true);
    expect(allowed('ipBlocks', req({ directRemoteIp: '192.168.7.7' }))).toBe(true);
    expect(allowed('ipBlocks', req({ directRemoteIp: '10.2.0.1' }))).toBe(false);
    expect(allowed('ipBlocks', req({ directRemoteIp: '::ffff:10.1.0.9' }))).toBe(true);
    expect(allowed('remoteIpBlocks', req({ remoteIp: '203.0.113.50' }))).toBe(true);
    expect(allowed('remoteIpBlocks', req({ remoteIp: '198.51.100.1', directRemoteIp: '203.0.113.50' }))).toBe(false);
  });

  it('to.methods, to.paths (exact, prefix, suffix) and notPaths', () => {
    expect(allowed('methods', req({ method: 'HEAD' }))).toBe(true);
    expect(allowed('methods', req({ method: 'DELETE' }))).toBe(false);
    expect(allowed('paths', req({ target: '/public/a' }))).toBe(true);
    expect(allowed('paths', req({ target: '/exact' }))).toBe(true);
    expect(allowed('paths', req({ target: '/exact/more' }))).toBe(false);
    expect(allowed('paths', req({ target: '/svc/status' }))).toBe(true);
    expect(allowed('paths', req({ target: '/other' }))).toBe(false);
    expect(allowed('notPaths', req({ target: '/private/x' }))).toBe(false);
    expect(allowed('notPaths', req({ target: '/open' }))).toBe(true);
  });

  it('to.ports, on HTTP and TCP', () => {
    expect(allowed('ports', req({ destinationPort: 8080 }))).toBe(true);
    expect(allowed('ports', req({ destinationPort: 8081 }))).toBe(false);
    expect(allowed('ports', req({ destinationPort: 8080 }), 'tcp')).toBe(true);
  });

  it('HTTP-only fields on a TCP port leave an ALLOW policy with no rule: nothing is allowed', () => {
    expect(allowed('methods', req({ method: 'GET' }), 'tcp')).toBe(false);
  });

  it('to.hosts: exact and wildcard, any case, with or without port', () => {
    expect(allowed('hosts', req({ authority: 'shop.example.com' }))).toBe(true);
    expect(allowed('hosts', req({ authority: 'Shop.Example.COM:8080' }))).toBe(true);
    expect(allowed('hosts', req({ authority: 'a.internal.example.com' }))).toBe(true);
    expect(allowed('hosts', req({ authority: 'evil.example.com' }))).toBe(false);
  });

  it('when request.headers[...]', () => {
    expect(allowed('headers', req({ headers: { 'x-user': 'alice' } }))).toBe(true);
    expect(allowed('headers', req({ headers: { 'x-user': 'bob' } }))).toBe(false);
    expect(allowed('headers', req())).toBe(false);
  });

  it('from.requestPrincipals (the JWT issuer/subject from authentication)', () => {
    const a = req();
    expect(allowed('requestPrincipals', a)).toBe(false);
    a.setAuthn({ principal: 'https://issuer.example.com/alice', claims: {}, audiences: [], presenter: '', payload: {} });
    expect(allowed('requestPrincipals', a)).toBe(true);
  });

  it('when request.auth.claims[...] (Istio metadata shape: claims as string lists)', () => {
    const rules = { action: 'ALLOW', policies: { claims: { permissions: [{ any: true }], principals: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'groups' }], value: { list_match: { one_of: { string_match: { exact: 'admins' } } } } } }] } } };
    const e = compileRbacFilter(unpack(pack(ExtensionTypeUrl.HttpRbac, { rules })), 'typed_config', 'http')!;
    const a = req();
    expect(e.decide(a).allowed).toBe(false);
    a.setAuthn({ principal: 'iss/sub', claims: { groups: ['users', 'admins'] }, audiences: [], presenter: '', payload: {} });
    expect(e.decide(a).allowed).toBe(true);
  });

  it('an empty ALLOW policy denies everything; rules: [{}] allows everything', () => {
    expect(allowed('emptyAllow', req({ principal: CALLER }))).toBe(false);
    expect(allowed('allowAll', req())).toBe(true);
  });

  it('from and to together must both match', () => {
    expect(allowed('combined', req({ principal: CALLER, method: 'POST', target: '/orders' }))).toBe(true);
    expect(allowed('combined', req({ principal: CALLER, method: 'GET', target: '/orders' }))).toBe(false);
    expect(allowed('combined', req({ method: 'POST', target: '/orders' }))).toBe(false);
  });

  it('names the policy that decided', () => {
    expect(authorize(engines('denyAdmin'), req({ target: '/admin' }))).toEqual({ allowed: false, policy: 'ns[shop]-policy[denyAdmin]-rule[0]' });
  });

  it('action LOG (Istio AUDIT) names the matching policy and never refuses; DENY after it still refuses', () => {
    const log = { action: 'LOG', policies: { 'ns[shop]-policy[audit]-rule[0]': { permissions: [{ url_path: { path: { prefix: '/admin' } } }], principals: [{ any: true }] } } };
    const audit = compileRbacFilter(unpack(pack(ExtensionTypeUrl.HttpRbac, { rules: log })), 'typed_config', 'http')!;
    expect(audit.decide(req({ target: '/admin/x' }))).toEqual({ allowed: true, policy: 'ns[shop]-policy[audit]-rule[0]' });
    expect(audit.decide(req({ target: '/' }))).toEqual({ allowed: true, policy: null });
    expect(authorize([audit, ...engines('denyAdmin')], req({ target: '/admin' })).allowed).toBe(false);
  });
});

describe('bypass classes from Istio security bulletins', () => {
  it('CVE-2019-9901: dot segments are resolved before path rules', () => {
    for (const t of ['/public/../admin', '/public/./../admin', '/public/%2e%2e/admin', '/public/%2E%2E/admin/x', '/./admin']) {
      expect(allowed('denyAdmin', req({ target: t })), t).toBe(false);
      expect(allowed('allowPublic', req({ target: t })), t).toBe(false);
    }
  });

  it('CVE-2021-31920: escaped slashes and backslashes (%2F, %5C, \\) and merged slashes', () => {
    for (const t of ['/admin%2Fsecret', '/admin%2fsecret', '/admin%5Csecret', '/admin\\secret', '//admin//secret', '/public%2F..%2Fadmin']) {
      expect(allowed('denyAdmin', req({ target: t })), t).toBe(false);
    }
    expect(allowed('allowPublic', req({ target: '/public%2F..%2Fadmin' }))).toBe(false);
  });

  it('CVE-2020-8595: a query string does not make an exact path rule miss', () => {
    expect(allowed('denyAdmin', req({ target: '/admin?x=1' }))).toBe(false);
    expect(allowed('denyAdmin', req({ target: '/admin?' }))).toBe(false);
  });

  it('CVE-2021-39156: a #fragment does not make a path rule miss', () => {
    expect(allowed('denyAdmin', req({ target: '/admin#x' }))).toBe(false);
    expect(allowed('denyAdmin', req({ target: '/admin/x#/../../public' }))).toBe(false);
    expect(allowed('allowPublic', req({ target: '/public/../admin#/public/x' }))).toBe(false);
  });

  it('CVE-2021-39155: hosts compared case-insensitively, with and without port', () => {
    for (const h of ['secret.example.com', 'SECRET.example.com', 'Secret.Example.Com:443', 'secret.example.com:8080']) {
      expect(allowed('denyHost', req({ authority: h })), h).toBe(false);
    }
    expect(allowed('denyHost', req({ authority: 'public.example.com' }))).toBe(true);
  });

  it('CVE-2019-18802: header values trimmed; repeated headers matched value by value', () => {
    expect(allowed('denyHeader', req({ headers: { 'x-block': 'yes ' } }))).toBe(false);
    expect(allowed('denyHeader', req({ headers: { 'x-block': '\tyes' } }))).toBe(false);
    expect(allowed('denyHeader', req({ headers: { 'x-block': ['no', 'yes'] } }))).toBe(false);
    expect(allowed('denyHeader', req({ headers: { 'x-block': 'no' } }))).toBe(true);
  });

  it('several values of a header are matched in the direction that fails closed', () => {
    const compile = (action: 'ALLOW' | 'DENY', principal: object) => [compileRbacFilter(unpack(pack(ExtensionTypeUrl.HttpRbac, { rules: { action, policies: { p: { permissions: [{ any: true }], principals: [principal] } } } })), 'typed_config', 'http')!];
    const isEvil = { header: { name: 'x-user', string_match: { exact: 'evil' } } };
    const isGood = { header: { name: 'x-user', string_match: { exact: 'good' } } };
    const ok = (e: RbacEngine[], v: string | string[]) => authorize(e, req({ headers: { 'x-user': v } })).allowed;
    // DENY values: one matching value (line or list element) denies
    expect(ok(compile('DENY', isEvil), ['good', 'evil'])).toBe(false);
    expect(ok(compile('DENY', isEvil), 'good, evil')).toBe(false);
    expect(ok(compile('DENY', isEvil), 'good')).toBe(true);
    // DENY notValues (negated): a good value next to another one is still denied
    expect(ok(compile('DENY', { not_id: isGood }), ['good', 'evil'])).toBe(false);
    expect(ok(compile('DENY', { not_id: isGood }), 'good')).toBe(true);
    // ALLOW values: every line must match
    expect(ok(compile('ALLOW', isGood), 'good')).toBe(true);
    expect(ok(compile('ALLOW', isGood), ['good', 'evil'])).toBe(false);
    // ALLOW notValues (negated): one evil value is enough to refuse
    expect(ok(compile('ALLOW', { not_id: isEvil }), ['good', 'evil'])).toBe(false);
    expect(ok(compile('ALLOW', { not_id: isEvil }), 'good')).toBe(true);
    // an inverted matcher under ALLOW holds only when it holds for every list element
    const notEvil = { header: { name: 'x-user', string_match: { exact: 'evil' }, invert_match: true } };
    expect(ok(compile('ALLOW', notEvil), 'good,evil')).toBe(false);
    expect(ok(compile('ALLOW', notEvil), 'good')).toBe(true);
  });

  it('a malformed escape never matches an ALLOW path rule', () => {
    expect(normalizeRulePath('/public/%zz')).toBeNull();
    expect(normalizeRulePath('/public/%00')).toBeNull();
    expect(allowed('allowPublic', req({ target: '/public/%zz' }))).toBe(false);
  });

  it('canonical paths are stable', () => {
    for (const t of ['/a/b/../c', '/a//b/./c/', '/a%2Fb', '/%2e%2e/x']) {
      const once = normalizeRulePath(t)!;
      expect(normalizeRulePath(once)).toBe(once);
    }
    expect(normalizeRulePath('http://h.example.com/a/../b?q')).toBe('/b');
  });
});

describe('network RBAC (TCP ports)', () => {
  it('authorizes a connection from its verified peer and destination port', async () => {
    const { authorizeConnection } = await import('./network');
    const { kPeerIdentity } = await import('../security/peer');
    const conn = { listener: 'virtualInbound', dstIp: '10.0.0.7', dstPort: 8080, srcIp: '10.0.0.5', srcPort: 40000 };
    const mtls = { [kPeerIdentity]: { principal: CALLER, sans: [], subject: '', alpn: '', sni: '', protocol: 'TLSv1.3' } };
    expect(authorizeConnection(engines('principals', 'tcp'), mtls, conn).allowed).toBe(true);
    expect(authorizeConnection(engines('principals', 'tcp'), {}, conn).allowed).toBe(false);
    expect(authorizeConnection(engines('ports', 'tcp'), {}, { ...conn, dstPort: 9090 }).allowed).toBe(false);
    expect(authorizeConnection([], {}, conn).allowed).toBe(true);
  });
});

describe("trusted client address (Envoy's use_remote_address / xff_num_trusted_hops)", () => {
  it('picks the address Envoy would trust', async () => {
    const { trustedClientAddress: t } = await import('./layer');
    const xff = '192.0.2.10, 203.0.113.128, 198.51.100.1';
    // edge, no trusted proxy in front: the peer, XFF ignored
    expect(t(xff, '10.0.0.1', { useRemoteAddress: true, xffNumTrustedHops: 0 })).toBe('10.0.0.1');
    // edge with 1 or 2 trusted proxies in front: the Nth address from the right
    expect(t(xff, '10.0.0.1', { useRemoteAddress: true, xffNumTrustedHops: 1 })).toBe('198.51.100.1');
    expect(t(xff, '10.0.0.1', { useRemoteAddress: true, xffNumTrustedHops: 2 })).toBe('203.0.113.128');
    expect(t(xff, '10.0.0.1', { useRemoteAddress: true, xffNumTrustedHops: 4 })).toBe('10.0.0.1');
    // internal proxy: the last address, after skipping N
    expect(t(xff, '10.0.0.1', { useRemoteAddress: false, xffNumTrustedHops: 0 })).toBe('198.51.100.1');
    expect(t(xff, '10.0.0.1', { useRemoteAddress: false, xffNumTrustedHops: 1 })).toBe('203.0.113.128');
    expect(t(xff, '10.0.0.1', null)).toBe('198.51.100.1');
    // not an address, or no XFF: the peer
    expect(t('junk', '10.0.0.1', { useRemoteAddress: false, xffNumTrustedHops: 0 })).toBe('10.0.0.1');
    expect(t(undefined, '10.0.0.1', { useRemoteAddress: true, xffNumTrustedHops: 1 })).toBe('10.0.0.1');
    expect(t(['192.0.2.10', '198.51.100.1'], '10.0.0.1', { useRemoteAddress: true, xffNumTrustedHops: 1 })).toBe('198.51.100.1');
  });
});
