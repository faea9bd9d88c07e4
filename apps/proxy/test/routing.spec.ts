import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeConfiguration, virtualHost } from '@tsmesh/xds';
import { ControlPlane, startProxy, upstream, httpListener, edsCluster, route, applied, request, type Upstream } from './harness';
import type { Proxy } from '../src/agent/proxy';

describe('HTTP routing', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let a: Upstream;
  let b: Upstream;
  let port = 0;

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    a = await upstream('a');
    b = await upstream('b');
    const ca = edsCluster('outbound|80||a.default.svc.cluster.local', [a.port]);
    const cb = edsCluster('outbound|80||b.default.svc.cluster.local', [b.port]);
    const v = cp.push({
      listeners: [httpListener('http', '80')],
      routes: [routeConfiguration('80', [
        { ...virtualHost('secure', ['secure.example'], [route({ cluster: ca.c.name! })]), require_tls: 'ALL' },
        virtualHost('vh', ['*'], [
        route({ match: { path: '/exact' }, cluster: ca.c.name! }),
        route({ match: { safe_regex: { regex: '/re/[0-9]+' } }, cluster: cb.c.name! }),
        route({ match: { prefix: '/hdr', headers: [{ name: 'x-canary', string_match: { exact: 'yes' } }] }, cluster: cb.c.name! }),
        route({ match: { prefix: '/m', headers: [{ name: ':method', string_match: { exact: 'POST' } }] }, cluster: cb.c.name! }),
        route({ match: { prefix: '/q', query_parameters: [{ name: 'v', string_match: { exact: '2' } }] }, cluster: cb.c.name! }),
        route({ match: { prefix: '/rw/' }, cluster: ca.c.name!, prefixRewrite: '/inner/' }),
        route({ match: { prefix: '/split' }, weightedClusters: [{ cluster: ca.c.name!, weight: 80 }, { cluster: cb.c.name!, weight: 20 }] }),
        { match: { prefix: '/redir' }, redirect: { host_redirect: 'example.com', path_redirect: '/new', response_code: 'FOUND' } },
        { match: { prefix: '/direct' }, direct_response: { status: 418, body: { inline_string: 'teapot' } } },
        { match: { prefix: '/hm' }, route: { cluster: ca.c.name! }, request_headers_to_add: [{ header: { key: 'x-added', value: 'yes' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }], request_headers_to_remove: ['x-drop'], response_headers_to_add: [{ header: { key: 'x-resp', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } }] },
        route({ match: { prefix: '/' }, cluster: ca.c.name! }),
      ])])],
      clusters: [ca.c, cb.c],
      endpoints: [ca.e, cb.e],
    });
    proxy = await startProxy(cp);
    await applied(proxy, v);
    await proxy.whenReady();
    port = proxy.listeners.boundPort('http')!;
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    await a?.close();
    await b?.close();
  });

  it('matches exact, regex, header, method and query', async () => {
    expect((await request(port, '/exact')).body).toMatch(/^a /);
    expect((await request(port, '/re/42')).body).toMatch(/^b /);
    expect((await request(port, '/re/x')).body).toMatch(/^a /);
    expect((await request(port, '/hdr', { headers: { 'x-canary': 'yes' } })).body).toMatch(/^b /);
    expect((await request(port, '/hdr')).body).toMatch(/^a /);
    expect((await request(port, '/m', { method: 'POST', body: 'hi' })).body).toBe('b POST /m hi');
    expect((await request(port, '/q?v=2')).body).toMatch(/^b /);
    expect((await request(port, '/q?v=1')).body).toMatch(/^a /);
  });

  it('rewrites prefixes, redirects, answers directly and manipulates headers', async () => {
    const r = await request(port, '/rw/x?y=1');
    expect(r.body).toBe('a GET /inner/x?y=1 ');
    expect(a.lastHeaders['x-envoy-original-path']).toBe('/rw/x?y=1');
    const red = await request(port, '/redir?z=1');
    expect(red.status).toBe(302);
    expect(red.headers.location).toBe('http://example.com/new?z=1');
    const d = await request(port, '/direct');
    expect([d.status, d.body]).toEqual([418, 'teapot']);
    const hm = await request(port, '/hm', { headers: { 'x-drop': '1' } });
    expect(hm.status).toBe(200);
    expect(a.lastHeaders['x-added']).toBe('yes');
    expect(a.lastHeaders['x-drop']).toBeUndefined();
    expect(a.lastHeaders['x-request-id']).toBeTruthy();
    expect(hm.headers['x-resp']).toBe('127.0.0.1');
  });

  it('redirects plaintext requests to https on require_tls virtual hosts', async () => {
    const r = await request(port, '/a?b=1', { headers: { host: 'secure.example:8080' } });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('https://secure.example/a?b=1');
  });

  it('splits traffic by weight', async () => {
    const n = 200;
    let bs = 0;
    const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 8 });
    await Promise.all(Array.from({ length: n }, async () => {
      const r = await request(port, '/split', { agent });
      if (r.body.startsWith('b ')) bs++;
    }));
    agent.destroy();
    expect(bs / n).toBeGreaterThan(0.1);
    expect(bs / n).toBeLessThan(0.32);
  });
});
