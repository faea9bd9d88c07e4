/** The HTTP/2 upstream pool against real `node:http2` servers. */
import http2 from 'node:http2';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { tcpConnector, type H1Controller, type H1Handler } from '../http1/client';
import { PoolLimits } from '../cluster/limits';
import { H2Pool } from './client';

type Seen = { status: number; headers: Record<string, unknown>; body: string; trailers: Record<string, unknown> | null; error: (Error & { code?: string }) | null; events: string[] };

class Collect implements H1Handler {
  readonly seen: Seen = { status: 0, headers: {}, body: '', trailers: null, error: null, events: [] };
  readonly done: Promise<Seen>;
  private resolve!: (s: Seen) => void;
  controller: H1Controller | null = null;
  onRequestData?: (n: number) => void;
  constructor() {
    this.done = new Promise((r) => (this.resolve = r));
  }
  onRequestStart(c: H1Controller): void {
    this.controller = c;
  }
  onResponseStart(_c: H1Controller, status: number, headers: Record<string, unknown>): void {
    this.seen.status = status;
    this.seen.headers = headers;
    this.seen.events.push('start');
  }
  onResponseData(_c: H1Controller, chunk: Buffer): void {
    this.seen.body += chunk.toString();
  }
  onResponseEnd(_c: H1Controller, trailers: Record<string, unknown>): void {
    this.seen.trailers = trailers;
    this.seen.events.push('end');
    this.resolve(this.seen);
  }
  onResponseError(_c: H1Controller | null, err: Error): void {
    this.seen.error = err;
    this.seen.events.push('error');
    this.resolve(this.seen);
  }
}

const servers: http2.Http2Server[] = [];
const pools: H2Pool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
  for (const s of servers.splice(0)) s.close();
});

async function server(onStream: (st: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders, srv: { sessions: http2.ServerHttp2Session[] }) => void, settings: http2.Settings = {}): Promise<{ port: number; sessions: http2.ServerHttp2Session[]; closed: () => number }> {
  const s = http2.createServer({ settings });
  const state = { sessions: [] as http2.ServerHttp2Session[], closedCount: 0 };
  s.on('session', (sess) => {
    state.sessions.push(sess);
    sess.on('close', () => state.closedCount++);
    sess.on('error', () => undefined);
  });
  s.on('stream', (st, h) => {
    st.on('error', () => undefined);
    onStream(st, h, state);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { port: (s.address() as net.AddressInfo).port, sessions: state.sessions, closed: () => state.closedCount };
}

type Limits = { maxConnections: number; maxPendingRequests: number; maxRequestsPerConnection: number; idleTimeoutMs: number };

function pool(port: number, o: Partial<Limits> = {}): H2Pool {
  const l: Limits = { maxConnections: 1, maxPendingRequests: 1024, maxRequestsPerConnection: 0, idleTimeoutMs: 60_000, ...o };
  const p = new H2Pool({
    limits: new PoolLimits(l.maxConnections, l.maxPendingRequests, l.maxRequestsPerConnection, l.idleTimeoutMs), scheme: 'http',
    connect: tcpConnector('127.0.0.1', port, 1000, null, null),
  }, `127.0.0.1:${port}`);
  pools.push(p);
  return p;
}

function send(p: H2Pool, path: string, body: Buffer | null = null, headers: Record<string, string> = {}): Collect {
  const h = new Collect();
  p.dispatch({ method: body ? 'POST' : 'GET', path, headers: { host: 'svc.local', ...headers }, body }, h);
  return h;
}

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('H2Pool', () => {
  it('sends pseudo-headers from the request, drops connection headers, returns body and trailers', async () => {
    let seen: http2.IncomingHttpHeaders = {};
    const srv = await server((st, h) => {
      seen = h;
      let body = '';
      st.on('data', (c) => (body += c));
      st.on('end', () => {
        st.respond({ ':status': 201, 'x-up': '1' }, { waitForTrailers: true });
        st.on('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0' }));
        st.end(`got:${body}`);
      });
    });
    const p = pool(srv.port);
    const r = await send(p, '/a?b=1', Buffer.from('hello'), { connection: 'keep-alive', 'transfer-encoding': 'chunked', te: 'trailers', 'x-in': 'y' }).done;
    expect(r.error).toBeNull();
    expect(r.status).toBe(201);
    expect(r.headers['x-up']).toBe('1');
    expect(r.headers[':status']).toBeUndefined();
    expect(r.body).toBe('got:hello');
    expect(r.trailers).toEqual({ 'grpc-status': '0' });
    expect(seen[':authority']).toBe('svc.local');
    expect(seen[':path']).toBe('/a?b=1');
    expect(seen[':scheme']).toBe('http');
    expect(seen.te).toBe('trailers');
    expect(seen['x-in']).toBe('y');
    expect(seen.connection).toBeUndefined();
    expect(seen['transfer-encoding']).toBeUndefined();
  });

  it('a trailers-only response (END_STREAM on the head) starts and ends in the same callback', async () => {
    const srv = await server((st) => st.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5' }, { endStream: true }));
    const p = pool(srv.port);
    const h = send(p, '/x');
    const r = await h.done;
    expect(r.events).toEqual(['start', 'end']);
    expect(r.headers['grpc-status']).toBe('5');
  });

  it('multiplexes up to the peer\'s max concurrent streams; beyond max_pending_requests it overflows', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const srv = await server((st) => held.push(st), { maxConcurrentStreams: 2 });
    const p = pool(srv.port, { maxConnections: 1, maxPendingRequests: 1 });
    // the first request opens the session; once the peer's settings are in, two streams run
    const a = send(p, '/1');
    await until(() => held.length === 1);
    const b = send(p, '/2');
    await until(() => held.length === 2);
    const c = send(p, '/3'); // waits: no free stream, one pending allowed
    const d = send(p, '/4'); // overflows
    const rd = await d.done;
    expect(rd.error?.code).toBe('PROXY_OVERFLOW');
    expect(p.stats).toEqual({ connected: 1, pending: 1 });
    held[0].respond({ ':status': 200 }, { endStream: true });
    await a.done;
    await until(() => held.length === 3);
    for (const st of held.slice(1)) st.respond({ ':status': 200 }, { endStream: true });
    expect((await b.done).status).toBe(200);
    expect((await c.done).status).toBe(200);
    expect(srv.sessions).toHaveLength(1);
  });

  it('opens up to max_connections sessions when every stream is taken', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const srv = await server((st) => held.push(st), { maxConcurrentStreams: 1 });
    const p = pool(srv.port, { maxConnections: 2 });
    const first = send(p, '/1');
    await until(() => held.length === 1);
    const rest = [send(p, '/2'), send(p, '/3')];
    await until(() => held.length === 2);
    expect(srv.sessions).toHaveLength(2);
    expect(p.stats.pending).toBe(1);
    for (let i = 0; i < 3; i++) {
      await until(() => held.length > i);
      held[i].respond({ ':status': 200 }, { endStream: true });
    }
    for (const h of [first, ...rest]) expect((await h.done).status).toBe(200);
    expect(srv.sessions).toHaveLength(2);
  });

  it('a session that receives GOAWAY takes no new streams; the next request gets a new session', async () => {
    const srv = await server((st, _h, s) => {
      st.respond({ ':status': 200 }, { endStream: true });
      if (s.sessions.length === 1) s.sessions[0].goaway();
    });
    const p = pool(srv.port);
    expect((await send(p, '/1').done).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect((await send(p, '/2').done).status).toBe(200);
    expect(srv.sessions).toHaveLength(2);
  });

  it('a session that errors leaves the pool at once; its streams fail as resets', async () => {
    const srv = await server((st, _h, s) => {
      if (s.sessions.length === 1) s.sessions[0].socket.destroy();
      else st.respond({ ':status': 200 }, { endStream: true });
    });
    const p = pool(srv.port);
    const r = await send(p, '/1').done;
    expect(r.error).not.toBeNull();
    expect(r.events).toEqual(['error']);
    await until(() => p.stats.connected === 0);
    expect((await send(p, '/2').done).status).toBe(200);
    expect(srv.sessions).toHaveLength(2);
  });

  it('a refused stream fails with REFUSED_STREAM (retriable)', async () => {
    const srv = await server((st) => st.close(http2.constants.NGHTTP2_REFUSED_STREAM));
    const r = await send(pool(srv.port), '/1').done;
    expect(r.error?.code).toBe('ERR_HTTP2_STREAM_ERROR');
    expect(r.error?.message).toMatch(/REFUSED_STREAM/);
  });

  it('closes idle sessions after the idle timeout, and retires a session at max_requests_per_connection', async () => {
    const srv = await server((st) => st.respond({ ':status': 200 }, { endStream: true }));
    const idle = pool(srv.port, { idleTimeoutMs: 100 });
    expect((await send(idle, '/1').done).status).toBe(200);
    await until(() => srv.closed() === 1, 2000);
    // the pool forgets the session on its own 'close', which may follow the server's
    await until(() => idle.stats.connected === 0, 2000);
    const limited = pool(srv.port, { maxRequestsPerConnection: 2 });
    for (let i = 0; i < 3; i++) expect((await send(limited, `/${i}`).done).status).toBe(200);
    expect(srv.sessions).toHaveLength(3);
  });

  it('streams a request body with backpressure and an abort cancels the stream upstream', async () => {
    let received = 0;
    let cancelled = false;
    const srv = await server((st) => {
      st.on('data', (c: Buffer) => (received += c.length));
      st.on('close', () => (cancelled = st.rstCode === http2.constants.NGHTTP2_CANCEL));
    });
    const { PassThrough } = await import('node:stream');
    const body = new PassThrough();
    const h = new Collect();
    let counted = 0;
    h.onRequestData = (n: number) => (counted += n);
    const p = pool(srv.port);
    p.dispatch({ method: 'POST', path: '/up', headers: { host: 'x' }, body }, h);
    const chunk = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; i < 32; i++) body.write(chunk);
    await until(() => received === 32 * chunk.length, 5000);
    expect(counted).toBe(32 * chunk.length);
    h.controller!.abort(new Error('client gone'));
    await until(() => cancelled);
    expect(h.seen.events).toEqual(['error']);
  });
});
