import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane, startProxy, upstream, httpListener, routes, edsCluster, route, applied, request, until, type Upstream } from './harness';
import { ExtensionTypeUrl, pack, cluster, clusterLoadAssignment, type HttpFilter } from '@tsmesh/xds';
import type { Proxy } from '../src/agent/proxy';

const faultFilter: HttpFilter = { name: 'envoy.filters.http.fault', typed_config: pack(ExtensionTypeUrl.HttpFault, {}) };
const faultCfg = (o: object) => ({ 'envoy.filters.http.fault': pack(ExtensionTypeUrl.HttpFault, o) });

describe('resilience', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  const ups: Upstream[] = [];
  let port = 0;
  let flaky: Upstream;
  let slow: Upstream;
  let good: Upstream;
  let bad: Upstream;
  let shadow: Upstream;
  let hold: Upstream;
  const held: http.ServerResponse[] = [];
  let flakyCount = 0;

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    flaky = await upstream('flaky', (_req, res) => {
      flakyCount++;
      res.writeHead(flakyCount % 3 === 0 ? 200 : 503).end(`flaky ${flakyCount}`);
    });
    slow = await upstream('slow', (req, res) => { setTimeout(() => res.end('slow'), Number(new URL(req.url!, 'http://x').searchParams.get('ms') ?? 300)); });
    good = await upstream('good');
    bad = await upstream('bad', (_req, res) => res.writeHead(500).end('bad'));
    shadow = await upstream('shadow');
    hold = await upstream('hold', (_req, res) => { held.push(res); });
    const lb1 = await upstream('lb1');
    const lb2 = await upstream('lb2');
    const lb3 = await upstream('lb3');
    ups.push(flaky, slow, good, bad, shadow, hold, lb1, lb2, lb3);
    const lbPorts = [lb1.port, lb2.port, lb3.port];
    const cl = (name: string, ports: number[], o = {}) => edsCluster(name, ports, o);
    const cs = [
      cl('flaky', [flaky.port]),
      cl('slow', [slow.port]),
      cl('good', [good.port]),
      cl('shadow', [shadow.port]),
      cl('outlier', [bad.port, good.port], { outlierDetection: { consecutive5xx: 2, intervalMs: 100, baseEjectionTimeMs: 600, maxEjectionPercent: 100 } }),
      cl('cb', [hold.port], { circuitBreakers: { maxConnections: 1, maxPendingRequests: 1, maxRequests: 100 } }),
      cl('rr', lbPorts, { lbPolicy: 'ROUND_ROBIN' }),
      cl('lr', lbPorts, { lbPolicy: 'LEAST_REQUEST' }),
      cl('random', lbPorts, { lbPolicy: 'RANDOM' }),
      cl('ring', lbPorts, { lbPolicy: 'RING_HASH' }),
      { c: cluster({ name: 'dead' }), e: clusterLoadAssignment('dead', [{ address: '127.0.0.1', port: 1 }]) },
    ];
    const v = cp.push({
      listeners: [httpListener('http', '80', [faultFilter])],
      routes: [routes('80', [
        route({ match: { prefix: '/retry' }, cluster: 'flaky', retry: { retryOn: '5xx', numRetries: 3 } }),
        route({ match: { prefix: '/noretry' }, cluster: 'flaky', retry: { retryOn: 'connect-failure', numRetries: 3 } }),
        route({ match: { prefix: '/timeout' }, cluster: 'slow', timeoutMs: 100 }),
        route({ match: { prefix: '/pertry' }, cluster: 'slow', timeoutMs: 2000, retry: { retryOn: 'reset,5xx', numRetries: 1, perTryTimeoutMs: 80 } }),
        route({ match: { prefix: '/dead' }, cluster: 'dead', retry: { retryOn: 'connect-failure', numRetries: 2 } }),
        { match: { prefix: '/abort' }, route: { cluster: 'good' }, typed_per_filter_config: faultCfg({ abort: { http_status: 418, percentage: { numerator: 100, denominator: 'HUNDRED' } } }) },
        { match: { prefix: '/delay' }, route: { cluster: 'good' }, typed_per_filter_config: faultCfg({ delay: { fixed_delay: { seconds: 0, nanos: 200_000_000 }, percentage: { numerator: 100 } } }) },
        route({ match: { prefix: '/mirror' }, cluster: 'good', extra: { request_mirror_policies: [{ cluster: 'shadow' }] } }),
        route({ match: { prefix: '/outlier' }, cluster: 'outlier' }),
        route({ match: { prefix: '/cb' }, cluster: 'cb' }),
        route({ match: { prefix: '/lb/rr' }, cluster: 'rr' }),
        route({ match: { prefix: '/lb/lr' }, cluster: 'lr' }),
        route({ match: { prefix: '/lb/random' }, cluster: 'random' }),
        route({ match: { prefix: '/lb/ring' }, cluster: 'ring', extra: { hash_policy: [{ header: { header_name: 'x-user' } }] } }),
        route({ match: { prefix: '/lb/cookie' }, cluster: 'ring', extra: { hash_policy: [{ cookie: { name: 'sticky', ttl: { seconds: 60 } } }] } }),
        route({ match: { prefix: '/' }, cluster: 'good' }),
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
    for (const r of held) r.destroy();
    proxy?.stop();
    await cp?.close();
    await Promise.all(ups.map((u) => u.close()));
  });

  it('retries 5xx up to num_retries, only on the listed conditions', async () => {
    flakyCount = 0;
    const r = await request(port, '/retry');
    expect(r.status).toBe(200);
    expect(flakyCount).toBe(3);
    flakyCount = 0;
    const n = await request(port, '/noretry');
    expect(n.status).toBe(503);
    expect(flakyCount).toBe(1);
    const s = proxy.ctx.clusters.get('flaky')!.stats;
    expect(s.upstream_rq_retry).toBeGreaterThanOrEqual(2);
  });

  it('retries connect failures, then answers 503', async () => {
    const r = await request(port, '/dead');
    expect(r.status).toBe(503);
    expect(r.body).toContain('connection failure');
    expect(proxy.ctx.clusters.get('dead')!.stats.upstream_cx_connect_fail).toBe(3);
  });

  it('enforces the route timeout and the per-try timeout', async () => {
    const t0 = Date.now();
    const r = await request(port, '/timeout?ms=1000');
    expect(r.status).toBe(504);
    expect(Date.now() - t0).toBeLessThan(800);
    const p = await request(port, '/pertry?ms=300');
    expect(p.status).toBe(504);
    expect(proxy.ctx.clusters.get('slow')!.stats.upstream_rq_per_try_timeout).toBe(2);
    expect((await request(port, '/pertry?ms=1')).status).toBe(200);
  });

  it('injects aborts and delays', async () => {
    expect((await request(port, '/abort')).status).toBe(418);
    const t0 = Date.now();
    const d = await request(port, '/delay');
    expect(d.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
  });

  it('mirrors requests to the shadow cluster with a -shadow authority', async () => {
    const before = shadow.hits;
    const r = await request(port, '/mirror/x', { headers: { host: 'svc.local:80' } });
    expect(r.status).toBe(200);
    await until(() => shadow.hits > before, 2000, 'mirror hit');
    expect(shadow.lastHeaders.host).toBe('svc.local-shadow:80');
  });

  it('ejects a host after consecutive 5xx and returns it later', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 12; i++) seen.push((await request(port, '/outlier')).body.split(' ')[0]);
    // after two 5xx from "bad", only "good" answers
    expect(seen.slice(-6).every((s) => s === 'good')).toBe(true);
    expect(proxy.ctx.clusters.get('outlier')!.ejectedCount()).toBe(1);
    await until(() => proxy.ctx.clusters.get('outlier')!.ejectedCount() === 0, 3000, 'return from ejection');
  });

  it('balances round robin, least request, random and ring hash', async () => {
    const count = async (path: string, n: number, headers?: Record<string, string>) => {
      const m = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const who = (await request(port, path, { headers })).body.split(' ')[0];
        m.set(who, (m.get(who) ?? 0) + 1);
      }
      return m;
    };
    const rr = await count('/lb/rr', 9);
    expect([...rr.values()]).toEqual([3, 3, 3]);
    expect((await count('/lb/lr', 30)).size).toBeGreaterThan(1);
    expect((await count('/lb/random', 30)).size).toBeGreaterThan(1);
    // same key → same host; different keys spread
    expect((await count('/lb/ring', 10, { 'x-user': 'alice' })).size).toBe(1);
    const hosts = new Set<string>();
    for (let i = 0; i < 20; i++) hosts.add((await request(port, '/lb/ring', { headers: { 'x-user': `u${i}` } })).body.split(' ')[0]);
    expect(hosts.size).toBeGreaterThan(1);
    // a hash cookie with a TTL is generated when missing, and then sticks
    const first = await request(port, '/lb/cookie');
    const set = String(first.headers['set-cookie']);
    expect(set).toMatch(/^sticky=[0-9a-f]{16}; Max-Age=60; HttpOnly/);
    const jar = set.split(';')[0];
    expect((await count('/lb/cookie', 8, { cookie: jar })).size).toBe(1);
  });

  it('opens the circuit beyond max connections + pending', async () => {
    const inflight = [request(port, '/cb'), request(port, '/cb')];
    await until(() => held.length >= 1, 2000, 'first held');
    const third = await request(port, '/cb');
    expect(third.status).toBe(503);
    expect(third.headers['x-envoy-overloaded']).toBe('true');
    expect(proxy.ctx.clusters.get('cb')!.stats.upstream_rq_pending_overflow).toBe(1);
    await until(() => held.length >= 1, 2000);
    while (held.length) held.shift()!.end('done');
    await until(() => held.length >= 1, 2000, 'second held');
    while (held.length) held.shift()!.end('done');
    const rs = await Promise.all(inflight);
    expect(rs.map((r) => r.status)).toEqual([200, 200]);
  });
});
