import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listener, tcpProxy, cluster, clusterLoadAssignment } from '@tsmesh/xds';
import { ControlPlane, startProxy, upstream, httpListener, routes, edsCluster, route, applied, request, type Upstream } from './harness';
import type { Proxy } from '../src/agent/proxy';

const id = (b: Buffer) => b;
const echoService: grpc.ServiceDefinition = {
  Echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  Fail: { path: '/test.Echo/Fail', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  Chat: { path: '/test.Echo/Chat', requestStream: true, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
};

/** Minimal WebSocket echo upstream (RFC 6455 handshake, short text frames). */
function wsServer(): Promise<{ port: number; server: http.Server }> {
  const server = http.createServer((_q, s) => s.writeHead(426).end());
  server.on('upgrade', (req, socket) => {
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
    socket.on('data', (d: Buffer) => {
      const len = d[1] & 0x7f;
      const mask = d.subarray(2, 6);
      const payload = Buffer.from(d.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]));
      if ((d[0] & 0x0f) === 8) { socket.end(); return; }
      const out = Buffer.concat([Buffer.from([0x81, payload.length + 5]), Buffer.from('echo:'), payload]);
      socket.write(out);
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r({ port: (server.address() as net.AddressInfo).port, server })));
}

describe('protocols', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let port = 0;
  let tcpPort = 0;
  let h1: Upstream;
  let grpcServer: grpc.Server;
  let ws: { port: number; server: http.Server };
  let echo: net.Server;
  // HTTP/2 upstream that answers only once MUX streams are open at the same time
  const MUX = 32;
  let mux: http2.Http2Server;
  const muxState = { sessions: 0, open: 0, maxOpen: 0, waiting: [] as http2.ServerHttp2Stream[] };

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    h1 = await upstream('h1', (req, res) => {
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('part1-');
        setTimeout(() => res.end('part2'), 20);
        return;
      }
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`got ${n} bytes te=${req.headers['transfer-encoding'] ?? ''}`));
    });
    grpcServer = new grpc.Server();
    grpcServer.addService(echoService, {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const md = new grpc.Metadata();
        md.set('x-trailer', 'yes');
        cb(null, Buffer.concat([Buffer.from('echo:'), call.request]), md);
      },
      Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.NOT_FOUND, details: 'nope' }),
      Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (m: Buffer) => call.write(Buffer.concat([Buffer.from('re:'), m])));
        call.on('end', () => call.end());
      },
    });
    const gport = await new Promise<number>((r, j) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
    ws = await wsServer();
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as net.AddressInfo).port;
    mux = http2.createServer();
    mux.on('session', () => muxState.sessions++);
    mux.on('stream', (st) => {
      muxState.open++;
      muxState.maxOpen = Math.max(muxState.maxOpen, muxState.open);
      st.once('close', () => muxState.open--);
      st.once('data', () => {
        // the first message arrived while the client still holds its request open
        muxState.waiting.push(st);
        if (muxState.waiting.length < MUX) return;
        for (const w of muxState.waiting.splice(0)) {
          w.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          w.write(Buffer.from([0, 0, 0, 0, 2, 0x6f, 0x6b]));
        }
      });
      st.on('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0' }));
      st.resume();
      st.once('end', () => st.end());
    });
    await new Promise<void>((r) => mux.listen(0, '127.0.0.1', r));
    const cm = edsCluster('mux', [(mux.address() as net.AddressInfo).port], { http2: true });
    const ch1 = edsCluster('h1', [h1.port]);
    const cg = edsCluster('grpc', [gport], { http2: true });
    const cw = edsCluster('ws', [ws.port]);
    const ce = { c: cluster({ name: 'echo' }), e: clusterLoadAssignment('echo', [{ address: '127.0.0.1', port: echoPort }]) };
    const v = cp.push({
      listeners: [
        httpListener('http', '80', [], true),
        listener({ name: 'tcp', address: '127.0.0.1', port: 0, filterChains: [{ filters: [tcpProxy('tcp', 'echo')] }] }),
      ],
      routes: [routes('80', [
        route({ match: { prefix: '/test.Echo/', grpc: {} }, cluster: 'grpc' }),
        route({ match: { prefix: '/mux.Hold/' }, cluster: 'mux' }),
        route({ match: { prefix: '/ws' }, cluster: 'ws' }),
        route({ match: { prefix: '/' }, cluster: 'h1' }),
      ])],
      clusters: [ch1.c, cg.c, cw.c, ce.c, cm.c],
      endpoints: [ch1.e, cg.e, cw.e, ce.e, cm.e],
    });
    proxy = await startProxy(cp);
    await applied(proxy, v);
    await proxy.whenReady();
    port = proxy.listeners.boundPort('http')!;
    tcpPort = proxy.listeners.boundPort('tcp')!;
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    await h1?.close();
    grpcServer?.forceShutdown();
    ws?.server.closeAllConnections();
    ws?.server.close();
    echo?.close();
    mux?.close();
  });

  it('streams chunked responses and request bodies, handles 100-continue and keep-alive', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const c = await request(port, '/chunked', { agent });
    expect(c.body).toBe('part1-part2');
    const big = 'x'.repeat(200_000);
    const b = await request(port, '/upload', { method: 'POST', body: big, agent, headers: { 'content-type': 'text/plain' } });
    expect(b.body).toBe('got 200000 bytes te=');
    const cont = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/continue', method: 'POST', headers: { expect: '100-continue', 'content-length': '5' }, agent }, (res) => {
        let s = '';
        res.on('data', (d) => (s += d));
        res.on('end', () => resolve(s));
      });
      req.on('continue', () => req.end('hello'));
      req.on('error', reject);
    });
    expect(cont).toBe('got 5 bytes te=');
    agent.destroy();
  });

  it('proxies gRPC over HTTP/2: unary with trailers, errors, bidi streaming', async () => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const trailers = await new Promise<{ msg: string; trailer: string }>((resolve, reject) => {
        let msg = '';
        const call = client.makeUnaryRequest('/test.Echo/Echo', id, id, Buffer.from('hi'), (err, res) => { if (err) reject(err); else msg = res!.toString(); });
        call.on('status', (s: grpc.StatusObject) => setImmediate(() => resolve({ msg, trailer: String(s.metadata.get('x-trailer')[0] ?? '') })));
      });
      await new Promise((r) => setTimeout(r, 10));
      expect(trailers.msg).toBe('echo:hi');
      expect(trailers.trailer).toBe('yes');
      const err = await new Promise<grpc.ServiceError>((resolve) => client.makeUnaryRequest('/test.Echo/Fail', id, id, Buffer.from(''), (e) => resolve(e!)));
      expect(err.code).toBe(grpc.status.NOT_FOUND);
      expect(err.details).toBe('nope');
      const got: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const call = client.makeBidiStreamRequest('/test.Echo/Chat', id, id);
        call.on('data', (d: Buffer) => {
          got.push(d.toString());
          if (got.length < 3) call.write(Buffer.from(`m${got.length}`));
          else call.end();
        });
        call.on('end', () => resolve());
        call.on('error', reject);
        call.write(Buffer.from('m0'));
      });
      expect(got).toEqual(['re:m0', 're:m1', 're:m2']);
    } finally {
      client.close();
    }
  });

  it('multiplexes concurrent HTTP/2 streams on one upstream session, each forwarded before its request body ends', async () => {
    // Streams queued behind each other or request bodies held until they end leave the upstream
    // waiting for MUX open streams (no call gets its response: the test times out); streams
    // spread over several upstream sessions fail the session count.
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const msg = Buffer.from([0, 0, 0, 0, 2, 0x68, 0x69]);
    try {
      const calls = Array.from({ length: MUX }, () => new Promise<{ status: number; grpc: string; body: number }>((resolve, reject) => {
        const st = session.request({ ':method': 'POST', ':path': '/mux.Hold/Call', 'content-type': 'application/grpc', te: 'trailers' });
        let status = 0;
        let grpcStatus = '';
        let body = 0;
        st.on('response', (h) => { status = Number(h[':status']); st.end(); });
        st.on('trailers', (t) => (grpcStatus = String(t['grpc-status'])));
        st.on('data', (d: Buffer) => (body += d.length));
        st.on('end', () => resolve({ status, grpc: grpcStatus, body }));
        st.on('error', reject);
        st.write(msg);
      }));
      const res = await Promise.all(calls);
      expect(res).toEqual(Array.from({ length: MUX }, () => ({ status: 200, grpc: '0', body: 7 })));
      expect(muxState.maxOpen).toBe(MUX);
      expect(muxState.sessions).toBe(1);
    } finally {
      session.close();
    }
  }, 15_000);

  it('bridges HTTP/2 clients to HTTP/1.1 upstreams', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': '/h2-upload', 'content-type': 'text/plain' });
        let status = 0;
        let text = '';
        req.on('response', (h) => (status = Number(h[':status'])));
        req.on('data', (d: Buffer) => (text += d));
        req.on('end', () => resolve({ status, text }));
        req.on('error', reject);
        req.end('twelve bytes');
      });
      expect(body).toEqual({ status: 200, text: 'got 12 bytes te=chunked' });
    } finally {
      session.close();
    }
  });

  it('tunnels WebSocket upgrades', async () => {
    const sock = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const msg = await new Promise<string>((resolve, reject) => {
      sock.onopen = () => sock.send('ping');
      sock.onmessage = (e) => resolve(String(e.data));
      sock.onerror = () => reject(new Error('websocket error'));
    });
    sock.close();
    expect(msg).toBe('echo:ping');
  });

  it('proxies opaque TCP', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const s = net.connect(tcpPort, '127.0.0.1', () => s.write('hello tcp'));
      s.on('data', (d) => { resolve(d.toString()); s.destroy(); });
      s.on('error', reject);
    });
    expect(out).toBe('hello tcp');
  });
});
