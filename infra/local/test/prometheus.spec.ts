/**
 * The demo's Prometheus: Debian's real `prometheus` scraping real HTTP metrics endpoints on
 * loopback (Istio's standard metrics from libs/telemetry, a control-plane gauge), found through
 * the pods' `prometheus.io/*` annotations, then queried with the PromQL Istio's dashboards use.
 * Skipped only where the Debian package is not installed (the demo then runs without it).
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry, registerIstioMetrics, requestLabelValues } from '@tsmesh/telemetry/metrics';
import { prometheusUnavailable, scrapeTargets, startPrometheus, type RunningPrometheus, type ScrapePod } from '../src/prometheus';

const pod = (name: string, labels: Record<string, string>, annotations: Record<string, string> = {}, ip = '10.0.0.1'): ScrapePod => ({ namespace: 'default', name, ip, labels, annotations });

describe('scrape targets by Istio job', () => {
  it('annotated pods go to kubernetes-pods at their port and path; unannotated control-plane pods to their own jobs', () => {
    const t = scrapeTargets([
      pod('todolist-v1-0', { app: 'todolist', 'service.istio.io/canonical-name': 'todolist' }, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15020', 'prometheus.io/path': '/stats/prometheus' }),
      pod('istiod-0', { app: 'istiod' }, {}, '10.0.0.2'),
      pod('ca-0', { app: 'istio-ca' }, {}, '10.0.0.3'),
      pod('inj-0', { app: 'sidecar-injector' }, {}, '10.0.0.4'),
      pod('bad-port', { app: 'x' }, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': 'http' }),
      pod('plain', { app: 'y' }),
    ]);
    expect(t['kubernetes-pods']).toEqual([{
      targets: ['10.0.0.1:15020'],
      labels: { app: 'todolist', service_istio_io_canonical_name: 'todolist', namespace: 'default', pod: 'todolist-v1-0', __metrics_path__: '/stats/prometheus' },
    }]);
    expect(t.istiod[0].targets).toEqual(['10.0.0.2:15014']);
    expect(t['istio-ca'][0].targets).toEqual(['10.0.0.3:15014']);
    expect(t['istio-sidecar-injector'][0].targets).toEqual(['10.0.0.4:15017']);
  });
});

const missing = prometheusUnavailable();

describe.skipIf(missing !== null)('a real Prometheus answers the dashboards\' queries', () => {
  let dir: string;
  let prom: RunningPrometheus;
  const servers: Server[] = [];
  const serve = async (path: string, text: () => string): Promise<number> => {
    const s = createServer((req, res) => {
      if (req.url !== path) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text());
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as { port: number }).port;
  };
  const freePort = async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    await new Promise((r) => s.close(r));
    return port;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-prom-'));
    const m = registerIstioMetrics();
    const sidecar = async () => {
      const values = requestLabelValues({ reporter: 'destination', destination_workload: 'callme-v1', destination_service: 'callme.default.svc.cluster.local', response_code: '200', connection_security_policy: 'mutual_tls' });
      return { values, port: await serve('/stats/prometheus', () => m.registry.expose()) };
    };
    const { values, port: sidecarPort } = await sidecar();
    // Requests keep arriving while Prometheus scrapes, so rate() has something to measure.
    const tick = setInterval(() => {
      m.requestsTotal.labels(...values).inc(5);
      m.requestDuration.labels(...values).observe(7);
    }, 100);
    tick.unref();
    const cp = new Registry();
    cp.gauge({ name: 'pilot_xds', help: 'Connected proxies.', labelNames: ['version'] }).labels('1').set(3);
    const cpPort = await serve('/metrics', () => cp.expose());
    prom = await startPrometheus({
      dir,
      port: await freePort(),
      scrapeIntervalSeconds: 1,
      refreshMs: 500,
      pods: () => [
        pod('callme-v1-0', { app: 'callme', version: 'v1' }, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(sidecarPort), 'prometheus.io/path': '/stats/prometheus' }, '127.0.0.1'),
        { ...pod('istiod-0', { app: 'istiod' }, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(cpPort) }, '127.0.0.1'), namespace: 'istio-system' },
      ],
    });
  }, 40_000);
  afterAll(async () => {
    await prom?.stop();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const eventually = async (promql: string) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await prom.query(promql);
      if (r.length > 0 || Date.now() > deadline) return r;
      await new Promise((res) => setTimeout(res, 500));
    }
  };

  it('request rate by destination workload, success rate, P99 and pilot_xds come back non-empty', async () => {
    const rate = await eventually('sum(rate(istio_requests_total{reporter="destination"}[1m])) by (destination_workload)');
    expect(rate.map((r) => r.metric.destination_workload)).toEqual(['callme-v1']);
    expect(Number(rate[0].value[1])).toBeGreaterThan(0);
    const success = await eventually('sum(rate(istio_requests_total{reporter="destination",response_code!~"5.*"}[1m])) / sum(rate(istio_requests_total{reporter="destination"}[1m]))');
    expect(Number(success[0].value[1])).toBe(1);
    const p99 = await eventually('histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[1m])) by (le, destination_workload))');
    // Every observation is 7 ms: P99 falls in Istio's (5, 10] bucket.
    expect(Number(p99[0].value[1])).toBeGreaterThan(5);
    expect(Number(p99[0].value[1])).toBeLessThanOrEqual(10);
    const xds = await eventually('sum(pilot_xds{app="istiod"})');
    expect(Number(xds[0].value[1])).toBe(3);
    const up = await prom.query('up{job="kubernetes-pods"}');
    expect(up.map((u) => `${u.metric.namespace}/${u.metric.pod}=${u.value[1]}`).sort()).toEqual(['default/callme-v1-0=1', 'istio-system/istiod-0=1']);
  }, 30_000);
});
