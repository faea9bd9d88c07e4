/**
 * One test per bypass class of Istio's and Envoy's security bulletins for path, host, header and
 * upgrade handling, each as raw bytes over TCP to a real proxy process whose listener carries a
 * DENY policy in Envoy's form (as the control plane emits it from an AuthorizationPolicy), in
 * front of a real app that records every byte it receives: the app must never see the request.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { route, routeConfiguration, virtualHost } from '@tsmesh/xds';
import { appCluster, freePort, hcm, httpListenerOn, raw, rbacFilter, startApp, startProxyProcess, type App, type MeshProxy } from './wire';

let app: App;
let mesh: MeshProxy;
let port = 0;

const DENY = rbacFilter('DENY', {
  // paths: ["/admin", "/admin/*"]
  'ns[default]-policy[deny-admin]-rule[0]': { permissions: [{ or_rules: { rules: [{ url_path: { path: { exact: '/admin' } } }, { url_path: { path: { prefix: '/admin/' } } }] } }], principals: [{ any: true }] },
  // paths: ["/secret"]
  'ns[default]-policy[deny-secret]-rule[0]': { permissions: [{ url_path: { path: { exact: '/secret' } } }], principals: [{ any: true }] },
  // hosts: ["deny.example.com"]
  'ns[default]-policy[deny-host]-rule[0]': { permissions: [{ header: { name: ':authority', string_match: { exact: 'deny.example.com', ignore_case: true } } }], principals: [{ any: true }] },
  // when: request.headers[x-user] values: ["evil"]
  'ns[default]-policy[deny-user]-rule[0]': { permissions: [{ any: true }], principals: [{ header: { name: 'x-user', string_match: { exact: 'evil' } } }] },
  // when: request.headers[x-tier] notValues: ["free"] (Istio negates the whole condition)
  'ns[default]-policy[deny-paid]-rule[0]': { permissions: [{ url_path: { path: { prefix: '/paid' } } }], principals: [{ not_id: { or_ids: { ids: [{ header: { name: 'x-tier', string_match: { exact: 'free' } } }] } } }] },
});

beforeAll(async () => {
  app = await startApp();
  port = await freePort();
  const a = appCluster('outbound|80||app.default.svc.cluster.local', app.port);
  mesh = await startProxyProcess('bypass', {
    listeners: [httpListenerOn('edge', port, hcm({ statPrefix: 'edge', rdsName: 'app', httpFilters: [DENY as never], upgradeWebsocket: true, useRemoteAddress: true }))],
    routes: [routeConfiguration('app', [virtualHost('app', ['*'], [route({ cluster: a.c.name })])])],
    clusters: [a.c],
    endpoints: [a.e],
  });
}, 60_000);

afterAll(async () => {
  await mesh?.stop();
  await app?.close();
});

beforeEach(() => app.reset());

const get = (target: string, headers = 'Host: todolist.example.com\r\n') => `GET ${target} HTTP/1.1\r\n${headers}\r\n`;

/** Sends each request on its own connection; none may reach the app, each is refused (403, or 400 for a malformed one). */
async function refusedAll(requests: string[], fragment: RegExp): Promise<void> {
  for (const r of requests) {
    const res = await raw(port, r, { idleMs: 2000, responses: 1 });
    expect(res.statuses.length, `no answer to ${JSON.stringify(r)}`).toBe(1);
    expect([400, 403], `${JSON.stringify(r)} → ${res.statuses[0]}`).toContain(res.statuses[0]);
  }
  expect(app.raw()).not.toMatch(fragment);
}

describe('path normalisation', () => {
  it('CVE-2019-9901: dot segments and their escapes resolve before the DENY path rule', async () => {
    await refusedAll([get('/public/../admin'), get('/public/./../admin/users'), get('/public/%2e%2e/admin'), get('/public/%2E%2E/admin/x'), get('/./admin')], /admin/i);
  });

  it('CVE-2021-31920: repeated and escaped slashes and backslashes do not dodge the DENY path rule', async () => {
    await refusedAll([get('//admin'), get('/%2Fadmin'), get('/%2fadmin/users'), get('/public%2F..%2Fadmin'), get('/%5Cadmin'), get('/\\admin'), get('///admin//users')], /admin/i);
  });

  it('CVE-2021-39156: a fragment in the request target is not part of the path', async () => {
    await refusedAll([get('/admin#frag'), get('/admin/#/x'), get('/secret#')], /admin|secret/);
  });

  it('CVE-2020-8595: an exact path rule still matches with a query string or fragment appended', async () => {
    await refusedAll([get('/secret?x=1'), get('/secret?'), get('/secret#top'), get('/secret/../secret?a')], /secret/);
  });

  it('the allowed paths next to them are served (the policy is not refusing everything)', async () => {
    const r = await raw(port, get('/public/admin-guide'), { responses: 1, idleMs: 2000 });
    expect(r.statuses).toEqual([200]);
    expect(app.requests).toEqual(['GET /public/admin-guide']);
  });
});

describe('host handling', () => {
  it('CVE-2021-39155: the host rule is case-insensitive and ignores the port', async () => {
    await refusedAll([
      get('/', 'Host: DENY.example.com\r\n'),
      get('/', 'Host: Deny.Example.Com:80\r\n'),
      get('/', 'Host: deny.example.com:8080\r\n'),
      get('http://DENY.example.com/', 'Host: deny.example.com\r\n'),
      // two Host headers: refused (400) before any rule can pick one
      get('/', 'Host: todolist.example.com\r\nHost: deny.example.com\r\n'),
    ], /deny\.example\.com/i);
  });
});

describe('header handling', () => {
  it('CVE-2019-18802: whitespace around a header value does not dodge an exact header rule', async () => {
    await refusedAll([
      get('/', 'Host: todolist.example.com\r\nx-user: evil \r\n'),
      get('/', 'Host: todolist.example.com\r\nx-user:\tevil\t\r\n'),
      get('/', 'Host: todolist.example.com\r\nx-user:  evil\t \r\n'),
    ], /x-user/i);
  });

  it("Istio's multi-value header advisory (2026): each value of a repeated or comma-listed header is matched", async () => {
    await refusedAll([
      get('/', 'Host: todolist.example.com\r\nx-user: good\r\nx-user: evil\r\n'),
      get('/', 'Host: todolist.example.com\r\nx-user: evil\r\nx-user: good\r\n'),
      get('/', 'Host: todolist.example.com\r\nx-user: regular-user,evil\r\n'),
      get('/', 'Host: todolist.example.com\r\nx-user: good, evil\r\n'),
      // notValues: a DENY unless x-tier is "free" — a free value next to a paid one is still denied
      get('/paid', 'Host: todolist.example.com\r\nx-tier: free\r\nx-tier: gold\r\n'),
      get('/paid', 'Host: todolist.example.com\r\nx-tier: free,gold\r\n'),
    ], /x-user|\/paid/i);
    const ok = await raw(port, get('/paid', 'Host: todolist.example.com\r\nx-tier: free\r\n'), { responses: 1, idleMs: 2000 });
    expect(ok.statuses).toEqual([200]);
  });

  it('CVE-2023-27487: an x-envoy-original-path sent by the client never reaches the app', async () => {
    const r = await raw(port, get('/public', 'Host: todolist.example.com\r\nx-envoy-original-path: /admin\r\n'), { responses: 1, idleMs: 2000 });
    expect(r.statuses).toEqual([200]);
    expect(app.requests).toEqual(['GET /public']);
    expect(app.headers[0]['x-envoy-original-path']).toBeUndefined();
    expect(app.raw()).not.toMatch(/admin/);
  });
});

describe('upgrade handling', () => {
  const WS = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

  it('an Upgrade header does not skip the DENY rules', async () => {
    await refusedAll([
      get('/admin', `Host: todolist.example.com\r\n${WS}`),
      get('/', `Host: deny.example.com\r\n${WS}`),
      get('/', `Host: todolist.example.com\r\nx-user: evil\r\n${WS}`),
      get('/admin', 'Host: todolist.example.com\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n'),
      `CONNECT deny.example.com:443 HTTP/1.1\r\nHost: deny.example.com:443\r\n\r\n`,
    ], /admin|deny\.example|x-user|CONNECT/i);
  });

  it('CVE-2024-23326: a 200 answer to an upgrade does not turn the connection into a tunnel', async () => {
    app.upgradeAnswer = 200;
    const r = await raw(port, [get('/chat', `Host: todolist.example.com\r\n${WS}`), get('/admin')], { pauseMs: 300 });
    expect(r.statuses[0]).toBe(200);
    expect(r.statuses.slice(1).every((s) => s === 403)).toBe(true);
    expect(app.raw()).not.toMatch(/admin/);
  });
});
