/**
 * VHDS served by the control plane over real gRPC: a client declaring the VHDS client feature
 * gets route tables carrying `vhds` and their virtual hosts over a Delta xDS stream; a
 * VirtualService change sends only the virtual host it changed (RDS does not move), and
 * `/debug/push_status`, `/debug/syncz` and `/debug/config_status` speak of VHDS. A client without
 * the feature keeps full RDS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { AdsClient, CLIENT_FEATURE_VHDS, DeltaAdsClient, formatNodeId, TypeUrl, type DeltaUpdate, type XdsUpdate } from '@tsmesh/xds';
import { golden, startControlPlane, waitFor, type Running } from './helpers';

const VS = 'VirtualService/default/callme-service-route';

describe('VHDS from the control plane', () => {
  let cp: Running;
  const closers: (() => void)[] = [];
  const vhds: DeltaUpdate[] = [];
  const rdsVhds: XdsUpdate[] = [];
  const rdsFull: XdsUpdate[] = [];
  const get = async (path: string) => (await (await fetch(`http://127.0.0.1:${cp.monitoringPort}${path}`)).json()) as Record<string, unknown>;

  beforeAll(async () => {
    cp = await startControlPlane(['base.yaml', 'callme-split-fault.yaml'], { debounceMs: 100 });
    const server = `127.0.0.1:${cp.xdsPort}`;
    const vnode = { id: formatNodeId({ type: 'sidecar', ip: '10.244.0.30', podName: 'caller-service-0', namespace: 'default' }), client_features: [CLIENT_FEATURE_VHDS] };
    const a = new AdsClient({ server, node: vnode });
    a.watch(TypeUrl.Cluster, '*', () => {});
    a.watch(TypeUrl.Listener, '*', () => {});
    a.watch(TypeUrl.RouteConfiguration, ['8091'], (u) => void rdsVhds.push(u));
    a.start();
    const d = new DeltaAdsClient({ server, node: vnode });
    d.watch(TypeUrl.VirtualHost, (u) => void vhds.push(u));
    d.start();
    const f = new AdsClient({ server, node: { id: formatNodeId({ type: 'sidecar', ip: '10.244.0.31', podName: 'caller-service-1', namespace: 'default' }) } });
    f.watch(TypeUrl.Cluster, '*', () => {});
    f.watch(TypeUrl.Listener, '*', () => {});
    f.watch(TypeUrl.RouteConfiguration, ['8091'], (u) => void rdsFull.push(u));
    f.start();
    closers.push(() => a.close(), () => d.close(), () => f.close());
    await waitFor(() => vhds.length >= 1 && rdsVhds.length >= 1 && rdsFull.length >= 1, 5000, 'first config');
  });
  afterAll(async () => {
    for (const c of closers) c();
    await cp?.close();
  });

  it('a VirtualService change sends the VHDS client one virtual host, and the full-RDS client its whole table', async () => {
    const table = rdsVhds[0].resources[0].message as { vhds?: unknown; virtual_hosts: unknown[] };
    expect(table.vhds).toBeTruthy();
    expect(table.virtual_hosts).toEqual([]);
    expect(vhds[0].resources.map((r) => r.name)).toContain('8091/callme-service.default.svc.cluster.local:8091');
    const all = vhds[0].resources.filter((r) => r.name.startsWith('8091/')).length;
    expect(all).toBeGreaterThan(1);
    expect((rdsFull[0].resources[0].message as { virtual_hosts: unknown[] }).virtual_hosts).toHaveLength(all);

    cp.write('callme-split-fault.yaml', readFileSync(golden('callme-split-fault.yaml'), 'utf8').replace('weight: 20', 'weight: 30').replace('weight: 80', 'weight: 70'));
    await waitFor(() => vhds.length === 2 && rdsFull.length === 2, 5000, 'the change at both clients');
    expect(vhds[1].resources.map((r) => r.name)).toEqual(['8091/callme-service.default.svc.cluster.local:8091']);
    expect(vhds[1].removed).toEqual([]);
    expect(JSON.stringify(vhds[1].resources[0].message)).toContain('30');
    expect(rdsVhds).toHaveLength(1);
    expect((rdsFull[1].resources[0].message as { virtual_hosts: unknown[] }).virtual_hosts).toHaveLength(all);

    await waitFor(async () => (await get(`/debug/config_status?resource=${VS}`)).state === 'synced', 5000, 'synced');
    const ps = (await get('/debug/push_status')) as { pushes: { trigger: string[]; targets: { proxy: string; types: string[]; sent: Record<string, { resources: number }>; acked: Record<string, number> }[] }[] };
    const p = ps.pushes.find((x) => x.trigger.includes(VS))!;
    const t = p.targets.find((x) => x.proxy.includes('caller-service-0'))!;
    expect(t.types).toEqual(['VHDS']);
    expect(t.sent.VHDS.resources).toBe(1);
    expect(t.acked.VHDS).toBeGreaterThan(0);
    expect(p.targets.find((x) => x.proxy.includes('caller-service-1'))!.types).toEqual(['RDS']);
    const one = (await get('/debug/syncz?proxyID=caller-service-0.default')) as { types: Record<string, { state: string }>; resources: { type: string; name: string }[] };
    expect(one.types.VHDS.state).toBe('SYNCED');
    expect(one.resources.filter((r) => r.type === 'VHDS' && r.name.startsWith('8091/')).length).toBe(all);
    // /debug/config_dump shows a VHDS route table as the proxy runs it: header plus the virtual hosts VHDS sends it, in the full table's order.
    const id = encodeURIComponent(formatNodeId({ type: 'sidecar', ip: '10.244.0.30', podName: 'caller-service-0', namespace: 'default' }));
    const fullId = encodeURIComponent(formatNodeId({ type: 'sidecar', ip: '10.244.0.31', podName: 'caller-service-1', namespace: 'default' }));
    type Dump = { resources: { RouteConfiguration: { name: string; vhds?: unknown; virtual_hosts: { name: string }[] }[] } };
    const dump = (await get(`/debug/config_dump?proxyID=${id}`)) as unknown as Dump;
    const full = (await get(`/debug/config_dump?proxyID=${fullId}`)) as unknown as Dump;
    const mine = dump.resources.RouteConfiguration.find((r) => r.name === '8091')!;
    expect(mine.vhds).toBeTruthy();
    expect(mine.virtual_hosts).toEqual(full.resources.RouteConfiguration.find((r) => r.name === '8091')!.virtual_hosts);
  });
});
