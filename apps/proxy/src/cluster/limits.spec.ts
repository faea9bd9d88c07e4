/**
 * The admission both upstream pools share (`limits.ts`), on real sockets: the proxy's HTTP/1.1
 * pool against a `node:http` server and the HTTP/2 pool against a `node:http2` server apply
 * `max_connections`, `max_pending_requests` and `max_requests_per_connection` the same way and
 * report `upstream_cx_overflow` / `upstream_rq_pending_overflow` to the cluster's counters.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { H1Pool, tcpConnector, type H1Controller, type H1Handler } from '../http1/client';
import { H2Pool } from '../http2/client';
import { Admit, PoolLimits, requestOverflow, retryOverflow, type OverflowCounters } from './limits';
import { ClusterStats } from './stats';

class Seen implements H1Handler {
  status = 0;
  error: (Error & { code?: string }) | null = null;
  readonly done: Promise<Seen>;
  private resolve!: (s: Seen) => void;
  constructor() {
    this.done = new Promise((r) => (this.resolve = r));
  }
  onResponseStart(_c: H1Controller, status: number): void {
    this.status = status;
  }
  onResponseEnd(): void {
    this.resolve(this);
  }
  onResponseError(_c: H1Controller | null, err: Error): void {
    this.error = err;
    this.resolve(this);
  }
}

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** An upstream that holds every request until released; counts the connections it accepted. */
async function holdingH1(): Promise<{ port: number; held: http.ServerResponse[]; connections: () => number }> {
  const held: http.ServerResponse[] = [];
  let connections = 0;
  const s = http.createServer((_req, res) => held.push(res));
  s.on('connection', () => connections++);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }));
  return { port: (s.address() as net.AddressInfo).port, held, connections: () => connections };
}

async function holdingH2(settings: http2.Settings): Promise<{ port: number; held: http2.ServerHttp2Stream[]; sessions: () => number }> {
  const held: http2.ServerHttp2Stream[] = [];
  let sessions = 0;
  const s = http2.createServer({ settings });
  s.on('session', (x) => { sessions++; x.on('error', () => undefined); });
  s.on('stream', (st) => { st.on('error', () => undefined); held.push(st); });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  cleanup.push(() => { s.close(); });
  return { port: (s.address() as net.AddressInfo).port, held, sessions: () => sessions };
}

const GET = { method: 'GET', path: '/', headers: { host: 'svc' } };

describe('PoolLimits', () => {
  it('opens while max_connections allows, then lets requests wait up to max_pending_requests, then overflows (counted)', () => {
    const c: OverflowCounters = { upstream_cx_overflow: 0, upstream_rq_pending_overflow: 0, upstream_rq_retry_overflow: 0 };
    const l = new PoolLimits(2, 1, 0, 0, c);
    expect(l.admit(1, true, 0)).toBe(Admit.Open);
    expect(l.admit(2, true, 0)).toBe(Admit.Wait);
    expect(c.upstream_cx_overflow).toBe(1);
    expect(l.admit(2, true, 1)).toBe(Admit.Overflow);
    expect(c).toEqual({ upstream_cx_overflow: 2, upstream_rq_pending_overflow: 1, upstream_rq_retry_overflow: 0 });
    // a request that a connection being opened will take needs no connection of its own
    expect(l.admit(2, false, -1)).toBe(Admit.Wait);
    expect(new PoolLimits(0, 0, 0, 0).canConnect(0)).toBe(true);
    expect(new PoolLimits(5, 0, 3, 0).exhausted(2)).toBe(false);
    expect(new PoolLimits(5, 0, 3, 0).exhausted(3)).toBe(true);
    expect(new PoolLimits(5, 0, 0, 0).exhausted(1e9)).toBe(false);
  });

  it('cluster-wide: max_requests for both protocols, max_connections + max_pending_requests for HTTP/1.1, max_retries', () => {
    const stats = new ClusterStats();
    const load = { rqActive: 3, retriesActive: 1, stats };
    const limits = { maxConnections: 2, maxPendingRequests: 1, maxRequests: 10, maxRetries: 1 };
    expect(requestOverflow(load, limits, true)).toBe(false);
    expect(requestOverflow(load, limits, false)).toBe(true);
    expect(requestOverflow({ ...load, rqActive: 10 }, limits, true)).toBe(true);
    expect(stats.upstream_rq_pending_overflow).toBe(2);
    expect(retryOverflow(load, limits)).toBe(true);
    expect(retryOverflow({ ...load, retriesActive: 0 }, limits)).toBe(false);
    expect(stats.upstream_rq_retry_overflow).toBe(1);
  });
});

describe('both pools under the shared limits', () => {
  it('HTTP/1.1: one connection, one waiting request, the third overflows; the waiting one reuses the connection', async () => {
    const up = await holdingH1();
    const stats = new ClusterStats();
    const p = new H1Pool({ limits: new PoolLimits(1, 1, 0, 60_000, stats), connect: tcpConnector('127.0.0.1', up.port, 1000, null, null) });
    cleanup.push(() => p.close());
    const a = new Seen();
    p.dispatch(GET, a);
    // while the connection is being opened the first request waits for it: not pending beyond the limit
    const b = new Seen();
    p.dispatch(GET, b);
    const c = new Seen();
    p.dispatch(GET, c);
    expect((await c.done).error?.code).toBe('PROXY_OVERFLOW');
    expect(stats.upstream_rq_pending_overflow).toBe(1);
    expect(stats.upstream_cx_overflow).toBe(2);
    await until(() => up.held.length === 1);
    up.held[0].end('a');
    expect((await a.done).status).toBe(200);
    await until(() => up.held.length === 2);
    up.held[1].end('b');
    expect((await b.done).status).toBe(200);
    expect(up.connections()).toBe(1);
    expect(p.stats).toEqual({ connected: 1, pending: 0 });
  });

  it('HTTP/1.1: max_requests_per_connection retires a connection after its limit', async () => {
    const up = await holdingH1();
    const p = new H1Pool({ limits: new PoolLimits(1, 10, 2, 60_000), connect: tcpConnector('127.0.0.1', up.port, 1000, null, null) });
    cleanup.push(() => p.close());
    for (let i = 0; i < 3; i++) {
      const s = new Seen();
      p.dispatch(GET, s);
      await until(() => up.held.length === i + 1);
      up.held[i].end('x');
      expect((await s.done).status).toBe(200);
    }
    expect(up.connections()).toBe(2);
  });

  it('HTTP/2: streams up to the peer\'s limit on max_connections sessions, max_pending_requests waiting, then overflow (counted)', async () => {
    const up = await holdingH2({ maxConcurrentStreams: 1 });
    const stats = new ClusterStats();
    const p = new H2Pool({ limits: new PoolLimits(2, 1, 0, 60_000, stats), scheme: 'http', connect: tcpConnector('127.0.0.1', up.port, 1000, null, null) }, `127.0.0.1:${up.port}`);
    cleanup.push(() => p.close());
    const a = new Seen();
    p.dispatch(GET, a);
    await until(() => up.held.length === 1);
    const b = new Seen();
    p.dispatch(GET, b);
    await until(() => up.held.length === 2);
    expect(up.sessions()).toBe(2);
    const c = new Seen();
    p.dispatch(GET, c); // both sessions full, no third: waits
    const d = new Seen();
    p.dispatch(GET, d); // overflows
    expect((await d.done).error?.code).toBe('PROXY_OVERFLOW');
    expect(stats.upstream_cx_overflow).toBe(2);
    expect(stats.upstream_rq_pending_overflow).toBe(1);
    expect(p.stats).toEqual({ connected: 2, pending: 1 });
    up.held[0].respond({ ':status': 200 }, { endStream: true });
    expect((await a.done).status).toBe(200);
    await until(() => up.held.length === 3);
    for (const st of up.held.slice(1)) st.respond({ ':status': 200 }, { endStream: true });
    expect((await b.done).status).toBe(200);
    expect((await c.done).status).toBe(200);
    expect(up.sessions()).toBe(2);
  });

  it('HTTP/2: with max_pending_requests 0 a request that finds no free stream overflows at once', async () => {
    const up = await holdingH2({ maxConcurrentStreams: 1 });
    const stats = new ClusterStats();
    const p = new H2Pool({ limits: new PoolLimits(1, 0, 0, 60_000, stats), scheme: 'http', connect: tcpConnector('127.0.0.1', up.port, 1000, null, null) }, `127.0.0.1:${up.port}`);
    cleanup.push(() => p.close());
    const a = new Seen();
    p.dispatch(GET, a);
    await until(() => up.held.length === 1);
    const b = new Seen();
    p.dispatch(GET, b);
    expect((await b.done).error?.code).toBe('PROXY_OVERFLOW');
    expect(stats).toMatchObject({ upstream_cx_overflow: 1, upstream_rq_pending_overflow: 1 });
    up.held[0].respond({ ':status': 200 }, { endStream: true });
    expect((await a.done).status).toBe(200);
  });
});
