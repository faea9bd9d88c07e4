import { describe, expect, it } from 'vitest';
import { formatIssue, parseConfigYaml, validateConfig, type ConfigResource } from '@tsmesh/mesh-config';
import { LastGoodConfig } from './last-good';
import { PushContext } from '../model/push-context';
import { mtlsModeFor } from '../xds/listeners';
import { jwtFilter } from '../xds/jwt';

const parse = (yaml: string) => parseConfigYaml(yaml, 'p.yaml').resources;
const validate = (rs: readonly ConfigResource[]) => validateConfig(rs);
const meta = (kind: string, name: string) => `apiVersion: security.istio.io/v1\nkind: ${kind}\nmetadata: {name: ${name}, namespace: default}\n`;

describe('LastGoodConfig', () => {
  it('keeps the accepted version of an updated resource, names both versions, and forgets deleted ones', () => {
    const lg = new LastGoodConfig();
    const good = parse(`${meta('PeerAuthentication', 'pa')}spec: {mtls: {mode: STRICT}}\n`);
    const t0 = new Date('2026-12-01T10:00:00Z');
    expect(lg.apply(good, validate, t0).rejected.size).toBe(0);
    const bad = parse(`${meta('PeerAuthentication', 'pa')}spec: {mtls: {mode: STRICT}, portLevelMtls: {"8080": {mode: DISABLE}}}\n`);
    const v = lg.apply(bad, validate, new Date('2026-12-01T10:05:00Z'));
    expect(v.rejected.get('PeerAuthentication/default/pa')).toBe('kept_last_good');
    expect(v.serve).toEqual([good[0]]);
    expect(v.issues.map(formatIssue)).toEqual([expect.stringMatching(/portLevelMtls needs a workload selector; kept version from 2026-12-01T10:00:00.000Z \(p\.yaml:1 \(sha256 [0-9a-f]{10}\)\), rejected p\.yaml:1 \(sha256 [0-9a-f]{10}\)$/)]);
    expect(v.issues[0].kept).toEqual({ version: expect.stringMatching(/sha256/), acceptedAt: '2026-12-01T10:00:00.000Z' });
    expect(lg.apply([], validate).serve).toEqual([]);
    // Gone, so a later bad version has nothing to fall back to (and, not STRICT-only, is dropped or enforced as below).
    expect(lg.kept('PeerAuthentication/default/pa')).toBeUndefined();
  });

  it('a new STRICT PeerAuthentication that is rejected is still enforced as STRICT; a rejected PERMISSIVE one is dropped', () => {
    const lg = new LastGoodConfig();
    const input = parse(`${meta('PeerAuthentication', 'strict')}spec: {mtls: {mode: STRICT}, portLevelMtls: {"8080": {mode: DISABLE}}}\n---\n${meta('PeerAuthentication', 'perm').replace('namespace: default', 'namespace: other')}spec: {mtls: {mode: PERMISSIVE}, portLevelMtls: {"8080": {mode: DISABLE}}}\n`);
    const v = lg.apply(input, validate);
    // The same rejected object is enforced as the same object on the next pass (caches key on identity).
    expect(lg.apply(input, validate).serve.find((r) => r.name === 'strict')).toBe(v.serve.find((r) => r.name === 'strict'));
    expect(v.rejected.get('PeerAuthentication/default/strict')).toBe('fail_closed');
    expect(v.rejected.get('PeerAuthentication/other/perm')).toBe('dropped');
    const served = v.serve.find((r) => r.name === 'strict')!;
    expect((served.object as { spec: unknown }).spec).toEqual({ mtls: { mode: 'STRICT' } });
    expect(v.issues.find((i) => i.resource === 'PeerAuthentication default/strict')!.reason).toMatch(/; the STRICT mTLS it asks for is enforced fail-closed; the rest is not applied$/);
    const push = new PushContext(v.serve, 't');
    const proxy = { id: 'x', kind: 'sidecar' as const, ip: '10.0.0.1', podName: 'p', namespace: 'default', labels: {}, metadata: {} };
    expect(mtlsModeFor(push, proxy, 8080)).toBe('STRICT');
  });

  it('a rejected RequestAuthentication refuses its issuers\' tokens instead of letting them through unverified', () => {
    const v = new LastGoodConfig().apply(parse(`${meta('RequestAuthentication', 'ra')}spec:\n  jwtRules:\n    - issuer: https://issuer.example.com\n      jwksUri: ftp://nowhere/jwks\n`), validate);
    expect(v.rejected.get('RequestAuthentication/default/ra')).toBe('fail_closed');
    expect(v.issues.map((i) => i.reason)).toEqual([expect.stringMatching(/; enforced fail-closed: tokens of https:\/\/issuer\.example\.com are refused \(401\)/)]);
    const push = new PushContext(v.serve, 't');
    const f = jwtFilter(push, push.requestAuthentications);
    expect(f?.name).toBe('envoy.filters.http.jwt_authn');
    expect(push.requestAuthentications[0].spec.jwtRules).toEqual([{ issuer: 'https://issuer.example.com', jwks: '{"keys":[]}' }]);
  });

  it('an AuthorizationPolicy with an unusable selector is dropped, and says nothing about enforcement', () => {
    const v = new LastGoodConfig().apply(parse(`${meta('AuthorizationPolicy', 'ap')}spec: {selector: {matchLabels: {app: [x]}}, action: DENY, rules: [{}]}\n`), validate);
    expect(v.rejected.get('AuthorizationPolicy/default/ap')).toBe('dropped');
    expect(v.serve).toEqual([]);
    expect(v.issues.every((i) => !/fail-closed/.test(i.reason))).toBe(true);
  });
});
