import { describe, expect, it } from 'vitest';
import { registerIstioMetrics, requestLabelValues, type IstioLabels } from './istio';
import { ExpositionParseError, parseExposition } from './exposition';
import { buildGraph, buildSplits, histogramQuantile, ratesBetween, seriesKey, serviceOf, weightsFromRoutes, type CounterSnapshot, type RateSeries } from './mesh-view';

const call = (src: string, dst: string, version: string, extra: IstioLabels = {}): IstioLabels => ({
  reporter: 'destination', source_workload: src, source_workload_namespace: 'default', source_app: src.replace(/-v\d+$/, ''),
  destination_workload: dst, destination_workload_namespace: 'default', destination_app: dst.replace(/-v\d+$/, ''), destination_version: version,
  destination_service_name: dst.replace(/-v\d+$/, ''), destination_service_namespace: 'default', response_code: '200',
  connection_security_policy: 'mutual_tls', ...extra,
});

function snapshot(text: string, at: number): CounterSnapshot {
  const values: CounterSnapshot['values'] = new Map();
  for (const s of parseExposition(text)) values.set(seriesKey(s.name, s.labels), { labels: { __name__: s.name, ...s.labels }, value: s.value });
  return { at, values };
}

describe('parseExposition', () => {
  it('reads the registry\'s own exposition: labels unescaped, histogram buckets with le', () => {
    const m = registerIstioMetrics();
    m.requestsTotal.labels(...requestLabelValues(call('caller', 'callme-v1', 'v1', { request_protocol: 'say "hi"\\n' }))).inc(3);
    m.requestDuration.labels(...requestLabelValues(call('caller', 'callme-v1', 'v1'))).observe(7);
    const samples = parseExposition(m.registry.expose());
    const total = samples.find((s) => s.name === 'istio_requests_total')!;
    expect(total.value).toBe(3);
    expect(total.labels.request_protocol).toBe('say "hi"\\n');
    const buckets = samples.filter((s) => s.name === 'istio_request_duration_milliseconds_bucket');
    expect(buckets.find((b) => b.labels.le === '5')!.value).toBe(0);
    expect(buckets.find((b) => b.labels.le === '10')!.value).toBe(1);
    expect(buckets.find((b) => b.labels.le === '+Inf')!.value).toBe(1);
  });

  it('names the line of a malformed sample', () => {
    expect(() => parseExposition('# HELP x y\nok 1\nbad{a="1" 2\n')).toThrow(ExpositionParseError);
    expect(() => parseExposition('ok 1\nx{a="1"} notanumber\n')).toThrow(/line 2: value "notanumber"/);
  });
});

describe('histogramQuantile', () => {
  it('interpolates inside the bucket as Prometheus does', () => {
    // 10 in (0,5], 10 in (5,10]: the median is the upper bound of the first bucket, P75 halfway through the second
    const b: [number, number][] = [[5, 10], [10, 20], [Infinity, 20]];
    expect(histogramQuantile(0.5, b)).toBe(5);
    expect(histogramQuantile(0.75, b)).toBe(7.5);
    expect(histogramQuantile(0.99, [[5, 10], [Infinity, 20]])).toBe(5);
    expect(histogramQuantile(0.5, [[5, 0], [Infinity, 0]])).toBeNull();
  });
});

describe('buildGraph', () => {
  it('makes workloads nodes and calls edges with rps, success rate, P50/P99 and mTLS', () => {
    const requests: RateSeries[] = [
      { labels: call('caller', 'callme-v1', 'v1'), rate: 9 },
      { labels: call('caller', 'callme-v1', 'v1', { response_code: '503' }), rate: 1 },
      { labels: call('istio-ingressgateway', 'todolist-v1', 'v1', { source_workload_namespace: 'istio-system', connection_security_policy: 'none' }), rate: 4 },
      { labels: { ...call('caller', 'callme-v1', 'v1'), reporter: 'source' }, rate: 100 },
    ];
    const buckets: RateSeries[] = [
      { labels: { ...call('caller', 'callme-v1', 'v1'), le: '5' }, rate: 5 },
      { labels: { ...call('caller', 'callme-v1', 'v1'), le: '10' }, rate: 10 },
      { labels: { ...call('caller', 'callme-v1', 'v1'), le: '+Inf' }, rate: 10 },
    ];
    const g = buildGraph(requests, buckets, { source: 'prometheus', windowSeconds: 15, workloads: [{ namespace: 'default', workload: 'idle-v1', app: 'idle', version: 'v1' }] });
    expect(g.nodes.map((n) => n.id)).toEqual(['default/caller', 'default/callme-v1', 'default/idle-v1', 'default/todolist-v1', 'istio-system/istio-ingressgateway']);
    const e = g.edges.find((x) => x.target === 'default/callme-v1')!;
    expect(e).toMatchObject({ source: 'default/caller', service: 'callme.default', rps: 10, successRate: 0.9, p50: 5, mtls: true, mtlsShare: 1 });
    expect(e.p99).toBeCloseTo(9.9);
    const gw = g.edges.find((x) => x.target === 'default/todolist-v1')!;
    expect(gw).toMatchObject({ source: 'istio-system/istio-ingressgateway', rps: 4, mtls: false, successRate: 1, p50: null });
    expect(g.nodes.find((n) => n.id === 'default/callme-v1')).toMatchObject({ version: 'v1', app: 'callme', rpsIn: 10 });
    expect(g.nodes.find((n) => n.id === 'default/idle-v1')!.proxied).toBe(true);
  });
});

describe('splits and weights', () => {
  const routes = [{
    name: '8091',
    virtual_hosts: [{ name: 'callme-service.default.svc.cluster.local:8091', routes: [{ route: { weighted_clusters: { clusters: [
      { name: 'outbound|8091|v1|callme-service.default.svc.cluster.local', weight: { value: 20 } },
      { name: 'outbound|8091|v2|callme-service.default.svc.cluster.local', weight: 80 },
    ] } } }] }, { name: 'allow_any', routes: [{ route: { cluster: 'PassthroughCluster' } }] }],
  }];

  it('reads configured weights from weighted_clusters (recorded shape: weight as {value})', () => {
    const w = weightsFromRoutes(routes);
    expect([...w.keys()]).toEqual(['callme-service.default']);
    expect(Object.fromEntries(w.get('callme-service.default')!)).toEqual({ v1: 20, v2: 80 });
  });

  it('splits a service by destination_version, beside the configured weights', () => {
    const requests: RateSeries[] = [
      { labels: { ...call('caller', 'callme-v1', 'v1'), destination_service_name: 'callme-service' }, rate: 3 },
      { labels: { ...call('caller', 'callme-v2', 'v2'), destination_service_name: 'callme-service' }, rate: 9 },
      { labels: call('x', 'single-v1', 'v1'), rate: 5 },
    ];
    const s = buildSplits(requests, weightsFromRoutes(routes));
    expect(s).toEqual([{ service: 'callme-service.default', rps: 12, versions: [
      { version: 'v1', rps: 3, share: 0.25, weight: 20 },
      { version: 'v2', rps: 9, share: 0.75, weight: 80 },
    ] }]);
  });
});

describe('ratesBetween', () => {
  it('divides counter deltas by the time between scrapes; a reset counts from zero', () => {
    const m = registerIstioMetrics();
    const c = m.requestsTotal.labels(...requestLabelValues(call('caller', 'callme-v1', 'v1')));
    c.inc(10);
    const a = snapshot(m.registry.expose(), 1000);
    c.inc(20);
    const b = snapshot(m.registry.expose(), 3000);
    expect(ratesBetween(a, b).map((r) => r.rate)).toEqual([10]);
    expect(ratesBetween(undefined, b).map((r) => r.rate)).toEqual([0]);
    const reset = snapshot(m.registry.expose().replace(/ 30$/m, ' 4'), 5000);
    expect(ratesBetween(b, reset).map((r) => r.rate)).toEqual([2]);
  });
});

describe('serviceOf', () => {
  it('names the destination service from the most specific label known', () => {
    const base = { destination_workload_namespace: 'default', destination_app: 'todolist', destination_canonical_service: 'todolist-cs' };
    expect(serviceOf({ ...base, destination_service_name: 'todolist', destination_service_namespace: 'web' })).toBe('todolist.web');
    expect(serviceOf({ ...base, destination_service_name: 'unknown', destination_service: 'callme-service.other.svc.cluster.local:8091' })).toBe('callme-service.other');
    expect(serviceOf({ ...base, destination_service_name: 'unknown', destination_service: '10.96.0.7:8000' })).toBe('todolist-cs.default');
    expect(serviceOf({ ...base, destination_canonical_service: 'unknown', destination_service: 'unknown' })).toBe('todolist.default');
  });
});
