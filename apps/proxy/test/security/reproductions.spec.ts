/**
 * The fail-open cases found with raw HTTP/1.1 over TCP, sent byte for byte to a real proxy
 * process with a DENY (or ALLOW) policy in front of a real app that records every byte it gets:
 * an Upgrade header must not skip the filters, nor turn the connection into a tunnel when the
 * upstream did not switch protocols; repeated headers are matched value by value; two Host
 * headers are refused; a request head that trickles in is cut off at the request-headers timeout.
 */
import http2 from 'node:http2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { route, routeConfiguration, virtualHost } from '@tsmesh/xds';
import { appCluster, freePort, hcm, httpListenerOn, raw, rbacFilter, startApp, startProxyProcess, type App, type MeshProxy } from './wire';

let app: App;
let evilApp: App;
let mesh: MeshProxy;
const port = { deny: 0, allow: 0, routes: 0, slow: 0 };

const DENY = rbacFilter('DENY', {
  'ns[default]-policy[deny-api]-rule[0]': { permissions: [{ url_path: { path: { prefix: '/api/version' } } }], principals: [{ any: true }] },
  'ns[default]-policy[deny-todos]-rule[0]': { permissions: [{ and_rules: { rules: [{ header: { name: ':method', string_match: { exact: 'POST' } } }, { url_path: { path: { prefix: '/api/todos' } } }] } }], principals: [{ any: true }] },
  'ns[default]-policy[deny-host]-rule[0]': { permissions: [{ header: { name: ':authority', string_match: { exact: 'deny.example.com', ignore_case: true } } }], principals: [{ any: true }] },
  'ns[default]-policy[deny-user]-rule[0]': { permissions: [{ any: true }], principals: [{ header: { name: 'x-user', string_match: { exact: 'evil' } } }] },
});
const ALLOW = rbacFilter('ALLOW', {
  'ns[default]-policy[allow-good]-rule[0]': { permissions: [{ any: true }], principals: [{ header: { name: 'x-user', string_match: { exact: 'good' } } }] },
});

beforeAll(async () => {
  app = await startApp();
  evilApp = await startApp();
  for (const k of Object.keys(port) as (keyof typeof port)[]) port[k] = await freePort();
  const a = appCluster('outbound|80||app.default.svc.cluster.local', app.port);
  const e = appCluster('outbound|80||evil.default.svc.cluster.local', evilApp.port);
  const toApp = routeConfiguration('app', [virtualHost('app', ['*'], [route({ cluster: a.c.name })])]);
  const byHeader = routeConfiguration('by-header', [virtualHost('app', ['*'], [
    route({ name: 'evil-user', match: { prefix: '/', headers: [{ name: 'x-user', string_match: { exact: 'evil' } }] }, cluster: e.c.name }),
    route({ cluster: a.c.name }),
  ])]);
  mesh = await startProxyProcess('repro', {
    listeners: [
      httpListenerOn('deny', port.deny, hcm({ statPrefix: 'deny', rdsName: 'app', httpFilters: [DENY as never], upgradeWebsocket: true })),
      httpListenerOn('allow', port.allow, hcm({ statPrefix: 'allow', rdsName: 'app', httpFilters: [ALLOW as never], upgradeWebsocket: true })),
      httpListenerOn('routes', port.routes, hcm({ statPrefix: 'routes', rdsName: 'by-header' })),
      httpListenerOn('slow', port.slow, hcm({ statPrefix: 'slow', rdsName: 'app' }, { request_headers_timeout: { seconds: 1 } })),
    ],
    routes: [toApp, byHeader],
    clusters: [a.c, e.c],
    endpoints: [a.e, e.e],
  });
}, 60_000);

afterAll(async () => {
  await mesh?.stop();
  await app?.close();
  await evilApp?.close();
});

beforeEach(() => {
  app.reset();
  evilApp.reset();
});

/** Wait for one complete response (or the connection to close). */
const ONE = { responses: 1, idleMs: 2000 };

const WS = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

describe('item 2: an Upgrade header runs the filter stack', () => {
  it('GET /api/version with Upgrade: websocket under DENY is refused and never reaches the app', async () => {
    const r = await raw(port.deny, `GET /api/version HTTP/1.1\r\nHost: todolist.example.com\r\n${WS}\r\n`, ONE);
    expect(r.statuses).toEqual([403]);
    expect(r.text).toContain('RBAC: access denied');
    expect(app.raw()).not.toContain('/api/version');
  });

  it('POST /api/todos with Upgrade: websocket and a body under DENY is refused and never reaches the app', async () => {
    const body = '{"title":"x"}';
    const r = await raw(port.deny, `POST /api/todos HTTP/1.1\r\nHost: todolist.example.com\r\n${WS}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, ONE);
    // refused: by the DENY (403), or by the codec before it, as an upgrade may not carry a body (400)
    expect(r.statuses.length).toBe(1);
    expect([400, 403]).toContain(r.statuses[0]);
    expect(app.raw()).not.toContain('/api/todos');
  });

  it('under ALLOW, an upgrade from a caller the policy does not allow is refused', async () => {
    const r = await raw(port.allow, `GET /chat HTTP/1.1\r\nHost: todolist.example.com\r\nx-user: evil\r\n${WS}\r\n`, ONE);
    expect(r.statuses).toEqual([403]);
    expect(app.requests).toEqual([]);
  });

  it('an allowed upgrade the app accepts (101) becomes a tunnel', async () => {
    const r = await raw(port.deny, [`GET /chat HTTP/1.1\r\nHost: todolist.example.com\r\n${WS}\r\n`, 'hello'], { pauseMs: 300 });
    expect(r.statuses).toEqual([101]);
    expect(r.text).toContain('echo:hello');
    expect(app.requests).toEqual(['GET /chat']);
  });

  it('an upgrade the app answers with 404 is relayed as a response; the next request on the connection is filtered', async () => {
    app.upgradeAnswer = 404;
    const r = await raw(port.deny, [
      `GET /chat HTTP/1.1\r\nHost: todolist.example.com\r\n${WS}\r\n`,
      'GET /api/version HTTP/1.1\r\nHost: todolist.example.com\r\n\r\n',
    ], { pauseMs: 300 });
    expect(r.statuses[0]).toBe(404);
    expect(r.text).toContain('no upgrade for /chat');
    // the second request is denied by the proxy, or the connection was closed: never forwarded
    expect(r.statuses.slice(1).every((s) => s === 403)).toBe(true);
    expect(app.raw()).not.toContain('/api/version');
  });

  it('an upgrade the app answers with 200 does not open a tunnel (CVE-2024-23326)', async () => {
    app.upgradeAnswer = 200;
    const r = await raw(port.deny, [
      `GET /chat HTTP/1.1\r\nHost: todolist.example.com\r\n${WS}\r\n`,
      'GET /api/version HTTP/1.1\r\nHost: todolist.example.com\r\n\r\n',
    ], { pauseMs: 300 });
    expect(r.statuses[0]).toBe(200);
    expect(r.statuses.slice(1).every((s) => s === 403)).toBe(true);
    expect(app.raw()).not.toContain('/api/version');
  });

  it('h2c upgrade requests are filtered too', async () => {
    const r = await raw(port.deny, 'GET /api/version HTTP/1.1\r\nHost: todolist.example.com\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n', ONE);
    expect(r.statuses).toEqual([403]);
    expect(app.raw()).not.toContain('/api/version');
  });

  it('CONNECT runs the filters and never opens a tunnel', async () => {
    const r = await raw(port.deny, 'CONNECT app.default.svc.cluster.local:80 HTTP/1.1\r\nHost: app.default.svc.cluster.local:80\r\nx-user: evil\r\n\r\nGET /api/version HTTP/1.1\r\nHost: x\r\n\r\n', { idleMs: 1000 });
    expect(r.statuses[0]).toBe(403);
    expect(app.raw()).toBe('');
  });
});

describe('item 3: repeated headers are matched value by value', () => {
  it('x-user: good then x-user: evil is refused by a DENY for x-user: evil', async () => {
    const r = await raw(port.deny, 'GET /profile HTTP/1.1\r\nHost: todolist.example.com\r\nx-user: good\r\nx-user: evil\r\n\r\n', ONE);
    expect(r.statuses).toEqual([403]);
    expect(app.requests).toEqual([]);
  });

  it('one x-user line carrying "good,evil" is refused by the DENY as well', async () => {
    const r = await raw(port.deny, 'GET /profile HTTP/1.1\r\nHost: todolist.example.com\r\nx-user: good,evil\r\n\r\n', ONE);
    expect(r.statuses).toEqual([403]);
    expect(app.requests).toEqual([]);
  });

  it('an ALLOW for x-user: good lets one good value through but not good and evil together', async () => {
    const ok = await raw(port.allow, 'GET /profile HTTP/1.1\r\nHost: todolist.example.com\r\nx-user: good\r\n\r\n', ONE);
    expect(ok.statuses).toEqual([200]);
    const both = await raw(port.allow, 'GET /other HTTP/1.1\r\nHost: todolist.example.com\r\nx-user: good\r\nx-user: evil\r\n\r\n', ONE);
    expect(both.statuses).toEqual([403]);
    expect(app.requests).toEqual(['GET /profile']);
  });

  it('a route header match sees each value: good then evil takes the x-user: evil route', async () => {
    const r = await raw(port.routes, 'GET /profile HTTP/1.1\r\nHost: todolist.example.com\r\nx-user: good\r\nx-user: evil\r\n\r\n', ONE);
    expect(r.statuses).toEqual([200]);
    expect(evilApp.requests).toEqual(['GET /profile']);
    expect(app.requests).toEqual([]);
  });
});

describe('item 4: two Host headers', () => {
  it('are refused with 400 and the connection is closed; the app sees nothing', async () => {
    const r = await raw(port.deny, 'GET /profile HTTP/1.1\r\nHost: todolist.example.com\r\nHost: deny.example.com\r\n\r\nGET /again HTTP/1.1\r\nHost: todolist.example.com\r\n\r\n', { idleMs: 1000 });
    expect(r.statuses).toEqual([400]);
    expect(r.closed).toBe(true);
    expect(app.raw()).toBe('');
  });

  it('Host and a conflicting :authority over HTTP/2 are refused with 400', async () => {
    const client = http2.connect(`http://127.0.0.1:${port.deny}`);
    const status = await new Promise<number>((resolve, reject) => {
      const req = client.request({ ':method': 'GET', ':path': '/profile', ':authority': 'todolist.example.com', host: 'deny.example.com' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.end();
    });
    client.close();
    expect(status).toBe(400);
    expect(app.raw()).toBe('');
  });

  it('an absolute-form target naming another host than Host is refused', async () => {
    const r = await raw(port.deny, 'GET http://deny.example.com/profile HTTP/1.1\r\nHost: todolist.example.com\r\n\r\n', ONE);
    expect(r.statuses).toEqual([400]);
    expect(app.raw()).toBe('');
  });
});

describe('item 7: request-headers timeout', () => {
  it('a connection that trickles its request head is closed at the configured timeout (1 s)', async () => {
    const head = 'GET /profile HTTP/1.1\r\nHost: todolist.example.com\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n';
    const started = Date.now();
    const r = await raw(port.slow, head.split(''), { pauseMs: 100, idleMs: 4000, maxMs: 6000 });
    const took = Date.now() - started;
    expect(r.closed).toBe(true);
    expect(took).toBeLessThan(4000);
    expect(r.statuses.every((s) => s === 408)).toBe(true);
    expect(app.raw()).toBe('');
  });

  it('an idle kept-alive connection is not cut by the request-headers timeout', async () => {
    const r = await raw(port.slow, ['GET /a HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n'], { pauseMs: 1600, idleMs: 2500 });
    expect(r.statuses).toEqual([200, 200]);
    expect(app.requests).toEqual(['GET /a', 'GET /b']);
  });
});
