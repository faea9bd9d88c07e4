/**
 * Data-path behaviours on the wire: a response head that arrives before its body reaches the
 * client at once; a client that half-closes after its request still gets the response; Istio's
 * byte metrics count the body bytes that went through (chunked, no content-length, HTTP/2); the
 * `grpc_response_status` label comes from trailers and trailers-only responses of a real gRPC
 * server, through an outbound and an inbound connection manager.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane, listenerPort, startProxy, upstream, httpListener, routes, edsCluster, route, applied, until, collectRequestFacts, type Upstream } from './harness';
import type { Proxy } from '../src/agent/proxy';
import type { RequestFacts } from '../src/telemetry/recorder';

const id = (b: Buffer) => b;
const echoService: grpc.ServiceDefinition = {
  Echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  Find: { path: '/test.Echo/Find', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
};


/** Sends raw bytes, half-closes when asked, and collects everything until the proxy closes. */
function raw(port: number, bytes: string, halfClose: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('end', () => {
      s.end();
      resolve(out);
    });
    s.on('error', reject);
    s.write(bytes);
    if (halfClose) s.end();
  });
}

describe('data path', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let port = 0;
  let outPort = 0;
  const ups: Upstream[] = [];
  let grpcServer: grpc.Server;
  let h2slow: http2.Http2Server;
  const facts: RequestFacts[] = [];
  const CHUNKS = ['first-', 'second-chunk-', 'third'];
  const RESPONSE = 'x'.repeat(5000);

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    const slow = await upstream('slow', (_req, res) => {
      // head now, body 1.5 s later (server-sent events, long polls)
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      setTimeout(() => res.end('data: late\n\n'), 1500);
    });
    const echo = await upstream('echo', (req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        // chunked response, no content-length
        res.writeHead(200, { 'content-type': 'text/plain', 'x-got': String(n) });
        res.write(RESPONSE.slice(0, 1000));
        setTimeout(() => res.end(RESPONSE.slice(1000)), 10);
      });
    });
    ups.push(slow, echo);
    // an HTTP/2 upstream: head now, body 1.5 s later
    h2slow = http2.createServer();
    h2slow.on('stream', (st) => {
      st.on('error', () => undefined);
      st.resume();
      st.respond({ ':status': 200, 'content-type': 'text/event-stream' });
      const t = setTimeout(() => { if (!st.destroyed) st.end('data: late\n\n'); }, 1500);
      st.once('close', () => clearTimeout(t));
    });
    await new Promise<void>((r) => h2slow.listen(0, '127.0.0.1', r));
    const cH2slow = edsCluster('h2slow', [(h2slow.address() as net.AddressInfo).port], { http2: true });
    grpcServer = new grpc.Server();
    grpcServer.addService(echoService, {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.concat([Buffer.from('echo:'), call.request])),
      Find: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' }),
    });
    const gport = await new Promise<number>((r, j) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
    const inPort = await listenerPort();
    const cSlow = edsCluster('slow', [slow.port]);
    const cEcho = edsCluster('echo', [echo.port]);
    const cGrpc = edsCluster('grpc', [gport], { http2: true });
    const cHop = edsCluster('hop', [inPort], { http2: true });
    const inbound = httpListener('inbound_0.0.0.0_9080', routes('in', [route({ match: { prefix: '/' }, cluster: 'grpc' })]));
    inbound.address = { socket_address: { address: '127.0.0.1', port_value: inPort, protocol: 'TCP' } };
    const v = cp.push({
      listeners: [
        httpListener('http', routes('80', [
          route({ match: { prefix: '/slow' }, cluster: 'slow' }),
          route({ match: { prefix: '/h2slow' }, cluster: 'h2slow' }),
          route({ match: { prefix: '/test.Echo/' }, cluster: 'grpc' }),
          route({ match: { prefix: '/' }, cluster: 'echo' }),
        ])),
        httpListener('outbound_0.0.0.0_9080', routes('out', [route({ match: { prefix: '/' }, cluster: 'hop' })])),
        inbound,
      ],
      clusters: [cSlow.c, cEcho.c, cGrpc.c, cHop.c, cH2slow.c],
      endpoints: [cSlow.e, cEcho.e, cGrpc.e, cHop.e, cH2slow.e],
    });
    proxy = await startProxy(cp);
    collectRequestFacts(proxy.telemetry.deps.recorder, facts);
    await applied(proxy, v);
    await proxy.whenReady();
    port = proxy.listeners.boundPort('http')!;
    outPort = proxy.listeners.boundPort('outbound_0.0.0.0_9080')!;
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    await Promise.all(ups.map((u) => u.close()));
    grpcServer?.forceShutdown();
    h2slow?.close();
  });

  it.each(['/slow', '/h2slow'])('a response head sent before a late body reaches the client at once (HTTP/1.1 and HTTP/2 clients, upstream %s)', async (path) => {
    const t0 = performance.now();
    const times = await new Promise<{ head: number; body: number; text: string }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        const head = performance.now() - t0;
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ head, body: performance.now() - t0, text }));
      });
      req.on('error', reject);
    });
    expect(times.text).toBe('data: late\n\n');
    expect(times.head).toBeLessThan(700);
    expect(times.body).toBeGreaterThan(1400);

    const s = http2.connect(`http://127.0.0.1:${port}`);
    const t1 = performance.now();
    const h2 = await new Promise<{ head: number; body: number; status: number }>((resolve, reject) => {
      const st = s.request({ ':path': path });
      let head = 0;
      let status = 0;
      st.on('response', (h) => {
        head = performance.now() - t1;
        status = Number(h[':status']);
      });
      st.on('data', () => undefined);
      st.on('end', () => resolve({ head, body: performance.now() - t1, status }));
      st.on('error', reject);
      st.end();
    });
    s.close();
    expect(h2.status).toBe(200);
    expect(h2.head).toBeLessThan(700);
    expect(h2.body).toBeGreaterThan(1400);
  });

  it('a client that half-closes after a complete request still gets its response (RFC 9112 §9.6)', async () => {
    const get = await raw(port, 'GET /half HTTP/1.1\r\nHost: a\r\n\r\n', true);
    expect(get).toMatch(/^HTTP\/1\.1 200 /);
    expect(get.replace(/\r\n[0-9a-f]+\r\n/g, '')).toContain(RESPONSE);
    expect(get.endsWith('0\r\n\r\n')).toBe(true);
    const post = await raw(port, 'POST /half HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello', true);
    expect(post).toMatch(/^HTTP\/1\.1 200 /);
    expect(post).toContain('x-got: 5');
    // a request whose body never completes before the half-close is not forwarded as complete
    const cut = await raw(port, 'POST /half HTTP/1.1\r\nHost: a\r\nContent-Length: 50\r\n\r\nhello', true);
    expect(cut).not.toContain('x-got: 50');
  });

  it('istio_request_bytes / istio_response_bytes count the body bytes that went through (chunked, HTTP/2)', async () => {
    const n = facts.length;
    const r = await new Promise<{ status: number; body: string; te: string | undefined }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/bytes', method: 'POST', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, te: res.headers['transfer-encoding'] }));
      });
      req.on('error', reject);
      // no content-length: a chunked request body
      for (const c of CHUNKS) req.write(c);
      req.end();
    });
    expect(r.status).toBe(200);
    expect(r.te).toBe('chunked');
    expect(r.body).toBe(RESPONSE);
    await until(() => facts.length > n, 2000, 'recorded');
    const f = facts[facts.length - 1];
    expect(f.requestBytes).toBe(CHUNKS.join('').length);
    expect(f.responseBytes).toBe(RESPONSE.length);

    const s = http2.connect(`http://127.0.0.1:${port}`);
    const m = facts.length;
    const got = await new Promise<string>((resolve, reject) => {
      const st = s.request({ ':path': '/bytes', ':method': 'POST' });
      let body = '';
      st.on('data', (c) => (body += c));
      st.on('end', () => resolve(body));
      st.on('error', reject);
      st.write('abc');
      st.end('defgh');
    });
    s.close();
    expect(got).toBe(RESPONSE);
    await until(() => facts.length > m, 2000, 'recorded');
    expect(facts[facts.length - 1]).toMatchObject({ requestBytes: 8, responseBytes: RESPONSE.length });
  });

  it('grpc_response_status from trailers and trailers-only responses of a gRPC server, on both connection managers', async () => {
    const Client = grpc.makeGenericClientConstructor(echoService, 'Echo');
    const client = new Client(`127.0.0.1:${outPort}`, grpc.credentials.createInsecure()) as unknown as Record<string, (req: Buffer, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void> & grpc.Client;
    const call = (m: string) => new Promise<{ err: grpc.ServiceError | null; res?: Buffer }>((r) => client[m](Buffer.from('hi'), (err, res) => r({ err, res })));
    const n = facts.length;
    const ok = await call('Echo');
    expect(ok.err?.message ?? '').toBe('');
    expect(ok.res?.toString()).toBe('echo:hi');
    await until(() => facts.length >= n + 2, 2000, 'both sides recorded');
    const okFacts = facts.slice(n);
    expect(okFacts.map((f) => [f.side, f.protocol, f.grpcStatus]).sort()).toEqual([['inbound', 'grpc', '0'], ['outbound', 'grpc', '0']]);
    const m = facts.length;
    const nf = await call('Find');
    expect(nf.err?.code).toBe(grpc.status.NOT_FOUND);
    expect(nf.err?.details).toBe('no such thing');
    await until(() => facts.length >= m + 2, 2000, 'both sides recorded');
    const nfFacts = facts.slice(m);
    expect(nfFacts.map((f) => [f.side, f.responseCode, f.grpcStatus]).sort()).toEqual([['inbound', 200, '5'], ['outbound', 200, '5']]);
    client.close();
    expect(proxy.telemetry.expose()).toMatch(/istio_requests_total\{[^}]*grpc_response_status="5"/);
  });

  it('HTTP/2 clients closing their sessions mid-stream leave no unhandled error behind', async () => {
    const seen: unknown[] = [];
    const onErr = (e: unknown) => seen.push(e);
    process.on('unhandledRejection', onErr);
    process.on('uncaughtException', onErr);
    try {
      for (const how of ['close', 'destroy', 'goaway'] as const) {
        const s = http2.connect(`http://127.0.0.1:${port}`);
        s.on('error', () => undefined);
        const heads: Promise<void>[] = [];
        for (let i = 0; i < 4; i++) {
          const st = s.request({ ':path': ['/bytes', '/slow', '/h2slow', '/test.Echo/Echo'][i], ':method': 'POST', 'content-type': i === 3 ? 'application/grpc' : 'text/plain' });
          st.on('error', () => undefined);
          st.write('partial body');
          // the slow upstreams answer their heads at once; the others wait for the body that never ends
          if (i === 1 || i === 2) heads.push(new Promise((r) => st.once('response', () => r())));
        }
        await Promise.all(heads);
        if (how === 'close') s.close();
        else if (how === 'goaway') s.goaway(http2.constants.NGHTTP2_CANCEL);
        else s.destroy();
        s.destroy();
      }
      // the proxy finishes its side: the exchanges end, their upstream requests are cancelled
      await until(() => proxy.ctx.activeRequests === 0, 5000, 'exchanges finished');
      await new Promise((r) => setTimeout(r, 1700));
    } finally {
      process.off('unhandledRejection', onErr);
      process.off('uncaughtException', onErr);
    }
    expect(seen).toEqual([]);
    // and the proxy still serves HTTP/2
    const s = http2.connect(`http://127.0.0.1:${port}`);
    const status = await new Promise<number>((resolve, reject) => {
      const st = s.request({ ':path': '/bytes', ':method': 'POST' });
      st.on('response', (h) => resolve(Number(h[':status'])));
      st.on('error', reject);
      st.end('x');
    });
    s.close();
    expect(status).toBe(200);
  });

  it('draining while HTTP/2 clients close their sessions mid-stream (ERR_HTTP2_INVALID_SESSION) throws nothing', async () => {
    const seen: unknown[] = [];
    const onErr = (e: unknown) => seen.push(e);
    process.on('unhandledRejection', onErr);
    process.on('uncaughtException', onErr);
    try {
      const clients: http2.ClientHttp2Session[] = [];
      const heads: Promise<void>[] = [];
      for (let i = 0; i < 3; i++) {
        const s = http2.connect(`http://127.0.0.1:${port}`);
        s.on('error', () => undefined);
        clients.push(s);
        const st = s.request({ ':path': '/h2slow' });
        st.on('error', () => undefined);
        heads.push(new Promise((r) => st.once('response', () => r())));
      }
      await Promise.all(heads);
      // the proxy's sessions for those clients; one is gone mid-stream the way a client's
      // connection going away leaves it: destroyed, its 'close' event not yet emitted
      const hcms = [...(proxy.listeners as unknown as { hcmByChain: Map<unknown, { sessions: Set<http2.Http2Session> }> }).hcmByChain.values()];
      const sessions = hcms.flatMap((h) => [...h.sessions]);
      expect(sessions.length).toBeGreaterThanOrEqual(3);
      sessions[0].destroy();
      expect(() => proxy.listeners.drainTick()).not.toThrow();
      const drained = proxy.drain();
      for (const c of clients) c.destroy();
      await drained;
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      process.off('unhandledRejection', onErr);
      process.off('uncaughtException', onErr);
    }
    expect(seen).toEqual([]);
  });
});
