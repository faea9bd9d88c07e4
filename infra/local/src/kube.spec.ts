import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { admitName, expandVars, fieldRef, formatDownwardMap, loadManifests, matchesSelector, podsForDeployment, resolveEnv, resolvePort, type PodObject } from './kube';
import { containerArgv, imageName, IMAGES, UnknownImageError } from './images';

const root = join(import.meta.dirname, '..', '..', '..');
const ctx = { jwksFile: '/run/jwks.json', issuer: 'https://kubernetes.default.svc.cluster.local', configDir: '/run/config' };

describe('Deployment → Pod', () => {
  const objs = loadManifests([join(root, 'infra/k8s/base')]);

  it('reads the kustomization tree in resources order', () => {
    const kinds = objs.map((o) => o.kind);
    expect(kinds.indexOf('Namespace')).toBeLessThan(kinds.indexOf('Deployment'));
    expect(objs.some((o) => o.kind === 'Deployment' && o.metadata.name === 'todolist-v1')).toBe(true);
    expect(objs.some((o) => o.kind === 'Kustomization')).toBe(false);
  });

  it('materialises the recorded todolist-v1 Deployment as the ReplicaSet controller would', () => {
    const dep = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'todolist-v1')!;
    const [pod] = podsForDeployment(dep);
    expect(pod.metadata.generateName).toMatch(/^todolist-v1-[bcdfghjklmnpqrstvwxz2456789]{10}-$/);
    expect(pod.metadata.labels).toMatchObject({ app: 'todolist', version: 'v1', 'pod-template-hash': pod.metadata.generateName!.slice(12, 22) });
    expect(pod.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet', controller: true });
    expect(pod.spec.serviceAccountName).toBe('todolist');
    expect(pod.spec.restartPolicy).toBe('Always');
    expect(pod.spec.containers[0].ports?.[0]).toEqual({ name: 'http', containerPort: 8000, protocol: 'TCP' });
    // The same template gives the same hash; a changed one another.
    expect(podsForDeployment(dep)[0].metadata.generateName).toBe(pod.metadata.generateName);
    const changed = structuredClone(dep);
    (changed.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels.version = 'v9';
    expect(podsForDeployment(changed)[0].metadata.generateName).not.toBe(pod.metadata.generateName);
    admitName(pod);
    expect(pod.metadata.name).toMatch(/^todolist-v1-\w{10}-\w{5}$/);
  });

  it('resolves env with fieldRefs and $(VAR), and the gateway args with $(POD_NAMESPACE)', () => {
    const dep = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'istio-ingressgateway')!;
    const [pod] = podsForDeployment(dep);
    admitName(pod);
    const facts = { pod, podIP: '10.244.1.5', hostIP: '10.244.1.1', nodeName: 'local-node' };
    const c = pod.spec.containers[0];
    const env = resolveEnv(c, facts, () => undefined);
    expect(env).toMatchObject({ POD_NAME: pod.metadata.name, POD_NAMESPACE: 'istio-system', INSTANCE_IP: '10.244.1.5', SERVICE_ACCOUNT: 'istio-ingressgateway-service-account', HOST_IP: '10.244.1.1' });
    const argv = containerArgv(c, ctx).map((a) => expandVars(a, env));
    expect(argv.slice(0, 9)).toEqual(['node', '--max-semi-space-size=2', '--no-concurrent-recompilation', '--expose-gc', 'dist/apps/proxy/main.js', 'proxy', 'router', '--domain', 'istio-system.svc.cluster.local']);
  });

  it('adapts the CA to the runtime: TokenReview becomes the JWKS', () => {
    const dep = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'istio-ca')!;
    const argv = containerArgv(podsForDeployment(dep)[0].spec.containers[0], ctx);
    expect(argv).toContain('--jwks');
    expect(argv).not.toContain('--kubernetes');
    expect(argv[argv.indexOf('--jwks') + 1]).toBe('/run/jwks.json');
  });
});

describe('kube helpers', () => {
  it('matches label selectors (matchLabels and every operator)', () => {
    const labels = { app: 'a', env: 'prod' };
    expect(matchesSelector({ matchLabels: { app: 'a' } }, labels)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] }, labels)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, labels)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['y'] }] }, labels)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, labels)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, labels)).toBe(true);
    expect(matchesSelector(undefined, labels)).toBe(true);
  });

  it('formats downward-API maps and fieldRefs, expands $(VAR) with $$ escapes', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', labels: { b: '2', a: 'x"y' } }, spec: { containers: [] } } as PodObject;
    expect(formatDownwardMap(pod.metadata.labels)).toBe('a="x\\"y"\nb="2"');
    expect(fieldRef("metadata.labels['b']", { pod, podIP: '', hostIP: '', nodeName: 'n' })).toBe('2');
    expect(expandVars('$(A)-$(B)-$$(A)', { A: '1' })).toBe('1-$(B)-$(A)');
  });

  it('resolves named ports and image names', () => {
    expect(resolvePort('http', [{ name: 'c', ports: [{ name: 'http', containerPort: 8000 }] }])).toBe(8000);
    expect(resolvePort(15021, [])).toBe(15021);
    expect(imageName('docker.io/tsmesh/proxy:1.2')).toBe('tsmesh/proxy');
    expect(imageName('localhost:5000/tsmesh/ca@sha256:abc')).toBe('tsmesh/ca');
    expect(Object.keys(IMAGES)).toContain('tsmesh/todolist');
    expect(() => containerArgv({ image: 'nginx' }, ctx)).toThrow(UnknownImageError);
    expect(containerArgv({ image: 'nginx', command: ['sh'], args: ['-c', 'x'] }, ctx)).toEqual(['sh', '-c', 'x']);
  });

  it('reads every sample manifest file', () => {
    expect(() => readFileSync(join(root, 'infra/k8s/base/samples/callme.yaml'), 'utf8')).not.toThrow();
  });
});
