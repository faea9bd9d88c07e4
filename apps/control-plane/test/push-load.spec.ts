/**
 * The control plane under push load, at a size npm test can run:
 *  - streams were lost at 1,000 services / 2,000 proxies because a push was generated in one
 *    synchronous pass: for tens of seconds the event loop answered no HTTP/2 PING, so clients'
 *    keepalive timed out and closed their connections. Here a slow per-proxy step (a patch that
 *    costs 150 ms per proxy) makes one push cost 3 s against clients (in a process of their own)
 *    whose keepalive times out after 1 s: no stream may drop, and every proxy gets the change;
 *  - the push throttle bounds the responses being written at once, whatever the number of streams;
 *  - a reconnect storm is admitted at a bounded rate: streams over it are told to back off
 *    (RESOURCE_EXHAUSTED), retry, and all converge.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AdsClient, formatNodeId, TypeUrl } from '@tsmesh/xds';
import { startControlPlane, waitFor, type Running } from './helpers';

const SERVICES = 20;

function mesh(weight: number): string {
  let y = '';
  for (let i = 0; i < SERVICES; i++) {
    y += `apiVersion: v1
kind: Service
metadata: {name: s${i}, namespace: default}
spec: {clusterIP: 10.96.0.${i + 1}, selector: {app: s${i}}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: s${i}-0, namespace: default, labels: {app: s${i}}}
spec: {serviceAccountName: s${i}, containers: [{name: app, image: app}]}
status: {podIP: 10.1.0.${i + 1}}
---
`;
  }
  return `${y}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: s0, namespace: default}
spec:
  hosts: [s0]
  http: [{route: [{destination: {host: s0}, weight: 100}], timeout: ${weight}s}]
`;
}

const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* a per-proxy cost standing in for a large mesh */ }
};

/** Sends `msg` (or nothing) and resolves with the child's next message. */
function ask(p: ChildProcess, msg: object | null): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onExit = (c: number | null) => reject(new Error(`client process exited ${c}`));
    p.once('exit', onExit);
    p.once('message', (m) => { p.off('exit', onExit); resolve(m); });
    if (msg) p.send(msg);
  });
}

interface Sim { client: AdsClient; rds: string[]; cds: number; disconnects: number; rateLimited: number }

function connect(cp: Running, n: number, channelOptions: Record<string, number> = {}, backoff = { initialMs: 50, maxMs: 500 }): Sim[] {
  const sims: Sim[] = [];
  for (let i = 0; i < n; i++) {
    const client = new AdsClient({
      server: `127.0.0.1:${cp.xdsPort}`,
      node: { id: formatNodeId({ type: 'sidecar', ip: `10.2.${Math.floor(i / 250)}.${i % 250}`, podName: `client-${i}`, namespace: 'default' }) },
      channelOptions: { 'grpc.use_local_subchannel_pool': 1, ...channelOptions },
      backoff,
    });
    const s: Sim = { client, rds: [], cds: 0, disconnects: 0, rateLimited: 0 };
    client.watch(TypeUrl.Cluster, '*', () => { s.cds += 1; });
    client.watch(TypeUrl.RouteConfiguration, ['8080'], (u) => { s.rds.push(u.version); });
    client.on('disconnected', (err?: { code?: number }) => {
      s.disconnects += 1;
      if (err?.code === 8) s.rateLimited += 1;
    });
    client.start();
    sims.push(s);
  }
  return sims;
}

describe('pushes under load', () => {
  let cp: Running | undefined;
  let sims: Sim[] = [];
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.send({ cmd: 'exit' });
      await exited;
    }
    child = undefined;
    for (const s of sims) s.client.close();
    sims = [];
    await cp?.close();
    cp = undefined;
  });

  it('a push costing 3x the clients\' keepalive timeout drops no stream, and every proxy gets the change', async () => {
    let slow = false;
    cp = await startControlPlane([], { debounceMs: 30, patches: [(_g, _p, r) => { if (slow) busy(150); return r; }] });
    cp.write('mesh.yaml', mesh(1));
    await waitFor(() => (cp!.discovery.pushContext()?.registry.services.length ?? 0) === SERVICES, 5000, 'services');
    // Clients in their own process, with Envoy-style keepalive on the xDS connection scaled down:
    // ping every 200 ms, dead after 1 s without an answer.
    child = fork(fileURLToPath(new URL('./fixtures/keepalive-clients.mjs', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await ask(child, null);
    await ask(child, { cmd: 'start', server: `127.0.0.1:${cp.xdsPort}`, count: 20, keepaliveMs: 200, keepaliveTimeoutMs: 1000 });
    const status = async () => (await ask(child!, { cmd: 'status' }) as { clients: { errors: number; rds: string[] }[] }).clients;
    await waitFor(async () => (await status()).every((c) => c.rds.length >= 1), 15000, 'initial RDS on every client');
    slow = true;
    const t0 = performance.now();
    cp.write('mesh.yaml', mesh(2));
    await waitFor(async () => (await status()).every((c) => c.rds.length >= 2 || c.errors > 0), 20000, 'the change on every client');
    const took = performance.now() - t0;
    const final = await status();
    expect(final.map((c) => c.errors)).toEqual(final.map(() => 0));
    expect(final.every((c) => c.rds.length === 2)).toBe(true);
    expect(took).toBeGreaterThan(20 * 150); // the push did cost what it should
    const rec = cp.discovery.pushes.list({ limit: 1 })[0];
    expect(rec.pushed).toBe(20);
    expect(rec.targets.every((t) => t.types.includes('RDS') && t.why.includes('VirtualService/default/s0'))).toBe(true);
  }, 60_000);

  it('writes at most pushThrottle responses at once, and every stream still syncs', async () => {
    cp = await startControlPlane([], { debounceMs: 30, pushThrottle: 2 });
    cp.write('mesh.yaml', mesh(1));
    await waitFor(() => (cp!.discovery.pushContext()?.registry.services.length ?? 0) === SERVICES, 5000, 'services');
    sims = connect(cp, 30);
    await waitFor(() => sims.every((s) => s.rds.length >= 1 && s.cds >= 1), 15000, 'every client synced');
    // One change due on 30 streams at once.
    cp.write('mesh.yaml', mesh(2));
    await waitFor(() => sims.every((s) => s.rds.length >= 2), 15000, 'the change on every client');
    const q = cp.discovery.ads.sendQueue();
    expect(q.peakInFlight).toBe(2);
    expect(q.peakQueued).toBeGreaterThan(0);
    expect(q.inFlight).toBe(0);
  }, 60_000);

  it('admits a reconnect storm at a bounded rate: streams over it back off and retry, and all converge', async () => {
    cp = await startControlPlane([], { debounceMs: 30, maxNewStreamsPerSecond: 10, admissionBurst: 5, admissionWaitMs: 0 });
    cp.write('mesh.yaml', mesh(1));
    await waitFor(() => (cp!.discovery.pushContext()?.registry.services.length ?? 0) === SERVICES, 5000, 'services');
    sims = connect(cp, 40, {}, { initialMs: 100, maxMs: 1000 });
    await waitFor(() => sims.every((s) => s.rds.length >= 1 && s.cds >= 1), 30000, 'every client synced');
    // 40 streams at 10/s with a burst of 5: some were told to back off, and came back.
    expect(cp.discovery.metrics.rateLimited.get()).toBeGreaterThan(0);
    expect(sims.some((s) => s.rateLimited > 0)).toBe(true);
    expect(cp.discovery.connectedProxies()).toHaveLength(40);
  }, 60_000);
});
