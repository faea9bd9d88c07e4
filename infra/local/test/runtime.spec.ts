import { readFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { LocalRuntime } from '../src/runtime';
import { run } from '../src/exec';
import { echoApp, TEST_IMAGES } from './fixtures';

const curl = (rt: LocalRuntime, pod: string, url: string) =>
  rt.exec(pod, ['node', '-e', `fetch(${JSON.stringify(url)}).then(r => r.text()).then(t => process.stdout.write(t), e => { process.stdout.write('ERR ' + (e.cause?.code ?? e.message)); })`]);

describe('LocalRuntime with test images', () => {
  let rt: LocalRuntime;
  beforeAll(async () => {
    rt = await LocalRuntime.start({ images: TEST_IMAGES, meshPki: false, backoff: { initialMs: 200, maxMs: 2000 } });
    await rt.apply(echoApp({ name: 'echo', replicas: 2 }));
    await rt.apply(echoApp({ name: 'other', namespace: 'other-ns', readyAfterMs: 1500 }));
    await rt.waitReady({ timeoutMs: 30_000 });
  }, 60_000);
  afterAll(async () => {
    const netns = rt?.pods().map((p) => p.netns) ?? [];
    const pids = rt?.pods().flatMap((p) => p.containers.map((c) => c.pid)).filter((p): p is number => !!p) ?? [];
    await rt?.stop();
    if (rt) rmSync(rt.runDir, { recursive: true, force: true });
    // Nothing left behind: namespaces, bridge, chains, /etc/netns dirs, processes.
    const nsList = await run(['ip', 'netns', 'list']);
    for (const n of netns) expect(nsList).not.toContain(n);
    expect(existsSync(`/sys/class/net/${rt.names.bridge}`)).toBe(false);
    const nat = await run(['iptables', '-t', 'nat', '-S']);
    expect(nat).not.toContain(`TSM-${rt.names.id}-`);
    for (const n of netns) expect(existsSync(`/etc/netns/${n}`)).toBe(false);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);

  it('materialises Deployment pods with template labels, env, downward API and service account', () => {
    const pods = rt.pods().filter((p) => p.labels.app === 'echo');
    expect(pods).toHaveLength(2);
    for (const p of pods) {
      expect(p.name).toMatch(/^echo-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      expect(p.labels['pod-template-hash']).toHaveLength(10);
      expect(p.object.spec.serviceAccountName).toBe('echo');
      expect(p.ip).toMatch(/^10\.244\.\d+\.\d+$/);
      expect(p.ready).toBe(true);
    }
  });

  it('reaches a pod through its Service VIP and DNS names, from another namespace', async () => {
    const client = rt.pods().find((p) => p.namespace === 'other-ns')!;
    for (const host of ['echo.default', 'echo.default.svc', 'echo.default.svc.cluster.local']) {
      const r = await curl(rt, `${client.namespace}/${client.name}`, `http://${host}/`);
      const body = JSON.parse(r.stdout) as { pod: string; ns: string; ip: string; uid: number; msg: string };
      expect(body.ns).toBe('default');
      expect(body.uid).toBe(1000);
      expect(body.msg).toBe(`hello from ${body.pod}`);
      expect(rt.pods().map((p) => p.name)).toContain(body.pod);
    }
    // The short name resolves only inside the Service's namespace.
    const echo = rt.pods().find((p) => p.labels.app === 'echo')!;
    expect((await curl(rt, `default/${echo.name}`, 'http://echo/')).stdout).toContain('"ns":"default"');
    expect((await curl(rt, `${client.namespace}/${client.name}`, 'http://echo/')).stdout).toBe('ERR ENOTFOUND');
  });

  it('lets a pod reach itself through its own Service (hairpin)', async () => {
    const other = rt.pods().find((p) => p.namespace === 'other-ns')!;
    const r = await curl(rt, `other-ns/${other.name}`, 'http://other/');
    expect(JSON.parse(r.stdout).pod).toBe(other.name);
  });

  it('load-balances the VIP over both replicas and reaches it from the host', async () => {
    const vip = rt.serviceIP('default', 'echo')!;
    const seen = new Set<string>();
    for (let i = 0; i < 30 && seen.size < 2; i++) {
      const body = await new Promise<string>((resolve, reject) => {
        get({ host: vip, port: 80, path: '/', agent: false }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
      seen.add((JSON.parse(body) as { pod: string }).pod);
    }
    expect(seen.size).toBe(2);
  });

  it('refuses connections at once to a Service port without endpoints, as kube-proxy does', async () => {
    await rt.apply('apiVersion: v1\nkind: Service\nmetadata: { name: nobody }\nspec:\n  selector: { app: nobody }\n  ports: [{ name: http, port: 80, targetPort: 8080 }]\n');
    const vip = rt.serviceIP('default', 'nobody')!;
    const started = Date.now();
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      get({ host: vip, port: 80, path: '/', agent: false }, () => resolve(new Error('answered') as NodeJS.ErrnoException)).on('error', resolve);
    });
    expect(err.code).toBe('ECONNREFUSED');
    expect(Date.now() - started).toBeLessThan(1000);
    await rt.delete('Service', 'default/nobody');
    expect(existsSync(join(rt.configDir, 'service', 'default.nobody.yaml'))).toBe(false);
  });

  it('sees plaintext between pods from the bridge side (watchWire)', async () => {
    const [a, b] = rt.pods().filter((p) => p.labels.app === 'echo');
    const watch = await rt.watchWire('GET /wire-check');
    try {
      expect(await watch.packets()).toBe(0);
      await curl(rt, `default/${a.name}`, `http://${b.ip}:8080/wire-check`);
      expect(await watch.packets()).toBeGreaterThan(0);
    } finally {
      await watch.remove();
    }
  });

  it('exec into a pod of a command that exits without reading its input: its exit code, no EPIPE thrown', async () => {
    const echo = rt.pods().find((p) => p.labels.app === 'echo')!;
    // larger than a pipe's buffer: the write cannot finish before the command is gone
    const input = 'x'.repeat(1024 * 1024);
    expect((await rt.exec(`default/${echo.name}`, ['true'], { input })).code).toBe(0);
    expect((await rt.exec(`default/${echo.name}`, ['sh', '-c', 'echo no >&2; exit 4'], { input })).code).toBe(4);
  });

  it('mounts downward-API labels and a projected token verifiable with the JWKS', async () => {
    const echo = rt.pods().find((p) => p.labels.app === 'echo')!;
    const labels = await (await fetch(`http://${echo.ip}:8080/file`)).text();
    expect(labels).toContain('app="echo"');
    const r = await rt.exec(`default/${echo.name}`, ['cat', '/var/run/secrets/tokens/istio-token']);
    // exec runs without the container's mounts; read the token from the volume instead.
    const token = r.code === 0 ? r.stdout : readFileSync(join(rt.runDir, 'pods', `default_${echo.name}`, 'volumes', 'token', 'istio-token'), 'utf8');
    const jwks = createLocalJWKSet(JSON.parse(readFileSync(rt.jwksFile, 'utf8')));
    const { payload } = await jwtVerify(token, jwks, { audience: 'istio-ca', issuer: rt.tokens.issuer });
    expect(payload.sub).toBe('system:serviceaccount:default:echo');
    expect(payload['kubernetes.io']).toMatchObject({ namespace: 'default', serviceaccount: { name: 'echo' }, pod: { name: echo.name } });
  });

  it('writes EndpointSlices with ready endpoints only, and Services with their VIPs, for the control plane', () => {
    const slice = parse(readFileSync(join(rt.configDir, 'endpointslice', 'default.echo-local.yaml'), 'utf8'));
    expect(slice.metadata.labels['kubernetes.io/service-name']).toBe('echo');
    expect(slice.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    const ips = rt.pods().filter((p) => p.labels.app === 'echo').map((p) => p.ip).sort();
    expect(slice.endpoints.map((e: { addresses: string[] }) => e.addresses[0]).sort()).toEqual(ips);
    expect(slice.endpoints[0].targetRef.kind).toBe('Pod');
    expect(slice.endpoints[0].nodeName).toBeUndefined();
    const svc = parse(readFileSync(join(rt.configDir, 'service', 'default.echo.yaml'), 'utf8'));
    expect(svc.spec.clusterIP).toBe(rt.serviceIP('default', 'echo'));
  });

  it('drops a pod from its EndpointSlice and VIP when readiness fails, and restores it', async () => {
    const echo = rt.pods().find((p) => p.labels.app === 'echo')!;
    const slicePath = join(rt.configDir, 'endpointslice', 'default.echo-local.yaml');
    // Make /healthz fail inside this pod only: its mount namespace sees the host's /tmp, so use the container's PID.
    const lp = rt.pod('default', echo.name)!;
    lp.container('echo')!.signal('SIGSTOP');
    await waitFor(() => !parse(readFileSync(slicePath, 'utf8')).endpoints.some((e: { addresses: string[] }) => e.addresses[0] === echo.ip), 15_000);
    lp.container('echo')!.signal('SIGCONT');
    await waitFor(() => parse(readFileSync(slicePath, 'utf8')).endpoints.some((e: { addresses: string[] }) => e.addresses[0] === echo.ip), 15_000);
  });

  it('writes each pod with its IP and Ready condition for the control plane', () => {
    const echo = rt.pods().find((p) => p.labels.app === 'echo')!;
    const pod = parse(readFileSync(join(rt.configDir, 'pod', `default.${echo.name}.yaml`), 'utf8'));
    expect(pod.status.podIP).toBe(echo.ip);
    expect(pod.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True', lastTransitionTime: expect.any(String) }));
    expect(pod.metadata.labels.app).toBe('echo');
  });

  it('scales a Deployment, replaces deleted pods, and replaces all pods when the template changes', async () => {
    const scaled = () => rt.pods().filter((p) => p.labels.app === 'scaled');
    await rt.apply(echoApp({ name: 'scaled', replicas: 2 }));
    await waitFor(() => scaled().length === 2, 20_000);
    await rt.apply(echoApp({ name: 'scaled', replicas: 1 }));
    expect(scaled()).toHaveLength(1);
    const victim = scaled()[0];
    await rt.deletePod(`default/${victim.name}`);
    const slice = parse(readFileSync(join(rt.configDir, 'endpointslice', 'default.scaled-local.yaml'), 'utf8'));
    expect(slice.endpoints.map((e: { addresses: string[] }) => e.addresses[0])).not.toContain(victim.ip);
    await waitFor(() => scaled().length === 1 && scaled()[0].name !== victim.name, 20_000);
    const hash = scaled()[0].labels['pod-template-hash'];
    await rt.apply(echoApp({ name: 'scaled', replicas: 1, readyAfterMs: 1 }));
    await waitFor(() => scaled().length === 1 && scaled()[0].labels['pod-template-hash'] !== hash, 20_000);
    await rt.delete(echoApp({ name: 'scaled' }));
    expect(scaled()).toHaveLength(0);
    expect(rt.serviceIP('default', 'scaled')).toBeUndefined();
  });

  it('restarts a crashed container with backoff and logs per container', async () => {
    const echo = rt.pods().find((p) => p.labels.app === 'echo')!;
    const proc = rt.pod('default', echo.name)!.container('echo')!;
    const before = proc.pid;
    proc.signal('SIGKILL');
    await waitFor(() => proc.state === 'running' && proc.pid !== before, 10_000);
    expect(proc.restartCount).toBe(1);
    expect(existsSync(rt.logPath('default', echo.name, 'echo'))).toBe(true);
    await rt.waitReady({ timeoutMs: 15_000 });
  });
});

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
