/**
 * Heap compaction after config in the real process, started with the image's flags
 * (apps/proxy/launch.json, `--expose-gc` among them): a 1,000-service config, then one compaction
 * once it is quiet, reported by Envoy's `/memory`, `/stats` and `/stats/prometheus`; the proxy
 * serves on. A one-service config grows the heap too little to pay for one. Without `--expose-gc`
 * it says compaction is unavailable.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Snapshot, TypeUrl, cluster, clusterLoadAssignment, httpConnectionManager, listener, route, routeConfiguration, virtualHost } from '@tsmesh/xds';
import { ControlPlane, listenerPort, request, until, upstream, type Upstream } from './harness';
import { bundleProxy, removeBundle, run, waitOutput, type Proc } from './process';

const root = resolve(import.meta.dirname, '../../..');
const launch = JSON.parse(readFileSync(resolve(root, 'apps/proxy/launch.json'), 'utf8')) as { nodeFlags: string[]; env: Record<string, string> };
const SERVICES = 1000;

const get = (port: number, path: string) =>
  new Promise<string>((ok, fail) => http.get({ host: '127.0.0.1', port, path }, (res) => {
    let b = '';
    res.on('data', (d) => (b += d));
    res.on('end', () => ok(b));
  }).on('error', fail));

interface Memory { allocated: string; heap_size: string; total_physical_bytes: string; heap_compaction: { mode: string; compactions: string; last_pause_ms: number; last_released_bytes: string } }

describe('heap compaction after config (real process, the image flags)', () => {
  let cp: ControlPlane;
  let up: Upstream;
  let main = '';
  let listenPort = 0;
  const procs: Proc[] = [];

  const start = async (pod: string, port: number, nodeFlags: string[], extra: string[] = [], services = SERVICES) => {
    const nodeId = `sidecar~127.0.0.1~${pod}.default~default.svc.cluster.local`;
    const names = Array.from({ length: services }, (_, i) => `svc-${i}.default.svc.cluster.local`);
    cp.cache.setSnapshot(nodeId, Snapshot.create('1', {
      [TypeUrl.Listener]: [listener({ name: 'http', address: '127.0.0.1', port, filterChains: [{ filters: [httpConnectionManager({ statPrefix: 'http', rdsName: 'r' })] }] })],
      [TypeUrl.RouteConfiguration]: [routeConfiguration('r', [
        ...names.map((n, i) => virtualHost(`vh-${i}`, [n, `${n}:8080`], [route({ cluster: `outbound|8080||${n}`, timeoutMs: 15_000 })])),
        virtualHost('up', ['*'], [route({ cluster: 'up' })]),
      ])],
      [TypeUrl.Cluster]: [cluster({ name: 'up' }), ...names.map((n) => cluster({ name: `outbound|8080||${n}` }))],
      [TypeUrl.ClusterLoadAssignment]: [
        clusterLoadAssignment('up', [{ address: '127.0.0.1', port: up.port }]),
        ...names.map((n, i) => clusterLoadAssignment(`outbound|8080||${n}`, [1, 2, 3].map((k) => ({ address: `10.${k}.${i >> 8}.${i & 255}`, port: 8080 })))),
      ],
    }));
    const p = run(process.execPath, [...nodeFlags, main, 'proxy', 'sidecar', '--discovery-address', `127.0.0.1:${cp.port}`, '--admin-port', '0', '--status-port', '0', '--prometheus-port', '0',
      '--merged-metrics-port', 'off', '--access-log', 'off', ...extra], { ...launch.env, POD_NAME: pod, POD_NAMESPACE: 'default', INSTANCE_IP: '127.0.0.1' });
    procs.push(p);
    await waitOutput(p, /"admin":\d+/);
    await waitOutput(p, /first config applied/, 20_000);
    return Number(/"admin":(\d+)/.exec(p.out())![1]);
  };

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    listenPort = await listenerPort();
    up = await upstream('up');
    main = await bundleProxy(`heap-${process.pid}`);
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await cp?.close();
    await up?.close();
    if (main) removeBundle(main);
  });

  it(`compacts once after ${SERVICES} services of config are quiet, says so in /memory, /stats and Prometheus, and serves on`, async () => {
    expect(launch.nodeFlags).toContain('--expose-gc');
    const admin = await start('heap-on', listenPort, launch.nodeFlags, ['--heap-compaction', '300ms']);
    let m: Memory | undefined;
    await until(async () => {
      m = JSON.parse(await get(admin, '/memory')) as Memory;
      return m.heap_compaction.compactions === '1';
    }, 15_000, 'a heap compaction');
    expect(m!.heap_compaction.mode).toBe('on');
    expect(m!.heap_compaction.last_pause_ms).toBeGreaterThan(0);
    // what applying the config left committed, given back
    expect(Number(m!.heap_compaction.last_released_bytes)).toBeGreaterThan(1024 * 1024);
    expect(Number(m!.allocated)).toBeGreaterThan(0);
    expect(Number(m!.heap_size)).toBeGreaterThanOrEqual(Number(m!.allocated));
    expect(Number(m!.total_physical_bytes)).toBeGreaterThan(Number(m!.heap_size));
    expect(await get(admin, '/stats')).toMatch(/^server\.heap_compactions: 1$/m);
    expect(await get(admin, '/stats')).toMatch(/^server\.memory_heap_size: \d+$/m);
    expect(await get(admin, '/stats/prometheus')).toMatch(/^envoy_server_memory_physical_size \d+$/m);
    const r = await request(listenPort, '/');
    expect(r.status).toBe(200);
    // no more config, no more compactions
    await new Promise((ok) => setTimeout(ok, 800));
    expect((JSON.parse(await get(admin, '/memory')) as Memory).heap_compaction.compactions).toBe('1');
  }, 60_000);

  it('a one-service config is not worth a compaction: none runs', async () => {
    const admin = await start('heap-small', await listenerPort(), launch.nodeFlags, ['--heap-compaction', '300ms'], 1);
    await new Promise((ok) => setTimeout(ok, 1500));
    const m = JSON.parse(await get(admin, '/memory')) as Memory;
    expect(m.heap_compaction).toMatchObject({ mode: 'on', compactions: '0' });
  }, 60_000);

  it('without --expose-gc, /memory says compaction is unavailable', async () => {
    const admin = await start('heap-none', await listenerPort(), launch.nodeFlags.filter((f) => f !== '--expose-gc'));
    const m = JSON.parse(await get(admin, '/memory')) as Memory;
    expect(m.heap_compaction).toMatchObject({ mode: 'unavailable', compactions: '0' });
  }, 60_000);
});
