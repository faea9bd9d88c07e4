/**
 * Envoy response flags from the request path's failure kinds, as the telemetry layer hands them
 * to the Istio metrics (`response_flags`) and the access log.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtensionTypeUrl, pack, cluster, clusterLoadAssignment, listener, httpConnectionManagerMessage, type HttpFilter } from '@tsmesh/xds';
import { ControlPlane, startProxy, upstream, httpListener, routes, edsCluster, route, applied, request, until, collectRequestFacts, type Upstream } from './harness';
import type { Proxy } from '../src/agent/proxy';
import type { RequestFacts } from '../src/telemetry/recorder';

const faultFilter: HttpFilter = { name: 'envoy.filters.http.fault', typed_config: pack(ExtensionTypeUrl.HttpFault, {}) };
const faultCfg = (o: object) => ({ 'envoy.filters.http.fault': pack(ExtensionTypeUrl.HttpFault, o) });

const facts: RequestFacts[] = [];

async function flagsOf(port: number, path: string): Promise<{ status: number; flags: string }> {
  const n = facts.length;
  const r = await request(port, path);
  await until(() => facts.length > n, 2000, `${path} recorded`);
  const f = facts[facts.length - 1];
  expect(f.responseCode).toBe(r.status);
  return { status: f.responseCode, flags: f.responseFlags };
}

describe('response flags', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let port = 0;
  const ups: Upstream[] = [];

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    const good = await upstream('good');
    const slow = await upstream('slow', (_req, res) => void setTimeout(() => res.end('slow'), 500));
    const bad = await upstream('bad', (_req, res) => res.writeHead(503).end('bad'));
    ups.push(good, slow, bad);
    const cs = [
      edsCluster('good', [good.port]),
      edsCluster('slow', [slow.port]),
      edsCluster('bad', [bad.port]),
      edsCluster('cb', [slow.port], { circuitBreakers: { maxConnections: 1, maxPendingRequests: 1, maxRequests: 1 } }),
      { c: cluster({ name: 'dead' }), e: clusterLoadAssignment('dead', [{ address: '127.0.0.1', port: 1 }]) },
      { c: cluster({ name: 'empty' }), e: clusterLoadAssignment('empty', []) },
    ];
    const v = cp.push({
      listeners: [
        httpListener('http', '80', [faultFilter]),
        // a connection manager with a short stream_idle_timeout (the codec enforces it)
        listener({
          name: 'idle', address: '127.0.0.1', port: 0,
          filterChains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: pack(ExtensionTypeUrl.HttpConnectionManager, { ...httpConnectionManagerMessage({ statPrefix: 'idle', rdsName: '80' }), stream_idle_timeout: { seconds: 0, nanos: 200_000_000 } }) }] }],
        }),
      ],
      routes: [routes('80', [
        route({ match: { prefix: '/ok' }, cluster: 'good' }),
        route({ match: { prefix: '/dead' }, cluster: 'dead' }),
        route({ match: { prefix: '/empty' }, cluster: 'empty' }),
        route({ match: { prefix: '/nocluster' }, cluster: 'missing' }),
        route({ match: { prefix: '/timeout' }, cluster: 'slow', timeoutMs: 100 }),
        route({ match: { prefix: '/hang' }, cluster: 'slow' }),
        route({ match: { prefix: '/cb' }, cluster: 'cb' }),
        route({ match: { prefix: '/exhausted' }, cluster: 'bad', retry: { retryOn: '5xx', numRetries: 2 } }),
        { match: { prefix: '/abort' }, route: { cluster: 'good' }, typed_per_filter_config: faultCfg({ abort: { http_status: 418, percentage: { numerator: 100, denominator: 'HUNDRED' } } }) },
        { match: { prefix: '/delay' }, route: { cluster: 'good' }, typed_per_filter_config: faultCfg({ delay: { fixed_delay: { seconds: 0, nanos: 50_000_000 }, percentage: { numerator: 100 } } }) },
      ])],
      clusters: cs.map((x) => x.c),
      endpoints: cs.map((x) => x.e),
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
    await Promise.all(ups.map((u) => u.close()));
  });

  it('none on success; UF, UH, NC, NR, UT, URX, FI, DI from their failures', async () => {
    expect(await flagsOf(port, '/ok')).toEqual({ status: 200, flags: '-' });
    expect(await flagsOf(port, '/dead')).toEqual({ status: 503, flags: 'UF' });
    expect(await flagsOf(port, '/empty')).toEqual({ status: 503, flags: 'UH' });
    expect(await flagsOf(port, '/nocluster')).toEqual({ status: 503, flags: 'NC' });
    expect(await flagsOf(port, '/unrouted')).toEqual({ status: 404, flags: 'NR' });
    expect(await flagsOf(port, '/timeout')).toEqual({ status: 504, flags: 'UT' });
    expect(await flagsOf(port, '/exhausted')).toEqual({ status: 503, flags: 'URX' });
    expect(await flagsOf(port, '/abort')).toEqual({ status: 418, flags: 'FI' });
    expect(await flagsOf(port, '/delay')).toEqual({ status: 200, flags: 'DI' });
  });

  it('UO when the circuit breaker refuses', async () => {
    const first = request(port, '/cb/1');
    await until(() => proxy.ctx.clusters.get('cb')!.rqActive === 1, 2000, 'first in flight');
    expect(await flagsOf(port, '/cb/2')).toEqual({ status: 503, flags: 'UO' });
    expect((await first).status).toBe(200);
  });

  it('SI when the stream idle timeout ends a request (408)', async () => {
    const idlePort = proxy.listeners.boundPort('idle')!;
    expect(await flagsOf(idlePort, '/hang')).toEqual({ status: 408, flags: 'SI' });
  });

  it('DC when the client goes away before the response', async () => {
    const n = facts.length;
    const req = http.request({ host: '127.0.0.1', port, path: '/hang', agent: false });
    req.on('error', () => undefined);
    req.end();
    await new Promise((r) => setTimeout(r, 100));
    // a reset: a half-close (FIN) after a complete request is a client still waiting (RFC 9112)
    req.socket!.resetAndDestroy();
    await until(() => facts.length > n, 2000, 'hang recorded');
    expect(facts[facts.length - 1]).toMatchObject({ responseCode: 0, responseFlags: 'DC' });
  });
});
