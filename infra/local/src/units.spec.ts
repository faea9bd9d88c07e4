import { describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { cidrContains, IpPool, parseCidr } from './ipam';
import { newRunId, pidOfRunId, RunNames, runIdOfName } from './names';
import { hostsFile, nsswitchConf, resolvConf } from './dns';
import { endpointSlicesFor } from './endpoints';
import { matchingWebhooks } from './admission';
import { TokenIssuer } from './tokens';
import { splitRule } from './network';
import type { KubeObject, PodObject, ServiceObject } from './kube';

describe('addresses and names', () => {
  it('allocates pod IPs after the gateway and reuses released ones', () => {
    const pool = new IpPool(parseCidr('10.244.7.0/24'), 1);
    expect(pool.gateway).toBe('10.244.7.1');
    expect(pool.allocate()).toBe('10.244.7.2');
    expect(pool.allocate()).toBe('10.244.7.3');
    pool.release('10.244.7.2');
    for (let i = 0; i < 252; i++) pool.allocate();
    expect(() => pool.allocate()).toThrow(/no free address/);
    expect(cidrContains(parseCidr('10.96.3.0/24'), '10.96.3.200')).toBe(true);
  });

  it('names everything with the prefix and a run id that carries the pid', () => {
    const id = newRunId(123456);
    expect(pidOfRunId(id)).toBe(123456);
    const n = new RunNames(id);
    expect(n.bridge.length).toBeLessThanOrEqual(15);
    expect(n.vethHost(1295).length).toBeLessThanOrEqual(15);
    for (const name of [n.bridge, n.vethHost(35), n.netns('default', 'p'), n.servicesChain, n.serviceChain(3)]) expect(runIdOfName(name)).toBe(id);
    expect(runIdOfName('eth0')).toBeUndefined();
    expect(splitRule('-A X -m comment --comment "a b" -j Y')).toEqual(['-A', 'X', '-m', 'comment', '--comment', 'a b', '-j', 'Y']);
  });
});

describe('DNS files', () => {
  it('lists every Service under its FQDN, name.ns.svc and name.ns, and the short name in the same namespace', () => {
    const h = hostsFile({ name: 'p', namespace: 'default', ip: '10.244.0.5' }, [
      { name: 'istiod', namespace: 'istio-system', vip: '10.96.0.2' },
      { name: 'todolist', namespace: 'default', vip: '10.96.0.3' },
    ]);
    expect(h).toContain('10.96.0.2\tistiod.istio-system.svc.cluster.local istiod.istio-system.svc istiod.istio-system\n');
    expect(h).toContain('10.96.0.3\ttodolist.default.svc.cluster.local todolist.default.svc todolist.default todolist\n');
    expect(resolvConf('default')).toMatch(/^search default.svc.cluster.local svc.cluster.local cluster.local$/m);
    expect(nsswitchConf('passwd: files\nhosts:   files dns\n')).toBe('passwd: files\nhosts: files\n');
  });
});

describe('EndpointSlices', () => {
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'default', uid: 'u' }, spec: { selector: { app: 's' }, ports: [{ name: 'http', port: 80, targetPort: 'web' }] } } as ServiceObject;
  const pod = (name: string, ip: string, ready: boolean, port = 8080) => ({
    object: { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: { app: 's' } }, spec: { containers: [{ name: 'c', ports: [{ name: 'web', containerPort: port }] }] } } as PodObject,
    ip,
    ready,
  });

  it('holds ready endpoints only, with resolved target ports and targetRefs, and no nodeName', () => {
    const [slice] = endpointSlicesFor(svc, [pod('a', '10.0.0.2', true), pod('b', '10.0.0.3', false)]);
    expect(slice.metadata.labels).toMatchObject({ 'kubernetes.io/service-name': 's' });
    expect(slice.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(slice.endpoints).toEqual([{ addresses: ['10.0.0.2'], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' } }]);
  });

  it('splits pods whose named port resolves differently, and keeps an empty slice when none is ready', () => {
    expect(endpointSlicesFor(svc, [pod('a', '10.0.0.2', true), pod('b', '10.0.0.3', true, 9090)])).toHaveLength(2);
    const [empty] = endpointSlicesFor(svc, []);
    expect(empty.endpoints).toEqual([]);
  });
});

describe('webhook selection', () => {
  const cfg = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'istio-sidecar-injector' },
    webhooks: [
      { name: 'ns', clientConfig: {}, rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }], namespaceSelector: { matchExpressions: [{ key: 'istio-injection', operator: 'In', values: ['enabled'] }] }, objectSelector: { matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] }] } },
      { name: 'obj', clientConfig: {}, rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }], namespaceSelector: { matchExpressions: [{ key: 'istio-injection', operator: 'DoesNotExist' }] }, objectSelector: { matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'In', values: ['true'] }] } },
    ],
  } as KubeObject;
  const pod = (labels: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels }, spec: { containers: [] } }) as PodObject;

  it('applies namespaceSelector and objectSelector as the API server does', () => {
    expect(matchingWebhooks([cfg], pod({}), { 'istio-injection': 'enabled' }).map((w) => w.name)).toEqual(['ns']);
    expect(matchingWebhooks([cfg], pod({ 'sidecar.istio.io/inject': 'false' }), { 'istio-injection': 'enabled' })).toEqual([]);
    expect(matchingWebhooks([cfg], pod({ 'sidecar.istio.io/inject': 'true' }), {}).map((w) => w.name)).toEqual(['obj']);
    expect(matchingWebhooks([cfg], pod({}), {})).toEqual([]);
  });
});

describe('service-account tokens', () => {
  it('are ES256 JWTs with projected-token claims, verifiable with the JWKS', async () => {
    const issuer = await TokenIssuer.create();
    const token = await issuer.issue({ namespace: 'default', serviceAccount: 'caller', audiences: ['istio-ca'], expirationSeconds: 43200, pod: { name: 'caller-1', uid: 'u1' } });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', kid: issuer.jwks().keys[0].kid });
    const { payload } = await jwtVerify(token, createLocalJWKSet(issuer.jwks()), { audience: 'istio-ca', issuer: issuer.issuer });
    expect(payload).toMatchObject({ sub: 'system:serviceaccount:default:caller', 'kubernetes.io': { namespace: 'default', serviceaccount: { name: 'caller' }, pod: { name: 'caller-1', uid: 'u1' } } });
    expect(payload.exp! - payload.iat!).toBe(43200);
    const other = await TokenIssuer.create();
    await expect(jwtVerify(token, createLocalJWKSet(other.jwks()))).rejects.toThrow();
  });
});
