import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRuntime } from '../src/runtime';
import { IMAGES } from '../src/images';
import { echoApp, FAKE_PROXY, TEST_IMAGES } from './fixtures';

const root = join(import.meta.dirname, '..', '..', '..');
const injectorBuilt = existsSync(join(root, 'dist/apps/injector/main.js'));

// The real injector (dist/apps/injector) admits a pod over HTTPS; the proxy image is a stand-in so this tests the runtime, not the proxy.
describe.skipIf(!injectorBuilt)('admission through the real injector webhook', () => {
  let rt: LocalRuntime;
  const ts = (file: string, word: string) => Number(/(\d{13})/.exec(readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(word)) ?? '')?.[1]);

  beforeAll(async () => {
    rt = await LocalRuntime.start({
      images: { ...IMAGES, ...TEST_IMAGES, 'tsmesh/proxy': { entrypoint: ['node', '-e', FAKE_PROXY] } },
      manifests: [join(root, 'infra/k8s/base/istio-system/namespace.yaml'), join(root, 'infra/k8s/base/istio-system/injector.yaml')],
      backoff: { initialMs: 200, maxMs: 2000 },
    });
    await rt.apply('apiVersion: v1\nkind: Namespace\nmetadata: { name: meshed, labels: { istio-injection: enabled } }\n');
    await rt.apply(echoApp({ name: 'echo', namespace: 'meshed' }));
    await rt.waitReady({ timeoutMs: 45_000 });
  }, 90_000);
  afterAll(async () => {
    await rt?.stop();
    if (rt) rmSync(rt.runDir, { recursive: true, force: true });
  }, 60_000);

  it('patches the pod with the injector sidecar (JSONPatch applied)', () => {
    const pod = rt.pods().find((p) => p.namespace === 'meshed')!;
    expect(pod.object.spec.initContainers?.map((c) => c.name)).toEqual(['istio-init', 'istio-proxy']);
    expect(pod.object.spec.initContainers?.[1].restartPolicy).toBe('Always');
    expect(pod.labels['security.istio.io/tlsMode']).toBe('istio');
    expect(pod.object.metadata.annotations?.['sidecar.istio.io/status']).toContain('istio-proxy');
    expect(pod.ready).toBe(true);
  });

  it('runs istio-init as root, the sidecar as 1337 with its token and labels mounted, before the app', () => {
    const pod = rt.pods().find((p) => p.namespace === 'meshed')!;
    const init = readFileSync(rt.logPath('meshed', pod.name, 'istio-init'), 'utf8');
    expect(init).toContain('iptables uid=0 args=istio-iptables -p 15001 -z 15006 -u 1337');
    const proxyLog = rt.logPath('meshed', pod.name, 'istio-proxy');
    const proxy = readFileSync(proxyLog, 'utf8');
    expect(proxy).toContain('uid=1337');
    expect(proxy).toContain('token=true');
    expect(proxy).toContain('app=\\"echo\\"');
    expect(proxy).toContain(`env POD_NAME=${pod.name} INSTANCE_IP=${pod.ip} SERVICE_ACCOUNT=echo`);
    const appLog = rt.logPath('meshed', pod.name, 'echo');
    // Native sidecar: started and ready (500 ms after start) before the app starts.
    expect(ts(appLog, 'start')).toBeGreaterThanOrEqual(ts(proxyLog, 'start') + 500);
    expect(readFileSync(appLog, 'utf8')).toContain('uid=1000');
  });

  it('completes a Job whose pod the injector gave a native istio-proxy sidecar, leaving nothing running', async () => {
    await rt.apply(`
apiVersion: batch/v1
kind: Job
metadata: { name: migrate, namespace: meshed }
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{ name: main, image: test/done:latest }]
`);
    const seen = new Map<string, { netns: string; pids: number[]; init: string[] }>();
    const deadline = Date.now() + 30_000;
    let status: { succeeded?: number; conditions?: { type: string }[] } | undefined;
    while (Date.now() < deadline) {
      for (const p of rt.pods().filter((x) => x.labels['job-name'] === 'migrate')) {
        const pids = p.containers.filter((c) => c.name === 'istio-proxy').map((c) => c.pid).filter((x): x is number => !!x);
        seen.set(p.name, { netns: p.netns, pids: [...new Set([...(seen.get(p.name)?.pids ?? []), ...pids])], init: p.object.spec.initContainers?.map((c) => `${c.name}:${c.restartPolicy ?? ''}`) ?? [] });
      }
      status = rt.get('Job', 'meshed/migrate')?.status as typeof status;
      if (status?.conditions?.some((c) => c.type === 'Complete' || c.type === 'Failed')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status?.conditions?.map((c) => c.type)).toContain('Complete');
    expect(status?.succeeded).toBe(1);
    const [pod] = [...seen.values()];
    expect(pod.init).toEqual(['istio-init:', 'istio-proxy:Always']);
    expect(pod.pids.length).toBe(1);
    expect(() => process.kill(pod.pids[0], 0)).toThrow();
    expect(existsSync(`/etc/netns/${pod.netns}`)).toBe(false);
    expect(rt.pods().filter((x) => x.labels['job-name'] === 'migrate')).toEqual([]);
  }, 45_000);

  it('leaves pods in namespaces without the label alone', async () => {
    await rt.apply(echoApp({ name: 'plain', namespace: 'plain' }));
    await rt.waitReady({ timeoutMs: 20_000 });
    const pod = rt.pods().find((p) => p.namespace === 'plain')!;
    expect(pod.object.spec.initContainers ?? []).toEqual([]);
  });

  it('stops the app before its sidecar', async () => {
    const pod = rt.pods().find((p) => p.namespace === 'meshed')!;
    await rt.deletePod(`meshed/${pod.name}`);
    const appStop = ts(rt.logPath('meshed', pod.name, 'echo'), 'stop');
    const proxyStop = ts(rt.logPath('meshed', pod.name, 'istio-proxy'), 'stop');
    expect(appStop).toBeGreaterThan(0);
    expect(proxyStop).toBeGreaterThanOrEqual(appStop);
  });
});
