/**
 * Tunnel bytes in telemetry, counted exactly against what real upstreams saw on their sockets: a
 * WebSocket (Node's own WebSocket client, RFC 6455 upstream) and CONNECT tunnels (HTTP/1.1 and
 * HTTP/2) through the proxy are one HTTP stream each — `istio_requests_total` once,
 * `istio_request_bytes` = every byte the client sent through the tunnel, `istio_response_bytes`
 * = every byte the upstream sent back — and no `istio_tcp_*` series (Istio reports those only on
 * TCP proxy filter chains). The same WebSocket over a TCP proxy listener is counted by the TCP
 * counters, byte for byte.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cluster, clusterLoadAssignment, httpConnectionManagerMessage, listener, pack, ExtensionTypeUrl, routeConfiguration, tcpProxy, virtualHost, type Listener } from '@tsmesh/xds';
import { ControlPlane, applied, collectRequestFacts, edsCluster, route, startProxy, until } from './harness';
import type { Proxy } from '../src/agent/proxy';
import type { RequestFacts } from '../src/telemetry/recorder';

/** Bytes an upstream socket read and wrote after its handshake. */
interface Counted { read: number; written: number; closed: boolean }

/** A WebSocket echo server that counts the frame bytes it reads and writes after its 101. */
function wsServer(counts: Counted[]): Promise<http.Server> {
  const server = http.createServer((_q, s) => s.writeHead(426).end());
  server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    const c: Counted = { read: head.length, written: 0, closed: false };
    counts.push(c);
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
    const send = (b: Buffer) => {
      c.written += b.length;
      socket.write(b);
    };
    socket.on('data', (d: Buffer) => {
      c.read += d.length;
      // one short masked frame per read is all the test sends
      const len = d[1] & 0x7f;
      const mask = d.subarray(2, 6);
      const payload = Buffer.from(d.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]));
      if ((d[0] & 0x0f) === 8) {
        send(Buffer.from([0x88, 0x02, 0x03, 0xe8]));
        socket.end();
        return;
      }
      send(Buffer.concat([Buffer.from([0x81, payload.length + 5]), Buffer.from('echo:'), payload]));
    });
    // a client's FIN ends the connection (the server's sockets are half-open by default)
    socket.on('end', () => socket.end());
    socket.on('close', () => (c.closed = true));
    socket.on('error', () => undefined);
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

/** A TCP echo server that counts bytes both ways. */
function echoServer(counts: Counted[]): Promise<net.Server> {
  const server = net.createServer((s) => {
    const c: Counted = { read: 0, written: 0, closed: false };
    counts.push(c);
    s.on('data', (d) => {
      c.read += d.length;
      const out = Buffer.concat([Buffer.from('echo:'), d]);
      c.written += out.length;
      s.write(out);
    });
    s.on('close', () => (c.closed = true));
    s.on('error', () => undefined);
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

function hcm(name: string): Listener {
  const m = httpConnectionManagerMessage({
    statPrefix: name,
    routeConfig: routeConfiguration(name, [virtualHost('all', ['*'], [
      { name: 'connect', match: { connect_matcher: {} }, route: { cluster: 'echo', upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } },
      route({ match: { prefix: '/' }, cluster: 'ws' }),
    ])]),
    httpFilters: [],
  });
  m.upgrade_configs = [{ upgrade_type: 'websocket' }, { upgrade_type: 'CONNECT' }];
  return listener({ name, address: '127.0.0.1', port: 0, filterChains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: pack(ExtensionTypeUrl.HttpConnectionManager, m) }] }] });
}

describe('tunnel bytes in telemetry', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let port = 0;
  let tcpPort = 0;
  let ws: http.Server;
  let echo: net.Server;
  const wsCounts: Counted[] = [];
  const echoCounts: Counted[] = [];
  const facts: RequestFacts[] = [];

  beforeAll(async () => {
    ws = await wsServer(wsCounts);
    echo = await echoServer(echoCounts);
    cp = new ControlPlane();
    await cp.start();
    const cw = edsCluster('ws', [(ws.address() as net.AddressInfo).port]);
    const v = cp.push({
      listeners: [hcm('http'), listener({ name: 'tcp', address: '127.0.0.1', port: 0, filterChains: [{ filters: [tcpProxy('tcp', 'ws')] }] })],
      clusters: [cw.c, cluster({ name: 'echo' })],
      endpoints: [cw.e, clusterLoadAssignment('echo', [{ address: '127.0.0.1', port: (echo.address() as net.AddressInfo).port }])],
    });
    proxy = await startProxy(cp);
    collectRequestFacts(proxy.telemetry.deps.recorder, facts);
    await applied(proxy, v);
    await proxy.whenReady();
    port = proxy.listeners.boundPort('http')!;
    tcpPort = proxy.listeners.boundPort('tcp')!;
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    ws?.close();
    echo?.close();
  });

  const metrics = () => proxy.telemetry.deps.recorder.metrics.registry.expose();

  it('a WebSocket is one request whose request/response bytes are the frames each way', async () => {
    const n = facts.length;
    const sock = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      sock.onopen = () => sock.send('ping');
      sock.onmessage = (e) => {
        got.push(String(e.data));
        if (got.length === 1) sock.send('a longer second message');
        else sock.close(1000);
      };
      sock.onclose = () => resolve();
      sock.onerror = () => reject(new Error('websocket error'));
    });
    expect(got).toEqual(['echo:ping', 'echo:a longer second message']);
    await until(() => facts.length > n, 3000, 'the upgraded stream recorded');
    const c = wsCounts[wsCounts.length - 1];
    await until(() => c.closed, 3000, 'upstream closed');
    const f = facts.slice(n);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ protocol: 'http', responseCode: 101 });
    // ping (6 + 4) + second (6 + 23) + close (6 + 2) masked client frames; two echoes and the close back
    expect(c.read).toBe(10 + 29 + 8);
    expect(c.written).toBe(11 + 30 + 4);
    expect(f[0].requestBytes).toBe(c.read);
    expect(f[0].responseBytes).toBe(c.written);
    const text = metrics();
    expect(text).toMatch(new RegExp(`istio_request_bytes_sum\\{[^}]*response_code="101"[^}]*\\} ${c.read}\\b`));
    expect(text).toMatch(new RegExp(`istio_response_bytes_sum\\{[^}]*response_code="101"[^}]*\\} ${c.written}\\b`));
    expect(text).not.toMatch(/istio_tcp_(sent|received)_bytes_total\{[^}]*\} [1-9]/);
  });

  it('a terminated HTTP/1.1 CONNECT counts the bytes sent with its head and through the tunnel', async () => {
    const n = facts.length;
    const before = echoCounts.length;
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('CONNECT echo.test:7 HTTP/1.1\r\nHost: echo.test:7\r\n\r\nearly'));
      let text = '';
      s.on('data', (d) => {
        text += d.toString('latin1');
        if (text.endsWith('echo:early')) s.write('and-late');
        if (text.endsWith('echo:and-late')) s.end();
      });
      s.on('close', () => resolve());
      s.on('error', reject);
    });
    await until(() => facts.length > n && echoCounts.length > before && echoCounts[before].closed, 3000, 'recorded');
    const c = echoCounts[before];
    expect(c.read).toBe('early'.length + 'and-late'.length);
    expect(facts[facts.length - 1]).toMatchObject({ responseCode: 200, requestBytes: c.read, responseBytes: c.written });
    expect(c.written).toBe(c.read + 2 * 'echo:'.length);
  });

  it('an HTTP/2 CONNECT counts its DATA frames both ways', async () => {
    const n = facts.length;
    const before = echoCounts.length;
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      const st = s.request({ ':method': 'CONNECT', ':authority': 'echo.test:7' });
      let text = '';
      st.on('response', () => st.write('over h2'));
      st.on('data', (d: Buffer) => {
        text += d.toString();
        if (text === 'echo:over h2') st.end();
      });
      st.on('close', () => resolve());
      st.on('error', reject);
    });
    s.close();
    await until(() => facts.length > n && echoCounts.length > before && echoCounts[before].closed, 3000, 'recorded');
    const c = echoCounts[before];
    expect(c.read).toBe('over h2'.length);
    expect(facts[facts.length - 1]).toMatchObject({ responseCode: 200, requestBytes: c.read, responseBytes: c.written });
  });

  it('on a TCP proxy chain the same WebSocket is TCP traffic: istio_tcp_* count every byte of the connection', async () => {
    const n = facts.length;
    let clientSent = 0;
    let clientGot = 0;
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(tcpPort, '127.0.0.1', () => {
        const hello = 'GET /chat HTTP/1.1\r\nhost: ws\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
        clientSent += hello.length;
        s.write(hello);
      });
      let phase = 0;
      s.on('data', (d: Buffer) => {
        clientGot += d.length;
        if (phase === 0 && d.includes('\r\n\r\n')) {
          phase = 1;
          const frame = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2]);
          clientSent += frame.length;
          s.write(frame);
        } else if (phase === 1) {
          phase = 2;
          s.destroy();
          resolve();
        }
      });
      s.on('close', () => resolve());
      s.on('error', reject);
    });
    await until(() => /istio_tcp_connections_closed_total\{[^}]*\} 1/.test(metrics()), 3000, 'the connection closed in the metrics');
    const text = metrics();
    const total = (name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`)).reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    expect(total('istio_tcp_received_bytes_total')).toBe(clientSent);
    expect(total('istio_tcp_sent_bytes_total')).toBe(clientGot);
    // not an HTTP request on that chain
    expect(facts.length).toBe(n);
  });
});
