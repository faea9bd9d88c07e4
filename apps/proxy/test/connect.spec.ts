/**
 * CONNECT tunnels (Envoy's `upgrade_configs` CONNECT with `connect_matcher` routes) with real
 * clients on raw sockets: terminated by the proxy (`connect_config`: 200, then bytes to the
 * cluster's host), forwarded to an upstream proxy (tunnel only on its 2xx), over HTTP/2, refused
 * where CONNECT is not enabled, and denied by an AuthorizationPolicy's RBAC filter before any
 * upstream connection is made.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ExtensionTypeUrl, cluster, clusterLoadAssignment, httpConnectionManagerMessage, listener, pack, routeConfiguration, virtualHost,
  type HttpFilter, type Listener, type Route,
} from '@tsmesh/xds';
import { ControlPlane, applied, startProxy } from './harness';
import type { Proxy } from '../src/agent/proxy';

/** An AuthorizationPolicy DENY on `to.operation.hosts: ["denied.test:443"]`, as the control plane emits it. */
const denyHost: HttpFilter = {
  name: 'envoy.filters.http.rbac',
  typed_config: pack(ExtensionTypeUrl.HttpRbac, { rules: { action: 'DENY', policies: { 'ns[default]-policy[no-denied]-rule[0]': { permissions: [{ and_rules: { rules: [{ or_rules: { rules: [{ header: { name: ':authority', string_match: { exact: 'denied.test:443' } } }] } }] } }], principals: [{ any: true }] } } } }),
};

function hcmListener(name: string, routes: Route[], connect: boolean): Listener {
  const hcm = httpConnectionManagerMessage({ statPrefix: name, routeConfig: routeConfiguration(name, [virtualHost('fwd', ['fwd.test:443'], routes.filter((r) => r.name === 'forward')), virtualHost('all', ['*'], routes.filter((r) => r.name !== 'forward'))]), httpFilters: [denyHost] });
  if (connect) hcm.upgrade_configs = [{ upgrade_type: 'CONNECT' }];
  return listener({ name, address: '127.0.0.1', port: 0, filterChains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: pack(ExtensionTypeUrl.HttpConnectionManager, hcm) }] }] });
}

/** Writes `first`, then `then` once the response head is in; collects until the proxy closes or `until` matches. */
function tunnel(port: number, first: string, then: string | null, until: RegExp): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(first));
    let text = '';
    let sent = false;
    const done = () => {
      s.destroy();
      resolve(text);
    };
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (!sent && then !== null && text.includes('\r\n\r\n')) {
        sent = true;
        if (/^HTTP\/1\.1 2/.test(text)) s.write(then);
      }
      if (until.test(text)) done();
    });
    s.on('close', done);
    s.on('error', done);
    setTimeout(done, 3000);
  });
}

describe('CONNECT', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let port = 0;
  let offPort = 0;
  let echo: net.Server;
  let upProxy: net.Server;
  let echoConnections = 0;
  const upProxySeen: string[] = [];

  beforeAll(async () => {
    echo = net.createServer((c) => {
      echoConnections++;
      c.on('data', (d) => c.write(`echo:${d}`));
      c.on('error', () => undefined);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    // an upstream HTTP proxy: 200 to a CONNECT with its credentials then echo, 407 otherwise
    upProxy = net.createServer((c) => {
      c.on('error', () => undefined);
      let head = '';
      const onData = (d: Buffer) => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        c.removeListener('data', onData);
        upProxySeen.push(head.split('\r\n')[0]);
        if (head.startsWith('CONNECT fwd.test:443 ') && /\r\nx-pass: 1\r\n/i.test(head)) {
          c.write('HTTP/1.1 200 Connection established\r\n\r\n');
          c.on('data', (x) => c.write(`far:${x}`));
        } else c.end('HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 4\r\n\r\nnope');
      };
      c.on('data', onData);
    });
    await new Promise<void>((r) => upProxy.listen(0, '127.0.0.1', r));
    cp = new ControlPlane();
    await cp.start();
    const routes: Route[] = [
      { name: 'forward', match: { connect_matcher: {} }, route: { cluster: 'upproxy', upgrade_configs: [{ upgrade_type: 'CONNECT' }] } },
      { name: 'terminate', match: { connect_matcher: {} }, route: { cluster: 'echo', upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } },
      { name: 'plain', match: { prefix: '/' }, route: { cluster: 'echo' } },
    ];
    const v = cp.push({
      listeners: [hcmListener('connect', routes, true), hcmListener('off', routes.map((r) => ({ ...r, route: { cluster: r.route!.cluster } })), false)],
      clusters: [cluster({ name: 'echo' }), cluster({ name: 'upproxy' })],
      endpoints: [
        clusterLoadAssignment('echo', [{ address: '127.0.0.1', port: (echo.address() as net.AddressInfo).port }]),
        clusterLoadAssignment('upproxy', [{ address: '127.0.0.1', port: (upProxy.address() as net.AddressInfo).port }]),
      ],
    });
    proxy = await startProxy(cp);
    await applied(proxy, v);
    await proxy.whenReady();
    port = proxy.listeners.boundPort('connect')!;
    offPort = proxy.listeners.boundPort('off')!;
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    echo?.close();
    upProxy?.close();
  });

  it('connect_config: the proxy answers 200 and tunnels bytes to the cluster\'s host (bytes sent with the head too)', async () => {
    const got = await tunnel(port, 'CONNECT echo.test:7 HTTP/1.1\r\nHost: echo.test:7\r\n\r\nearly', 'late', /echo:late/);
    expect(got).toMatch(/^HTTP\/1\.1 200 OK\r\n\r\n/);
    expect(got).toContain('echo:early');
    expect(got).toContain('echo:late');
  });

  it('without connect_config the CONNECT goes to the upstream proxy; a 2xx makes the tunnel, anything else is relayed and closed', async () => {
    const ok = await tunnel(port, 'CONNECT fwd.test:443 HTTP/1.1\r\nHost: fwd.test:443\r\nx-pass: 1\r\n\r\n', 'ping', /far:ping/);
    expect(ok).toMatch(/^HTTP\/1\.1 200 /);
    expect(ok).toContain('far:ping');
    expect(upProxySeen).toContain('CONNECT fwd.test:443 HTTP/1.1');
    const no = await tunnel(port, 'CONNECT fwd.test:443 HTTP/1.1\r\nHost: fwd.test:443\r\n\r\nsmuggled', 'more', /$^/);
    expect(no).toMatch(/^HTTP\/1\.1 407 /);
    expect(no).toContain('nope');
    expect(no).not.toContain('far:');
  });

  it('an AuthorizationPolicy denies a CONNECT before any upstream connection', async () => {
    const before = echoConnections;
    const denied = await tunnel(port, 'CONNECT denied.test:443 HTTP/1.1\r\nHost: denied.test:443\r\n\r\nsecret', 'more', /$^/);
    expect(denied).toMatch(/^HTTP\/1\.1 403 /);
    expect(denied).toContain('RBAC: access denied');
    expect(denied).not.toContain('echo:');
    expect(echoConnections).toBe(before);
  });

  it('a connection manager without CONNECT in its upgrade_configs refuses it (403)', async () => {
    const before = echoConnections;
    const refused = await tunnel(offPort, 'CONNECT echo.test:7 HTTP/1.1\r\nHost: echo.test:7\r\n\r\nx', 'y', /$^/);
    expect(refused).toMatch(/^HTTP\/1\.1 403 /);
    expect(echoConnections).toBe(before);
  });

  it('HTTP/2 CONNECT is terminated the same way: 200 on the stream, then its DATA frames are the tunnel', async () => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on('error', () => undefined);
    const got = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const st = s.request({ ':method': 'CONNECT', ':authority': 'echo.test:7' });
      let status = 0;
      let text = '';
      st.on('response', (h) => {
        status = Number(h[':status']);
        st.write('over h2');
      });
      st.on('data', (d) => {
        text += d;
        if (text.includes('echo:over h2')) resolve({ status, text });
      });
      st.on('error', reject);
      setTimeout(() => resolve({ status, text }), 3000);
    });
    s.destroy();
    expect(got.status).toBe(200);
    expect(got.text).toBe('echo:over h2');
    const denied = await new Promise<number>((resolve, reject) => {
      const s2 = http2.connect(`http://127.0.0.1:${port}`);
      s2.on('error', () => undefined);
      const st = s2.request({ ':method': 'CONNECT', ':authority': 'denied.test:443' });
      st.on('response', (h) => {
        resolve(Number(h[':status']));
        s2.destroy();
      });
      st.on('error', reject);
    });
    expect(denied).toBe(403);
  });
});
