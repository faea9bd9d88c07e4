import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TypeUrl, cluster } from '@tsmesh/xds';
import { ControlPlane, startProxy, upstream, httpListener, routes, edsCluster, route, applied, request, until, type Upstream } from './harness';
import type { Proxy } from '../src/agent/proxy';

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method }, (res) => {
      let s = '';
      res.on('data', (d) => (s += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: s }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('NACK and admin', () => {
  let cp: ControlPlane;
  let proxy: Proxy;
  let a: Upstream;
  let port = 0;
  let good: ReturnType<typeof edsCluster>;

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    a = await upstream('a');
    good = edsCluster('a', [a.port], { outlierDetection: { consecutive5xx: 3 } });
    proxy = await startProxy(cp);
    // not ready before any config
    expect((await get(proxy.statusPort, '/healthz/ready')).status).toBe(503);
    const v = cp.push({ listeners: [httpListener('http', '80')], routes: [routes('80', [route({ cluster: 'a' })])], clusters: [good.c], endpoints: [good.e] });
    await applied(proxy, v);
    await proxy.whenReady();
    port = proxy.listeners.boundPort('http')!;
  });
  afterAll(async () => {
    proxy?.stop();
    await cp?.close();
    await a?.close();
  });

  it('is ready after the first config and serves admin endpoints', async () => {
    expect((await get(proxy.statusPort, '/healthz/ready')).status).toBe(200);
    expect((await get(proxy.adminPort, '/ready')).body).toBe('LIVE\n');
    expect((await request(port, '/')).status).toBe(200);
    const dump = JSON.parse((await get(proxy.adminPort, '/config_dump')).body);
    expect(dump.configs.map((c: { type: string }) => c.type).sort()).toEqual(['CDS', 'EDS', 'LDS', 'RDS']);
    expect(dump.configs.find((c: { type: string }) => c.type === 'CDS').resources[0].name).toBe('a');
    const clusters = (await get(proxy.adminPort, '/clusters')).body;
    expect(clusters).toContain(`a::127.0.0.1:${a.port}::health_flags::healthy`);
    const json = JSON.parse((await get(proxy.adminPort, '/clusters?format=json')).body);
    expect(json.cluster_statuses[0].host_statuses[0].outlier.ejection_count).toBe(0);
    expect((await get(proxy.adminPort, '/stats')).body).toMatch(/cluster\.a\.upstream_rq_2xx: [1-9]/);
    expect((await get(proxy.adminPort, '/stats/prometheus')).body).toMatch(/envoy_cluster_upstream_rq_total\{envoy_cluster_name="a"\} [1-9]/);
    expect((await get(proxy.prometheusPort, '/stats/prometheus')).status).toBe(200);
    expect((await get(proxy.adminPort, '/logging?level=debug', 'POST')).body).toContain('debug');
    await get(proxy.adminPort, '/logging?level=silent', 'POST');
  });

  it('NACKs a config it cannot apply, naming resource and field, and keeps serving the last good one', async () => {
    const bad = cp.push({
      listeners: [httpListener('http', '80')],
      routes: [routes('80', [route({ cluster: 'a' })])],
      clusters: [{ ...good.c, lb_policy: 'MAGLEV' }],
      endpoints: [good.e],
    });
    await until(() => cp.nacks.some((n) => n.version === bad), 5000, 'NACK');
    const n = cp.nacks.find((x) => x.version === bad)!;
    expect(n.typeUrl).toBe(TypeUrl.Cluster);
    expect(n.message).toBe('Cluster resource "a": lb_policy: MAGLEV is not supported');
    expect((await request(port, '/')).status).toBe(200);
    const dump = JSON.parse((await get(proxy.adminPort, '/config_dump')).body);
    const cds = dump.configs.find((c: { type: string }) => c.type === 'CDS');
    expect(cds.version_info).not.toBe(bad);
    expect(cds.last_nack.message).toContain('MAGLEV');

    const badRoute = cp.push({
      listeners: [httpListener('http', '80')],
      routes: [routes('80', [route({ cluster: 'a', extra: { hedge_policy: { hedge_on_per_try_timeout: true } } })])],
      clusters: [good.c, cluster({ name: 'b' })],
      endpoints: [good.e, { cluster_name: 'b', endpoints: [] }],
    });
    await until(() => cp.nacks.some((x) => x.version === badRoute && x.typeUrl === TypeUrl.RouteConfiguration), 5000, 'RDS NACK');
    expect(cp.nacks.find((x) => x.version === badRoute && x.typeUrl === TypeUrl.RouteConfiguration)!.message)
      .toBe('RouteConfiguration resource "80": virtual_hosts[0].routes[0].route.hedge_policy: not supported by the tsmesh proxy');
    expect((await request(port, '/')).status).toBe(200);

    const fixed = cp.push({ listeners: [httpListener('http', '80')], routes: [routes('80', [route({ cluster: 'a' })])], clusters: [good.c], endpoints: [good.e] });
    await applied(proxy, fixed);
    expect((await request(port, '/')).status).toBe(200);
  });
});
