/** A listener update that replaces a filter chain reaches kept-alive connections too. */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane, startProxy, upstream, httpListener, routes, edsCluster, route, applied, request, type Upstream } from './harness';
import type { Proxy } from '../src/agent/proxy';

describe('filter chain replaced by LDS', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let a: Upstream;
  let b: Upstream;

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    a = await upstream('a');
    b = await upstream('b');
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    await a?.close();
    await b?.close();
  });

  it('drains connections of the old chain: the next request on a kept-alive connection runs the new config', async () => {
    const ca = edsCluster('a', [a.port]);
    const cb = edsCluster('b', [b.port]);
    // The route table is inline in the connection manager, so a new table is a new filter chain.
    const push = (to: string) => cp.push({ listeners: [httpListener('http', routes('inline', [route({ cluster: to })]))], clusters: [ca.c, cb.c], endpoints: [ca.e, cb.e] });
    const v1 = push('a');
    proxy = await startProxy(cp);
    await applied(proxy, v1);
    const port = proxy.listeners.boundPort('http')!;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await request(port, '/', { agent });
      expect(first.body).toContain('a');
      const v2 = push('b');
      await applied(proxy, v2);
      const second = await request(port, '/', { agent });
      expect(second.body).toContain('b');
    } finally {
      agent.destroy();
    }
  });
});
