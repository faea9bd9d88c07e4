/**
 * `tsmesh dashboard`'s server against a stand-in control plane serving payloads recorded from the
 * real one (`/debug/syncz` shape, `fixtures/config-dump.caller-service.json`) and stand-in proxies
 * exposing real Istio metrics from @tsmesh/telemetry's registry over HTTP; no Prometheus, then an
 * unreachable one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerIstioMetrics, requestLabelValues, type IstioLabels } from '@tsmesh/telemetry';
import { startDashboard, type RunningDashboard } from '../src/dashboard/server';
import { workloadOfPod } from '../src/dashboard/api';

const dump = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/config-dump.caller-service.json'), 'utf8'));
const CALLER = 'sidecar~10.244.0.30~caller-service-v1-5f6d7c9b8-x2x7q.default~default.svc.cluster.local';
const CALLME = 'sidecar~10.244.0.31~callme-service-v1-6c8d9f7b5-abcde.default~default.svc.cluster.local';
const syncz = [
  { proxy: CALLER, kind: 'sidecar', namespace: 'default', pod: 'caller-service-v1-5f6d7c9b8-x2x7q', ip: '10.244.0.30', types: { CDS: { state: 'SYNCED' }, LDS: { state: 'SYNCED' }, EDS: { state: 'SYNCED' }, RDS: { state: 'SYNCED' }, SDS: { state: 'SYNCED' } } },
  { proxy: CALLME, kind: 'sidecar', namespace: 'default', pod: 'callme-service-v1-6c8d9f7b5-abcde', ip: '10.244.0.31', types: { CDS: { state: 'SYNCED' }, LDS: { state: 'NACKED', nack: { version: '7', message: 'listener 0.0.0.0_80: bad filter' } }, EDS: { state: 'SYNCED' } } },
];
const issues = [{ severity: 'error', code: 'VS_WEIGHT_SUM', file: '/cfg/vs.yaml', line: 9, resource: 'VirtualService default/todolist', field: 'spec.http[0].route', reason: 'weights sum to 0' }];

function listen(s: Server): Promise<number> {
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));
}

const call = (dst: string, version: string, code = '200'): IstioLabels => ({
  reporter: 'destination', source_workload: 'caller-service-v1', source_workload_namespace: 'default', source_app: 'caller-service', source_version: 'v1',
  destination_workload: dst, destination_workload_namespace: 'default', destination_app: 'callme-service', destination_version: version,
  destination_service_name: 'callme-service', destination_service_namespace: 'default', response_code: code, connection_security_policy: 'mutual_tls',
});

describe('tsmesh dashboard server', () => {
  const metrics = registerIstioMetrics();
  const servers: Server[] = [];
  let cp = '';
  let proxyPort = 0;
  let assets = '';
  let d: RunningDashboard;
  const get = async (path: string, base = d.url) => {
    const r = await fetch(`${base}${path}`);
    return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
  };

  beforeAll(async () => {
    const control = createServer((req, res) => {
      const u = new URL(req.url!, 'http://x');
      const json = (v: unknown, status = 200) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
      if (u.pathname === '/debug/syncz') return json(syncz);
      if (u.pathname === '/debug/config_issues') return json(issues);
      if (u.pathname === '/debug/config_dump') return u.searchParams.get('proxyID') === CALLER ? json({ ...dump, proxy: CALLER }) : json({ error: 'no connected proxy' }, 404);
      json({ error: 'no' }, 404);
    });
    servers.push(control);
    cp = `http://127.0.0.1:${await listen(control)}`;
    // every stand-in proxy serves the same registry: the callme sidecar's destination-side metrics
    const proxy = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(metrics.registry.expose()));
    servers.push(proxy);
    proxyPort = await listen(proxy);
    assets = mkdtempSync(join(tmpdir(), 'tsmesh-dashboard-'));
    mkdirSync(join(assets, 'assets'));
    writeFileSync(join(assets, 'index.html'), '<!doctype html><title>tsmesh dashboard</title>');
    writeFileSync(join(assets, 'assets/app-1234.js'), 'console.log(1)');
    d = await startDashboard({ port: 0, controlPlane: cp, assetsDir: assets, windowSeconds: 10, proxyMetricsUrl: (p) => (p.proxy === CALLME ? `http://127.0.0.1:${proxyPort}/stats/prometheus` : undefined) });
  });
  afterAll(async () => {
    await d?.close();
    for (const s of servers) s.close();
  });

  it('names workloads of pods as the proxies do', () => {
    expect(workloadOfPod('todolist-v1-5f6d7c9b8-x2x7q')).toBe('todolist-v1');
    expect(workloadOfPod('web-0')).toBe('web');
    expect(workloadOfPod('standalone')).toBe('standalone');
  });

  it('without Prometheus, computes rps, success, P50/P99 and mTLS from successive scrapes of the proxies and says so', async () => {
    const ok = metrics.requestsTotal.labels(...requestLabelValues(call('callme-service-v1', 'v1')));
    const v2 = metrics.requestsTotal.labels(...requestLabelValues(call('callme-service-v2', 'v2')));
    const failed = metrics.requestsTotal.labels(...requestLabelValues(call('callme-service-v1', 'v1', '503')));
    ok.inc(5);
    const first = JSON.parse((await get('/api/overview')).text);
    expect(first.graph.source).toBe('proxies');
    expect(first.graph.note).toMatch(/no Prometheus/);
    await new Promise((r) => setTimeout(r, 1100));
    ok.inc(18);
    failed.inc(2);
    v2.inc(60);
    for (let i = 0; i < 20; i++) metrics.requestDuration.labels(...requestLabelValues(call('callme-service-v1', 'v1'))).observe(i < 10 ? 3 : 8);
    const o = JSON.parse((await get('/api/overview')).text);
    const e = o.graph.edges.find((x: { target: string }) => x.target === 'default/callme-service-v1');
    expect(e.source).toBe('default/caller-service-v1');
    expect(e.rps).toBeGreaterThan(10);
    expect(e.rps).toBeLessThan(20.5);
    expect(e.successRate).toBeCloseTo(0.9);
    expect(e.mtls).toBe(true);
    expect(e.p50).toBe(5);
    expect(e.p99).toBeGreaterThan(5);
    expect(e.p99).toBeLessThanOrEqual(10);
    // the split: observed by destination_version, configured weights from the caller's routes (20/80)
    const split = o.splits.find((s: { service: string }) => s.service === 'callme-service.default');
    expect(split.versions.map((v: { version: string; weight: number }) => [v.version, v.weight])).toEqual([['v1', 20], ['v2', 80]]);
    expect(split.versions[1].share).toBeCloseTo(0.75, 1);
    // proxies: the worst state of each and its NACK; issues from validation
    expect(o.proxies.map((p: { workload: string; state: string }) => `${p.workload} ${p.state}`)).toEqual(['default/caller-service-v1 SYNCED', 'default/callme-service-v1 NACKED']);
    expect(o.proxies[1].nacks[0]).toMatch(/LDS 7: listener 0.0.0.0_80: bad filter/);
    expect(o.issues[0].code).toBe('VS_WEIGHT_SUM');
  });

  it('serves a workload page with inbound/outbound calls and its proxy\'s listeners, routes and clusters', async () => {
    const w = JSON.parse((await get('/api/workload/default/caller-service-v1')).text);
    expect(w.outbound.map((e: { target: string }) => e.target)).toContain('default/callme-service-v1');
    expect(w.inbound).toEqual([]);
    expect(w.config.proxy).toBe(CALLER);
    expect(w.config.listeners.map((l: { name: string }) => l.name)).toContain('0.0.0.0_80');
    expect(w.config.clusters.find((c: { name: string }) => c.name === 'outbound|8091|v1|callme-service.default.svc.cluster.local')).toBeTruthy();
    expect(w.config.routes.flatMap((r: { virtualHosts: { routes: string[] }[] }) => r.virtualHosts.flatMap((v) => v.routes)).join('\n')).toMatch(/outbound\|8091\|v1\|callme-service.default.svc.cluster.local 20/);
    const missing = await get('/api/workload/default/nothing');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.text).error).toMatch(/no workload default\/nothing/);
  });

  it('serves the bundle (index.html for the page\'s own routes), refuses paths out of it', async () => {
    expect((await get('/')).text).toMatch(/tsmesh dashboard/);
    expect((await get('/workload/x')).text).toMatch(/tsmesh dashboard/);
    const js = await get('/assets/app-1234.js');
    expect(js.type).toMatch(/javascript/);
    const r = await fetch(`${d.url}/..%2f..%2fetc/passwd`);
    expect(r.status).toBe(400);
    expect((await get('/api/nothing')).status).toBe(404);
    expect((await fetch(`${d.url}/api/graph`, { method: 'DELETE' })).status).toBe(405);
  });

  it('says when Prometheus or the control plane cannot be reached', async () => {
    const dead = createServer();
    const port = await listen(dead);
    await new Promise((r) => dead.close(r));
    const d2 = await startDashboard({ port: 0, controlPlane: cp, prometheus: `http://127.0.0.1:${port}`, assetsDir: assets, proxyMetricsUrl: () => undefined });
    try {
      const g = JSON.parse((await get('/api/graph', d2.url)).text);
      expect(g.source).toBe('proxies');
      expect(g.note).toMatch(new RegExp(`Prometheus at http://127.0.0.1:${port} did not answer`));
    } finally {
      await d2.close();
    }
    const d3 = await startDashboard({ port: 0, controlPlane: `http://127.0.0.1:${port}`, assetsDir: assets });
    try {
      const r = await get('/api/overview', d3.url);
      expect(r.status).toBe(502);
      expect(JSON.parse(r.text).error).toMatch(/cannot reach the control plane/);
    } finally {
      await d3.close();
    }
  });
});
