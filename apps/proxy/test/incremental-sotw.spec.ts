/**
 * EDS and RDS are not full-state types: after an ACK the control plane's State-of-the-World
 * responses carry only what changed, and the proxy keeps the subscribed resources a response
 * leaves out (real gRPC, in-process proxy, libs/xds server).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeConfiguration, TypeUrl, virtualHost } from '@tsmesh/xds';
import { ControlPlane, startProxy, upstream, httpListener, edsCluster, route, applied, request, type Upstream } from './harness';
import type { Proxy } from '../src/agent/proxy';

describe('incremental State of the World at the proxy', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let a: Upstream;
  let b: Upstream;
  let b2: Upstream;
  let port = 0;
  const sent: { typeUrl: string; resources: number }[] = [];
  const config = (bPort: number) => {
    const ca = edsCluster('outbound|80||a.default.svc.cluster.local', [a.port]);
    const cb = edsCluster('outbound|80||b.default.svc.cluster.local', [bPort]);
    return {
      listeners: [httpListener('http', '80')],
      routes: [routeConfiguration('80', [virtualHost('a', ['a.svc'], [route({ cluster: ca.c.name! })]), virtualHost('b', ['b.svc'], [route({ cluster: cb.c.name! })])])],
      clusters: [ca.c, cb.c],
      endpoints: [ca.e, cb.e],
    };
  };

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    (cp.server as unknown as { hooks: { onSent?: (n: string, r: { typeUrl: string; resources: number }) => void } }).hooks.onSent = (_n, r) => void sent.push({ typeUrl: r.typeUrl, resources: r.resources });
    a = await upstream('a');
    b = await upstream('b');
    b2 = await upstream('b2');
    const v = cp.push(config(b.port));
    proxy = await startProxy(cp);
    await applied(proxy, v);
    await proxy.whenReady();
    port = proxy.listeners.boundPort('http')!;
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    for (const u of [a, b, b2]) await u?.close();
  });

  it('an endpoint change sends one load assignment; the proxy keeps the other and routes both', async () => {
    expect((await request(port, '/', { headers: { host: 'b.svc' } })).body).toMatch(/^b /);
    const from = sent.length;
    const v = cp.push(config(b2.port));
    await applied(proxy, v);
    const eds = sent.slice(from).filter((s) => s.typeUrl === TypeUrl.ClusterLoadAssignment);
    expect(eds.map((s) => s.resources)).toEqual([1]);
    // RDS did not change, but its version moved: the response carries nothing and the table is kept.
    expect(sent.slice(from).filter((s) => s.typeUrl === TypeUrl.RouteConfiguration).map((s) => s.resources)).toEqual([0]);
    expect((await request(port, '/', { headers: { host: 'b.svc' } })).body).toMatch(/^b2 /);
    expect((await request(port, '/', { headers: { host: 'a.svc' } })).body).toMatch(/^a /);
    expect([...proxy.xds.dump().get(TypeUrl.ClusterLoadAssignment)!.kept!.keys()].sort()).toEqual(['outbound|80||a.default.svc.cluster.local', 'outbound|80||b.default.svc.cluster.local']);
  });
});
