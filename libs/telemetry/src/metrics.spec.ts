import { describe, expect, it } from 'vitest';
import { MetricDefinitionError, Registry, mergeExpositions, registerProcessMetrics } from './metrics';
import { registerIstioMetrics, requestLabelValues, ISTIO_REQUEST_LABELS } from './istio';

describe('Prometheus registry', () => {
  it('exposes counters, gauges and cumulative histograms in the text format', () => {
    const r = new Registry();
    const c = r.counter({ name: 'reqs_total', help: 'Requests.', labelNames: ['code'] });
    c.labels('200').inc();
    c.labels('200').inc(2);
    c.labels('503').inc();
    r.gauge({ name: 'up', help: 'Up.' }).set(1);
    const h = r.histogram({ name: 'lat_ms', help: 'Latency.', buckets: [10, 1, 100] });
    for (const v of [0.5, 5, 50, 500]) h.observe(v);
    expect(r.expose()).toBe([
      '# HELP reqs_total Requests.',
      '# TYPE reqs_total counter',
      'reqs_total{code="200"} 3',
      'reqs_total{code="503"} 1',
      '# HELP up Up.',
      '# TYPE up gauge',
      'up 1',
      '# HELP lat_ms Latency.',
      '# TYPE lat_ms histogram',
      'lat_ms_bucket{le="1"} 1',
      'lat_ms_bucket{le="10"} 2',
      'lat_ms_bucket{le="100"} 3',
      'lat_ms_bucket{le="+Inf"} 4',
      'lat_ms_sum 555.5',
      'lat_ms_count 4',
      '',
    ].join('\n'));
  });

  it('keeps at most maxSeries label combinations; the rest are counted under "overflow"', () => {
    const r = new Registry();
    const c = r.counter({ name: 'peer_reqs_total', help: 'Requests by peer.', labelNames: ['peer', 'code'], maxSeries: 3 });
    for (let i = 0; i < 1000; i++) c.labels(`pod-${i}`, '200').inc();
    c.labels('pod-1', '200').inc(); // an existing combination still counts as itself
    const lines = r.expose().split('\n').filter((l) => l.startsWith('peer_reqs_total'));
    expect(lines).toEqual([
      'peer_reqs_total{peer="pod-0",code="200"} 1',
      'peer_reqs_total{peer="pod-1",code="200"} 2',
      'peer_reqs_total{peer="pod-2",code="200"} 1',
      'peer_reqs_total{peer="overflow",code="overflow"} 997',
    ]);
  });

  it('escapes label values', () => {
    const r = new Registry();
    r.counter({ name: 'x_total', help: 'x', labelNames: ['path'] }).labels('a"b\\c\nd').inc();
    expect(r.expose()).toContain('x_total{path="a\\"b\\\\c\\nd"} 1');
  });

  it('refuses bad names, reserved labels, wrong label counts and duplicates', () => {
    const r = new Registry();
    expect(() => r.counter({ name: '1bad', help: '' })).toThrow(MetricDefinitionError);
    expect(() => r.counter({ name: 'ok', help: '', labelNames: ['__x'] })).toThrow(/label name "__x"/);
    expect(() => r.histogram({ name: 'h', help: '', labelNames: ['le'], buckets: [1] })).toThrow(/reserved/);
    const c = r.counter({ name: 'c_total', help: '', labelNames: ['a', 'b'] });
    expect(() => c.labels('only-one')).toThrow(/expected 2 label values, got 1/);
    expect(() => r.counter({ name: 'c_total', help: '' })).toThrow(/already registered/);
  });

  it('registers Istio’s standard metrics with their labels; missing values are "unknown"', () => {
    const m = registerIstioMetrics();
    const values = requestLabelValues({ reporter: 'destination', response_code: '200', destination_service: 'callme-service.default.svc.cluster.local' });
    m.requestsTotal.labels(...values).inc();
    m.requestDuration.labels(...values).observe(3);
    const text = m.registry.expose();
    expect(text).toContain('# TYPE istio_requests_total counter');
    expect(text).toMatch(/istio_requests_total\{reporter="destination",source_workload="unknown",.*response_code="200",.*\} 1/);
    expect(text).toContain('# TYPE istio_request_duration_milliseconds histogram');
    expect(text).toContain('# TYPE istio_tcp_connections_opened_total counter');
    expect(values).toHaveLength(ISTIO_REQUEST_LABELS.length);
  });

  it('merges expositions without duplicating a family', () => {
    const a = new Registry();
    registerProcessMetrics(a);
    a.counter({ name: 'proxy_total', help: 'p' }).inc();
    const app = '# HELP app_hits_total Hits.\n# TYPE app_hits_total counter\napp_hits_total 7\n# HELP proxy_total dup\n# TYPE proxy_total counter\nproxy_total 99\n';
    const merged = mergeExpositions([a.expose(), app]);
    expect(merged).toContain('app_hits_total 7');
    expect(merged).toContain('proxy_total 1');
    expect(merged).not.toContain('proxy_total 99');
    expect(merged.match(/# TYPE proxy_total/g)).toHaveLength(1);
    expect(merged).toMatch(/process_resident_memory_bytes \d+/);
  });
});
