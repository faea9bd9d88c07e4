/**
 * Nothing the proxy keeps per connection or per request outlives it: after rounds of traffic of
 * every ending (keep-alive, `Connection: close`, clients gone mid-request and mid-response,
 * timeouts, malformed heads), every set, counter, queue and deadline list returns to its
 * baseline, and a second round leaves the same state as the first.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane, startProxy, upstream, httpListener, routes, edsCluster, route, applied, request, until, type Upstream } from './harness';
import type { Proxy } from '../src/agent/proxy';
import type { HttpConnectionManager } from '../src/http/hcm';
import type { ClusterManager } from '../src/cluster/manager';
import type { H1Pool } from '../src/http1/client';
import { trackedCount } from '../src/http/deadlines';

/** What the proxy holds that could grow with traffic. */
function footprint(proxy: Proxy) {
  const lm = proxy.listeners as unknown as { allHcms(): HttpConnectionManager[]; sockets: Set<net.Socket>; retired: Set<unknown> };
  const hcms = lm.allHcms() as unknown as { openConnections: number; h1Conns: Set<unknown>; sessions: Set<unknown> }[];
  const clusters = (proxy as unknown as { clusters: ClusterManager }).clusters;
  let pending = 0;
  let rqActive = 0;
  let hostActive = 0;
  let poolsWithinLimit = true;
  for (const c of clusters.all()) {
    rqActive += c.rqActive + c.retriesActive;
    for (const h of c.hosts()) {
      hostActive += h.activeRequests;
      const pool = (h as unknown as { pool: H1Pool | null }).pool;
      if (pool === null) continue;
      pending += pool.stats.pending;
      // each pool: no more connections than the cluster allows (8), parked ones among them
      const idle = (pool as unknown as { idle: unknown[] }).idle.length;
      if (pool.size > 8 || idle > pool.size) poolsWithinLimit = false;
    }
  }
  const recorder = proxy.telemetry.deps.recorder as unknown as { requestBases: Map<string, { byText: Map<string, unknown> }> };
  return {
    downstreamSockets: lm.sockets.size,
    hcmConnections: hcms.reduce((n, h) => n + h.openConnections, 0),
    h1Connections: hcms.reduce((n, h) => n + h.h1Conns.size, 0),
    h2Sessions: hcms.reduce((n, h) => n + h.sessions.size, 0),
    retiredManagers: lm.retired.size,
    activeRequests: proxy.ctx.activeRequests,
    downstreamRqActive: proxy.ctx.stats.httpFor('http').downstream_rq_active,
    clusterActive: rqActive,
    hostActive,
    pending,
    deadlines: trackedCount(),
    // bounded by the cluster's connection limit and idle timeout, not by the traffic
    poolConnectionsWithinLimit: poolsWithinLimit,
    metricLabelSets: [...recorder.requestBases.values()].reduce((n, b) => n + b.byText.size, 0),
  };
}

/** A raw exchange: writes `bytes`, optionally closes after `closeAfterMs`, resolves with what came back. */
function raw(port: number, bytes: string, closeAfterMs = -1): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(bytes);
      if (closeAfterMs >= 0) setTimeout(() => s.destroy(), closeAfterMs);
    });
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(got));
  });
}

describe('per-connection and per-request state is bounded', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let port = 0;
  const ups: Upstream[] = [];

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    const good = await upstream('good');
    const slow = await upstream('slow', (_req, res) => void setTimeout(() => res.end('slow'), 300));
    // writes its head and part of the body, then waits: the client leaves mid-response
    const trickle = await upstream('trickle', (_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write('x'.repeat(1000));
      setTimeout(() => res.destroy(), 500);
    });
    ups.push(good, slow, trickle);
    const cs = [
      edsCluster('good', [good.port], { circuitBreakers: { maxConnections: 8 } }),
      edsCluster('slow', [slow.port], { circuitBreakers: { maxConnections: 8 } }),
      edsCluster('trickle', [trickle.port], { circuitBreakers: { maxConnections: 8 } }),
    ];
    const v = cp.push({
      listeners: [httpListener('http', '80')],
      routes: [routes('80', [
        route({ match: { prefix: '/ok' }, cluster: 'good' }),
        route({ match: { prefix: '/timeout' }, cluster: 'slow', timeoutMs: 50 }),
        route({ match: { prefix: '/slow' }, cluster: 'slow' }),
        route({ match: { prefix: '/retry' }, cluster: 'slow', timeoutMs: 2000, retry: { retryOn: '5xx,reset', numRetries: 2, perTryTimeoutMs: 40 } }),
        route({ match: { prefix: '/trickle' }, cluster: 'trickle' }),
      ])],
      clusters: cs.map((x) => x.c),
      endpoints: cs.map((x) => x.e),
    });
    proxy = await startProxy(cp);
    await applied(proxy, v);
    await proxy.whenReady();
    port = proxy.listeners.boundPort('http')!;
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    await Promise.all(ups.map((u) => u.close()));
  });

  async function round(): Promise<void> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
    const work: Promise<unknown>[] = [];
    // keep-alive requests over 10 connections, and one connection per request (Connection: close)
    for (let i = 0; i < 200; i++) work.push(request(port, `/ok/${i}`, { agent }));
    for (let i = 0; i < 50; i++) work.push(request(port, `/ok/close/${i}`, { headers: { connection: 'close' } }));
    // route timeouts and per-try timeouts with retries (deadline entries, aborted attempts)
    for (let i = 0; i < 20; i++) work.push(request(port, '/timeout'), request(port, '/retry'));
    // clients gone: before the upstream answers, mid-response, mid-head, mid-body
    for (let i = 0; i < 20; i++) {
      work.push(raw(port, 'GET /slow HTTP/1.1\r\nhost: a\r\n\r\n', 20));
      work.push(raw(port, 'GET /trickle HTTP/1.1\r\nhost: a\r\n\r\n', 100));
      work.push(raw(port, 'GET /ok HTTP/1.1\r\nhost: a\r\nx-partial: ', 10));
      work.push(raw(port, 'POST /slow HTTP/1.1\r\nhost: a\r\ncontent-length: 1000\r\n\r\nabc', 20));
    }
    // malformed heads (400 and close) and pipelined requests
    for (let i = 0; i < 20; i++) {
      work.push(raw(port, 'GET /ok HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n'));
      work.push(raw(port, 'GET /ok/1 HTTP/1.1\r\nhost: a\r\n\r\nGET /ok/2 HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n'));
    }
    await Promise.allSettled(work);
    agent.destroy();
  }

  const settled = {
    downstreamSockets: 0, hcmConnections: 0, h1Connections: 0, h2Sessions: 0, retiredManagers: 0, activeRequests: 0,
    downstreamRqActive: 0, clusterActive: 0, hostActive: 0, pending: 0, deadlines: 0, poolConnectionsWithinLimit: true,
  };

  it('returns to baseline after each round, and the second round leaves what the first left', async () => {
    const before = footprint(proxy);
    expect(before).toMatchObject({ ...settled, metricLabelSets: 0 });
    await round();
    await until(() => {
      const f = footprint(proxy);
      return f.downstreamSockets === 0 && f.activeRequests === 0 && f.deadlines === 0 && f.hostActive === 0;
    }, 5000, 'first round settled');
    const first = footprint(proxy);
    expect(first).toMatchObject(settled);
    // one label set per response code / flags combination, not per request
    expect(first.metricLabelSets).toBeGreaterThan(0);
    expect(first.metricLabelSets).toBeLessThan(20);
    await round();
    await until(() => {
      const f = footprint(proxy);
      return f.downstreamSockets === 0 && f.activeRequests === 0 && f.deadlines === 0 && f.hostActive === 0;
    }, 5000, 'second round settled');
    // the label sets may differ by a timing-dependent flag (UT or URX), never by the request count
    const { metricLabelSets, ...second } = footprint(proxy);
    const { metricLabelSets: _firstSets, ...firstRest } = first;
    expect(second).toEqual(firstRest);
    expect(metricLabelSets).toBeLessThan(20);
  });
});
