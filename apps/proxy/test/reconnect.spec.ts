import { afterAll, describe, expect, it } from 'vitest';
import { AdsServer } from '@tsmesh/xds';
import { ControlPlane, startProxy, upstream, httpListener, routes, edsCluster, route, applied, request, until, type Upstream } from './harness';
import type { Proxy } from '../src/agent/proxy';

describe('xDS reconnect', () => {
  let cp: ControlPlane;
  let proxy: Proxy | undefined;
  const ups: Upstream[] = [];
  let second: AdsServer | undefined;

  afterAll(async () => {
    proxy?.stop();
    await second?.close();
    await cp?.close();
    await Promise.all(ups.map((u) => u.close()));
  });

  it('keeps serving while the control plane is away and applies new config after reconnecting', async () => {
    cp = new ControlPlane();
    await cp.start();
    const a = await upstream('a');
    const b = await upstream('b');
    ups.push(a, b);
    const ca = edsCluster('c', [a.port]);
    const v1 = cp.push({ listeners: [httpListener('http', '80')], routes: [routes('80', [route({ cluster: 'c' })])], clusters: [ca.c], endpoints: [ca.e] });
    proxy = await startProxy(cp);
    await applied(proxy, v1);
    const port = proxy.listeners.boundPort('http')!;
    expect((await request(port, '/')).body).toMatch(/^a /);

    const adsPort = cp.port;
    await cp.server.close();
    await until(() => proxy!.client.listenerCount('disconnected') > 0, 1000);
    expect((await request(port, '/')).body).toMatch(/^a /);

    // a new control plane process on the same address, with new endpoints
    const cb = edsCluster('c', [b.port]);
    const v2 = cp.push({ listeners: [httpListener('http', '80')], routes: [routes('80', [route({ cluster: 'c' })])], clusters: [cb.c], endpoints: [cb.e] });
    second = new AdsServer({ cache: cp.cache });
    await second.listen(`127.0.0.1:${adsPort}`);
    await applied(proxy, v2);
    await until(async () => (await request(port, '/')).body.startsWith('b '), 5000, 'new endpoints');
  });
});
