/**
 * "The filter chain is the only way through": every way a request or a connection can reach an
 * upstream, each tried against a DENY policy on a real proxy process — HTTP/2, HTTP/2 CONNECT,
 * an h2c upgrade request (an ordinary request), a route to an ORIGINAL_DST (passthrough) cluster,
 * mirroring and retries, and a TCP proxy chain with the network RBAC filter. The apps record
 * every byte they receive.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cluster, ExtensionTypeUrl, listener, pack, route, routeConfiguration, tcpProxy, virtualHost } from '@tsmesh/xds';
import { appCluster, freePort, hcm, httpListenerOn, raw, rbacFilter, startApp, startProxyProcess, type App, type MeshProxy } from './wire';

let app: App;
let shadow: App;
let mesh: MeshProxy;
const port = { http: 0, tcp: 0 };
const ONE = { responses: 1, idleMs: 2000 };

const DENY = rbacFilter('DENY', {
  'ns[default]-policy[deny-admin]-rule[0]': { permissions: [{ url_path: { path: { prefix: '/admin' } } }], principals: [{ any: true }] },
  'ns[default]-policy[deny-connect]-rule[0]': { permissions: [{ header: { name: ':method', string_match: { exact: 'CONNECT' } } }], principals: [{ any: true }] },
});

beforeAll(async () => {
  app = await startApp();
  shadow = await startApp();
  port.http = await freePort();
  port.tcp = await freePort();
  const a = appCluster('outbound|80||app.default.svc.cluster.local', app.port);
  const s = appCluster('outbound|80||shadow.default.svc.cluster.local', shadow.port);
  const passthrough = { ...cluster({ name: 'PassthroughCluster', type: 'ORIGINAL_DST' }), original_dst_lb_config: { use_http_header: true } };
  const tcpApp = { ...cluster({ name: 'outbound|9000||tcp-app.default.svc.cluster.local', type: 'STATIC', staticEndpoints: [{ address: '127.0.0.1', port: app.port }] }) };
  const tcpRbac = { name: 'envoy.filters.network.rbac', typed_config: pack(ExtensionTypeUrl.NetworkRbac, { stat_prefix: 'tcp', rules: { action: 'DENY', policies: { 'ns[default]-policy[deny-tcp]-rule[0]': { permissions: [{ destination_port: port.tcp }], principals: [{ any: true }] } } } }) };
  mesh = await startProxyProcess('paths', {
    listeners: [
      httpListenerOn('http', port.http, hcm({ statPrefix: 'http', rdsName: 'r', httpFilters: [DENY as never], upgradeWebsocket: true })),
      listener({ name: 'tcp', address: '127.0.0.1', port: port.tcp, filterChains: [{ filters: [tcpRbac as never, tcpProxy('tcp', tcpApp.name!)] }] }),
    ],
    routes: [routeConfiguration('r', [virtualHost('vh', ['*'], [
      route({ name: 'passthrough', match: { prefix: '/pass' }, cluster: 'PassthroughCluster' }),
      route({ name: 'mirrored', match: { prefix: '/' }, cluster: a.c.name, retry: { retryOn: '5xx,reset,connect-failure', numRetries: 2 }, extra: { request_mirror_policies: [{ cluster: s.c.name }] } as never }),
    ])])],
    clusters: [a.c, s.c, passthrough as never, tcpApp],
    endpoints: [a.e, s.e],
  });
}, 60_000);

afterAll(async () => {
  await mesh?.stop();
  await app?.close();
  await shadow?.close();
});

beforeEach(() => {
  app.reset();
  shadow.reset();
});

function h2(req: http2.OutgoingHttpHeaders): Promise<{ status: number; body: string }> {
  const c = http2.connect(`http://127.0.0.1:${port.http}`);
  return new Promise((resolve, reject) => {
    const s = c.request(req, req[':method'] === 'CONNECT' ? { endStream: false } : undefined);
    let status = 0;
    let body = '';
    s.on('response', (h) => (status = Number(h[':status'])));
    s.on('data', (d) => (body += d));
    s.on('end', () => { c.close(); resolve({ status, body }); });
    s.on('close', () => { c.close(); resolve({ status, body }); });
    s.on('error', (e) => { c.close(); reject(e); });
    if (req[':method'] !== 'CONNECT') s.end();
  });
}

describe('HTTP paths', () => {
  it('HTTP/2: a denied path is refused, an allowed one served', async () => {
    expect((await h2({ ':method': 'GET', ':path': '/admin/x', ':authority': 'todolist.example.com' })).status).toBe(403);
    expect((await h2({ ':method': 'GET', ':path': '/ok', ':authority': 'todolist.example.com' })).status).toBe(200);
    expect(app.requests).toEqual(['GET /ok']);
  });

  it('HTTP/2 CONNECT runs the filters and never opens a tunnel', async () => {
    const r = await h2({ ':method': 'CONNECT', ':authority': `127.0.0.1:${app.port}` });
    expect(r.status).toBe(403);
    expect(app.raw()).toBe('');
  });

  it('an h2c upgrade request is an ordinary request: filtered, forwarded without the upgrade, the connection stays HTTP', async () => {
    const h2cHead = (p: string) => `GET ${p} HTTP/1.1\r\nHost: todolist.example.com\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`;
    const r = await raw(port.http, [h2cHead('/ok'), 'GET /admin HTTP/1.1\r\nHost: todolist.example.com\r\n\r\n'], { pauseMs: 300, idleMs: 1000 });
    expect(r.statuses).toEqual([200, 403]);
    expect(app.requests).toEqual(['GET /ok']);
    expect(app.headers[0].upgrade).toBeUndefined();
    expect(app.headers[0]['http2-settings']).toBeUndefined();
    expect(app.raw()).not.toMatch(/admin/);
  });

  it('a route to an ORIGINAL_DST (passthrough) cluster runs the filters first', async () => {
    const dst = `x-envoy-original-dst-host: 127.0.0.1:${app.port}\r\n`;
    expect((await raw(port.http, `GET /pass/admin/../../admin HTTP/1.1\r\nHost: x\r\n${dst}\r\n`, ONE)).statuses).toEqual([403]);
    expect(app.raw()).toBe('');
    expect((await raw(port.http, `GET /pass/ok HTTP/1.1\r\nHost: x\r\n${dst}\r\n`, ONE)).statuses).toEqual([200]);
    expect(app.requests).toEqual(['GET /pass/ok']);
  });

  it('mirrors and retries follow the filters: a denied request reaches neither the app nor the shadow', async () => {
    expect((await raw(port.http, 'GET /admin HTTP/1.1\r\nHost: todolist.example.com\r\n\r\n', ONE)).statuses).toEqual([403]);
    expect((await raw(port.http, 'GET /seen HTTP/1.1\r\nHost: todolist.example.com\r\n\r\n', ONE)).statuses).toEqual([200]);
    await new Promise((r) => setTimeout(r, 200));
    expect(app.requests).toEqual(['GET /seen']);
    expect(shadow.requests).toEqual(['GET /seen']);
    expect(shadow.raw()).not.toMatch(/admin/);
  });
});

describe('TCP proxy', () => {
  it('the network RBAC filter closes a denied connection before any byte is forwarded', async () => {
    const closed = await new Promise<{ got: string; closed: boolean }>((resolve) => {
      const s = net.connect(port.tcp, '127.0.0.1', () => s.write('GET /over-tcp HTTP/1.1\r\nHost: x\r\n\r\n'));
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('error', () => undefined);
      s.on('close', () => resolve({ got, closed: true }));
      setTimeout(() => { s.destroy(); resolve({ got, closed: false }); }, 3000);
    });
    expect(closed).toEqual({ got: '', closed: true });
    expect(app.raw()).toBe('');
  });
});
