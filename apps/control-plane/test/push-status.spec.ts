/**
 * Every push explained, over the monitoring port: a VirtualService change is `pending` while
 * debounced, then `/debug/push_status` names it as the trigger, lists the proxies it reached
 * with why, the types and bytes each got and the step timings; `/debug/config_status` says
 * `synced` once every proxy it reached has ACKed; `/debug/syncz?proxyID=` lists a proxy's
 * resources with versions and the time since each changed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { AdsClient, formatNodeId, TypeUrl } from '@tsmesh/xds';
import { golden, startControlPlane, waitFor, type Running } from './helpers';

const VS = 'VirtualService/default/callme-service-route';

describe('push explanations', () => {
  let cp: Running;
  const clients: AdsClient[] = [];
  const rds: string[] = [];
  const get = async (path: string) => {
    const r = await fetch(`http://127.0.0.1:${cp.monitoringPort}${path}`);
    return { status: r.status, body: await r.json() as Record<string, unknown> };
  };

  beforeAll(async () => {
    cp = await startControlPlane(['base.yaml', 'callme-split-fault.yaml'], { debounceMs: 300 });
    for (const [pod, ip] of [['caller-service-0', '10.244.0.30'], ['callme-service-v1-0', '10.244.0.20']]) {
      const c = new AdsClient({ server: `127.0.0.1:${cp.xdsPort}`, node: { id: formatNodeId({ type: 'sidecar', ip, podName: pod, namespace: 'default' }) } });
      c.watch(TypeUrl.Cluster, '*', () => {});
      c.watch(TypeUrl.Listener, '*', () => {});
      c.watch(TypeUrl.RouteConfiguration, ['8091'], (u) => { if (pod === 'caller-service-0') rds.push(u.version); });
      c.start();
      clients.push(c);
    }
    await waitFor(() => rds.length === 1, 5000, 'first RDS');
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await cp?.close();
  });

  it('follows a VirtualService change from pending to synced and explains the push', async () => {
    cp.write('callme-split-fault.yaml', readFileSync(golden('callme-split-fault.yaml'), 'utf8').replace('weight: 20', 'weight: 25').replace('weight: 80', 'weight: 75'));
    await waitFor(async () => (await get(`/debug/config_status?resource=${VS}`)).body.state === 'pending', 2000, 'pending while debounced');
    await waitFor(() => rds.length === 2, 5000, 'the change at the caller');
    await waitFor(async () => (await get(`/debug/config_status?resource=${VS}`)).body.state === 'synced', 5000, 'synced');
    const st = (await get(`/debug/config_status?resource=${VS}`)).body as { affected: number; acked: number; waiting: string[]; push: number };
    expect(st.affected).toBe(2);
    expect(st.acked).toBe(2);
    expect(st.waiting).toEqual([]);

    const ps = (await get('/debug/push_status')).body as { pushes: { push: number; trigger: string[]; pushed: number; bytes: number; steps: Record<string, number>; targets: { proxy: string; why: string; types: string[]; sent: Record<string, { bytes: number; resources: number }>; acked: Record<string, number> }[] }[] };
    const p = ps.pushes.find((x) => x.push === st.push)!;
    expect(p.trigger).toEqual(['VirtualService/default/callme-service-route']);
    expect(p.pushed).toBe(2);
    expect(p.bytes).toBeGreaterThan(0);
    for (const k of ['debounceMs', 'validateMs', 'pushContextMs', 'invalidateMs', 'generateMs', 'snapshotMs', 'sendMs', 'convergedMs']) expect(typeof p.steps[k], k).toBe('number');
    expect(p.steps.debounceMs).toBeGreaterThanOrEqual(250);
    const caller = p.targets.find((t) => t.proxy.includes('caller-service-0'))!;
    expect(caller.why).toContain(VS);
    expect(caller.types).toEqual(['RDS']);
    expect(caller.sent.RDS.bytes).toBeGreaterThan(0);
    expect(caller.sent.RDS.resources).toBe(1);
    expect(caller.acked.RDS).toBeGreaterThan(0);

    const one = (await get('/debug/syncz?proxyID=caller-service-0.default')).body as { resources: { type: string; name: string; version: string; sinceMs?: number }[]; pushes: { push: number }[] };
    const route = one.resources.find((r) => r.type === 'RDS' && r.name === '8091')!;
    expect(route.version).toMatch(/^[0-9a-f]{16}$/);
    expect(route.sinceMs).toBeGreaterThanOrEqual(0);
    expect(one.resources.some((r) => r.type === 'CDS' && r.name === 'outbound|8091|v1|callme-service.default.svc.cluster.local')).toBe(true);
    expect(one.pushes.map((x) => x.push)).toContain(st.push);

    expect((await get('/debug/syncz?proxyID=nobody.default')).status).toBe(404);
    expect((await get('/debug/config_status?resource=VirtualService')).status).toBe(400);
  });
});
