import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LocalRuntime } from '../src/runtime';
import { TEST_IMAGES } from './fixtures';

const fetchIn = (rt: LocalRuntime, pod: string, url: string) =>
  rt.exec(pod, ['node', '-e', `fetch(${JSON.stringify(url)}).then(r => r.text()).then(t => process.stdout.write(t), e => { process.stdout.write('ERR ' + (e.cause?.code ?? e.message)); })`]);

const web = (replicas: number) => `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: sts }
spec:
  clusterIP: None
  selector: { app: web }
  ports: [{ name: http, port: 8080, targetPort: http }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: web, namespace: sts }
spec:
  serviceName: web
  replicas: ${replicas}
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: echo
          image: test/echo:latest
          env:
            - { name: PORT, value: "8080" }
            - name: POD_NAME
              valueFrom: { fieldRef: { fieldPath: metadata.name } }
          ports: [{ name: http, containerPort: 8080 }]
          readinessProbe: { httpGet: { path: /healthz, port: http }, periodSeconds: 1 }
`;

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const readyNames = (rt: LocalRuntime) => rt.pods().filter((p) => p.namespace === 'sts' && p.labels.app === 'web' && p.ready).map((p) => p.name).sort();

describe('LocalRuntime StatefulSets and headless Services', () => {
  let rt: LocalRuntime;
  beforeAll(async () => {
    rt = await LocalRuntime.start({ images: TEST_IMAGES, meshPki: false, backoff: { initialMs: 200, maxMs: 1000 } });
    await rt.apply(web(2));
    await until('web-0 and web-1 ready', () => readyNames(rt).join() === 'web-0,web-1');
    await rt.waitReady({ timeoutMs: 20_000 });
  }, 60_000);
  afterAll(async () => {
    await rt?.stop();
    if (rt) rmSync(rt.runDir, { recursive: true, force: true });
  }, 60_000);

  it('names pods <set>-<ordinal> with hostname and subdomain, and gives the headless Service no VIP', () => {
    const pods = rt.pods().filter((p) => p.labels.app === 'web');
    expect(pods.map((p) => p.name).sort()).toEqual(['web-0', 'web-1']);
    for (const p of pods) {
      expect(p.object.spec.hostname).toBe(p.name);
      expect(p.object.spec.subdomain).toBe('web');
      expect(p.labels['statefulset.kubernetes.io/pod-name']).toBe(p.name);
      expect(p.object.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'StatefulSet', name: 'web' });
    }
    expect(rt.serviceIP('sts', 'web')).toBeUndefined();
  });

  it('writes EndpointSlices with each pod\'s hostname for the control plane', async () => {
    const slice = await until('slice with both hostnames', () => {
      const s = parse(readFileSync(join(rt.configDir, 'endpointslice', 'sts.web-local.yaml'), 'utf8')) as { endpoints: { addresses: string[]; hostname?: string }[] };
      return s.endpoints.length === 2 ? s : undefined;
    });
    const byHost = Object.fromEntries(slice.endpoints.map((e) => [e.hostname, e.addresses[0]]));
    expect(byHost).toEqual({ 'web-0': rt.pod('sts', 'web-0')!.ip, 'web-1': rt.pod('sts', 'web-1')!.ip });
  });

  it('resolves per-pod DNS names and the headless name to pod IPs', async () => {
    for (const host of ['web-1.web.sts.svc.cluster.local', 'web-1.web.sts.svc', 'web-1.web']) {
      const r = await fetchIn(rt, 'sts/web-0', `http://${host}:8080/`);
      expect(JSON.parse(r.stdout).pod).toBe('web-1');
    }
    const r0 = await fetchIn(rt, 'sts/web-1', 'http://web-0.web.sts.svc.cluster.local:8080/');
    expect(JSON.parse(r0.stdout).pod).toBe('web-0');
    const any = await fetchIn(rt, 'sts/web-0', 'http://web.sts.svc.cluster.local:8080/');
    expect(['web-0', 'web-1']).toContain(JSON.parse(any.stdout).pod);
    // Names of pods that do not exist fail.
    expect((await fetchIn(rt, 'sts/web-0', 'http://web-7.web.sts.svc.cluster.local:8080/')).stdout).toBe('ERR ENOTFOUND');
  });

  it('re-creates a deleted pod under the same name, and scales down from the highest ordinal', async () => {
    await rt.deletePod('sts/web-1');
    await until('web-1 back and ready', () => readyNames(rt).join() === 'web-0,web-1');
    const again = await until('web-1 answering', async () => {
      const r = await fetchIn(rt, 'sts/web-0', 'http://web-1.web.sts.svc.cluster.local:8080/');
      return r.stdout.startsWith('{') ? r : undefined;
    });
    expect(JSON.parse(again.stdout).pod).toBe('web-1');
    await rt.apply(web(1));
    await until('only web-0', () => rt.pods().filter((p) => p.labels.app === 'web').map((p) => p.name).join() === 'web-0');
    await until('web-1 out of DNS', async () => ((await fetchIn(rt, 'sts/web-0', 'http://web-1.web:8080/')).stdout === 'ERR ENOTFOUND' ? true : undefined));
  }, 40_000);

  it('brings a set up once the ConfigMap its pods mount appears: each failed sandbox re-queues the create with back-off', async () => {
    const cfgSet = web(1).split('---')[1].replaceAll('name: web, namespace: sts', 'name: cfg, namespace: sts').replace('serviceName: web', 'serviceName: cfg').replaceAll('app: web', 'app: cfg')
      .replace('          readinessProbe:', '          volumeMounts: [{ name: conf, mountPath: /etc/conf }]\n          readinessProbe:')
      .concat('      volumes: [{ name: conf, configMap: { name: later } }]\n');
    await rt.apply(cfgSet);
    await new Promise((r) => setTimeout(r, 1500));
    expect(rt.pods().some((p) => p.labels.app === 'cfg')).toBe(false);
    const failed = rt.list('Event').filter((e) => (e.reason as string) === 'FailedCreatePodSandBox' && (e.involvedObject as { name?: string }).name === 'cfg-0');
    expect(failed.length).toBeGreaterThan(0);
    await rt.apply('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: later, namespace: sts }\ndata: { a: b }\n');
    await until('cfg-0 ready', () => rt.pods().some((p) => p.name === 'cfg-0' && p.ready), 15_000);
    await rt.delete('StatefulSet', 'sts/cfg');
  }, 30_000);
});

