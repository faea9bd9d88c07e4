import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtensionTypeUrl, pack, listener, httpConnectionManager, type HttpFilter } from '@tsmesh/xds';
import { registerHttpFilter, registerNetworkFilter, registerPerRouteConfig } from '../src/config/filter-registry';
import { localReply } from '../src/http/local-reply';
import type { Exchange } from '../src/http/exchange';
import type { HttpHandler } from '../src/http/filters';
import { ControlPlane, startProxy, upstream, httpListener, routes, edsCluster, route, applied, request, until, type Upstream } from './harness';
import type { Proxy } from '../src/agent/proxy';

// A stand-in filter: blocks requests carrying `x-block`, unless the route turns it off.
class Blocker implements HttpHandler {
  constructor(private readonly next: HttpHandler, private readonly name: string) {}
  handle(ex: Exchange): void {
    const off = ex.route?.perFilter.get(this.name) === null || ex.route?.perFilter.get(this.name) === 'off';
    if (!off && ex.headers['x-block'] !== undefined) return localReply(ex, 403, 'blocked', null);
    this.next.handle(ex);
  }
}

describe('filter extension points', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let a: Upstream;
  let port = 0;
  let tcpPort = 0;

  beforeAll(async () => {
    registerHttpFilter(ExtensionTypeUrl.LocalRateLimit, (_cfg, _field, _hcm, name) => (next) => new Blocker(next, name));
    registerPerRouteConfig(ExtensionTypeUrl.LocalRateLimit, () => 'off');
    registerNetworkFilter(ExtensionTypeUrl.NetworkRbac, () => ({ accept: () => false }));
    cp = new ControlPlane();
    await cp.start();
    a = await upstream('a');
    const c = edsCluster('a', [a.port]);
    const filter: HttpFilter = { name: 'test.blocker', typed_config: pack(ExtensionTypeUrl.LocalRateLimit, { stat_prefix: 'x' }) };
    const v = cp.push({
      listeners: [
        httpListener('http', '80', [filter]),
        listener({ name: 'denied', address: '127.0.0.1', port: 0, filterChains: [{ filters: [
          { name: 'envoy.filters.network.rbac', typed_config: pack(ExtensionTypeUrl.NetworkRbac, { stat_prefix: 'deny' }) },
          httpConnectionManager({ statPrefix: 'denied', rdsName: '80' }),
        ] }] }),
      ],
      routes: [routes('80', [
        { ...route({ match: { prefix: '/open' }, cluster: 'a' }), typed_per_filter_config: { 'test.blocker': pack(ExtensionTypeUrl.LocalRateLimit, { stat_prefix: 'y' }) } },
        route({ match: { prefix: '/timed' }, cluster: 'a', extra: { max_stream_duration: { max_stream_duration: { seconds: 5 } } } }),
        route({ cluster: 'a' }),
      ])],
      clusters: [c.c],
      endpoints: [c.e],
    });
    proxy = await startProxy(cp);
    await applied(proxy, v);
    port = proxy.listeners.boundPort('http')!;
    tcpPort = proxy.listeners.boundPort('denied')!;
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    await a?.close();
  });

  it('runs registered HTTP filters as layers, with per-route configs', async () => {
    expect((await request(port, '/x')).status).toBe(200);
    expect((await request(port, '/x', { headers: { 'x-block': '1' } })).status).toBe(403);
    expect((await request(port, '/open', { headers: { 'x-block': '1' } })).status).toBe(200);
    expect((await request(port, '/timed')).status).toBe(200);
  });

  it('runs registered network filters before the terminal filter', async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect(tcpPort, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
      s.on('data', () => resolve(false));
      s.on('close', () => resolve(true));
      s.on('error', () => undefined);
    });
    expect(closed).toBe(true);
    await until(() => true);
  });
});
