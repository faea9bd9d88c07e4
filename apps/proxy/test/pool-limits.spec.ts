/**
 * Envoy's circuit breakers and connection-pool limits through the proxy, for HTTP/1.1 and HTTP/2
 * clusters alike, against real upstreams: beyond `max_connections` + `max_pending_requests` a
 * request is answered 503 with `x-envoy-overloaded` and response flag UO, counted in
 * `upstream_rq_pending_overflow` and `upstream_cx_overflow` (`/stats`); `max_requests` refuses
 * before the pool; `max_requests_per_connection` retires an HTTP/2 session.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtensionTypeUrl, pack } from '@tsmesh/xds';
import { ControlPlane, applied, collectRequestFacts, edsCluster, httpListener, request, route, routes, startProxy, until } from './harness';
import type { Proxy } from '../src/agent/proxy';
import type { RequestFacts } from '../src/telemetry/recorder';

/** An HTTP/2 upstream that holds streams until released (one stream per session at a time). */
async function h2Holding(): Promise<{ port: number; held: http2.ServerHttp2Stream[]; sessions: () => number; server: http2.Http2Server }> {
  const held: http2.ServerHttp2Stream[] = [];
  let sessions = 0;
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1 } });
  server.on('session', (s) => { sessions++; s.on('error', () => undefined); });
  server.on('stream', (st, h) => {
    st.on('error', () => undefined);
    if (String(h[':path']).endsWith('/now')) st.respond({ ':status': 200 }, { endStream: true });
    else held.push(st);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, held, sessions: () => sessions, server };
}

const release = (st: http2.ServerHttp2Stream) => st.respond({ ':status': 200 }, { endStream: true });

describe('upstream pool limits through the proxy', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let port = 0;
  let cb: Awaited<ReturnType<typeof h2Holding>>;
  let max: Awaited<ReturnType<typeof h2Holding>>;
  let rpc: Awaited<ReturnType<typeof h2Holding>>;
  let h1: http.Server;
  const h1Held: http.ServerResponse[] = [];
  const facts: RequestFacts[] = [];

  beforeAll(async () => {
    [cb, max, rpc] = await Promise.all([h2Holding(), h2Holding(), h2Holding()]);
    h1 = http.createServer((_q, res) => h1Held.push(res));
    await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
    cp = new ControlPlane();
    await cp.start();
    const h2cb = edsCluster('h2cb', [cb.port], { http2: true, circuitBreakers: { maxConnections: 1, maxPendingRequests: 1, maxRequests: 100 } });
    const h2max = edsCluster('h2max', [max.port], { http2: true, circuitBreakers: { maxRequests: 1 } });
    const h2rpc = edsCluster('h2rpc', [rpc.port]);
    h2rpc.c.typed_extension_protocol_options = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': pack(ExtensionTypeUrl.HttpProtocolOptions, {
        common_http_protocol_options: { max_requests_per_connection: { value: 2 } },
        explicit_http_config: { http2_protocol_options: {} },
      }),
    };
    const h1cb = edsCluster('h1cb', [(h1.address() as net.AddressInfo).port], { circuitBreakers: { maxConnections: 1, maxPendingRequests: 1, maxRequests: 100 } });
    const v = cp.push({
      listeners: [httpListener('http', routes('80', [
        route({ match: { prefix: '/h2cb' }, cluster: 'h2cb' }),
        route({ match: { prefix: '/h2max' }, cluster: 'h2max' }),
        route({ match: { prefix: '/h2rpc' }, cluster: 'h2rpc' }),
        route({ match: { prefix: '/h1cb' }, cluster: 'h1cb' }),
      ]))],
      clusters: [h2cb.c, h2max.c, h2rpc.c, h1cb.c],
      endpoints: [h2cb.e, h2max.e, h2rpc.e, h1cb.e],
    });
    proxy = await startProxy(cp);
    collectRequestFacts(proxy.telemetry.deps.recorder, facts);
    await applied(proxy, v);
    await proxy.whenReady();
    port = proxy.listeners.boundPort('http')!;
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    for (const s of [cb, max, rpc]) s?.server.close();
    h1?.closeAllConnections();
    h1?.close();
  });

  const stat = async (name: string): Promise<number> => {
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: proxy.adminPort, path: '/stats' }, (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve(b));
      }).on('error', reject);
    });
    const m = new RegExp(`^cluster\\.${name.replace(/\./g, '\\.')}: (\\d+)$`, 'm').exec(body);
    return m ? Number(m[1]) : -1;
  };

  it('HTTP/2: one session, one stream, one pending request; the next is 503 UO, counted as pending and connection overflow', async () => {
    const first = request(port, '/h2cb/1');
    await until(() => cb.held.length === 1, 3000, 'first stream');
    const second = request(port, '/h2cb/2');
    await until(() => proxy.ctx.clusters.get('h2cb')!.rqActive === 2, 3000, 'second waiting');
    const n = facts.length;
    const third = await request(port, '/h2cb/3');
    expect(third.status).toBe(503);
    expect(third.headers['x-envoy-overloaded']).toBe('true');
    expect(third.body).toContain('overflow');
    await until(() => facts.length > n, 2000, 'recorded');
    expect(facts[facts.length - 1].responseFlags).toBe('UO');
    expect(await stat('h2cb.upstream_rq_pending_overflow')).toBe(1);
    expect(await stat('h2cb.upstream_cx_overflow')).toBe(2);
    release(cb.held[0]);
    expect((await first).status).toBe(200);
    await until(() => cb.held.length === 2, 3000, 'second stream');
    release(cb.held[1]);
    expect((await second).status).toBe(200);
    expect(cb.sessions()).toBe(1);
  });

  it('HTTP/2: max_requests refuses before the pool (UO), with no connection overflow', async () => {
    const first = request(port, '/h2max/1');
    await until(() => max.held.length === 1, 3000, 'first stream');
    const second = await request(port, '/h2max/2');
    expect(second.status).toBe(503);
    expect(second.headers['x-envoy-overloaded']).toBe('true');
    expect(await stat('h2max.upstream_rq_pending_overflow')).toBe(1);
    expect(await stat('h2max.upstream_cx_overflow')).toBe(0);
    release(max.held[0]);
    expect((await first).status).toBe(200);
    expect((await request(port, '/h2max/now')).status).toBe(200);
  });

  it('HTTP/2: max_requests_per_connection retires a session after its requests', async () => {
    for (let i = 0; i < 5; i++) expect((await request(port, `/h2rpc/${i}/now`)).status).toBe(200);
    expect(rpc.sessions()).toBe(3);
  });

  it('HTTP/1.1: the same limits through the same admission — 503 UO beyond one connection and one pending', async () => {
    const first = request(port, '/h1cb/1');
    await until(() => h1Held.length === 1, 3000, 'first request');
    const second = request(port, '/h1cb/2');
    await until(() => proxy.ctx.clusters.get('h1cb')!.rqActive === 2, 3000, 'second waiting');
    const third = await request(port, '/h1cb/3');
    expect(third.status).toBe(503);
    expect(third.headers['x-envoy-overloaded']).toBe('true');
    expect(await stat('h1cb.upstream_rq_pending_overflow')).toBe(1);
    // the waiting request wanted a connection that max_connections did not allow
    expect(await stat('h1cb.upstream_cx_overflow')).toBe(1);
    h1Held[0].end('a');
    expect((await first).status).toBe(200);
    await until(() => h1Held.length === 2, 3000, 'second request');
    h1Held[1].end('b');
    expect((await second).status).toBe(200);
  });
});
