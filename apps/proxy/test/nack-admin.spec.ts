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
  let v = '';

  beforeAll(async () => {
    cp = new ControlPlane();
    await cp.start();
    a = await upstream('a');
    good = edsCluster('a', [a.port], { outlierDetection: { consecutive5xx: 3 } });
    proxy = await startProxy(cp);
    // not ready before any config
    expect((await get(proxy.statusPort, '/healthz/ready')).status).toBe(503);
    v = cp.push({ listeners: [httpListener('http', '80')], routes: [routes('80', [route({ cluster: 'a' })])], clusters: [good.c], endpoints: [good.e] });
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
    // Envoy's ConfigDump: typed dumps in Envoy's order; endpoints only with ?include_eds
    const dump = JSON.parse((await get(proxy.adminPort, '/config_dump')).body);
    const types = (d: { configs: { '@type': string }[] }) => d.configs.map((c) => c['@type'].replace('type.googleapis.com/envoy.admin.v3.', ''));
    expect(types(dump)).toEqual(['BootstrapConfigDump', 'ClustersConfigDump', 'ListenersConfigDump', 'RoutesConfigDump', 'SecretsConfigDump']);
    const cds = dump.configs[1];
    expect(cds.dynamic_active_clusters[0].cluster['@type']).toBe('type.googleapis.com/envoy.config.cluster.v3.Cluster');
    expect(cds.dynamic_active_clusters[0].cluster.name).toBe('a');
    expect(cds.dynamic_active_clusters[0].version_info).toBe(v);
    // proto3 canonical JSON, as Envoy prints it: a Duration is "1s", not {seconds: "1"}
    expect(cds.dynamic_active_clusters[0].cluster.connect_timeout).toMatch(/^\d+(\.\d+)?s$/);
    expect(dump.configs[0].bootstrap.node.id).toBe(proxy.boot.nodeId);
    expect(dump.configs[0].bootstrap.admin.address.socket_address.port_value).toBe(proxy.adminPort);
    const listener = dump.configs[2].dynamic_listeners[0];
    expect(listener.name).toBe('http');
    // nested Anys expanded with their @type, as Envoy prints them
    expect(JSON.stringify(listener.active_state.listener)).toContain('"@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"');
    expect(dump.configs[3].dynamic_route_configs[0].route_config.name).toBe('80');
    const withEds = JSON.parse((await get(proxy.adminPort, '/config_dump?include_eds')).body);
    expect(types(withEds)).toContain('EndpointsConfigDump');
    const eds = withEds.configs.find((c: { '@type': string }) => c['@type'].endsWith('EndpointsConfigDump'));
    expect(eds.dynamic_endpoint_configs[0].endpoint_config.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value).toBe(a.port);
    const only = JSON.parse((await get(proxy.adminPort, '/config_dump?resource=dynamic_active_clusters')).body);
    expect(only.configs.map((c: { cluster: { name: string } }) => c.cluster.name)).toEqual(['a']);
    const clusters = (await get(proxy.adminPort, '/clusters')).body;
    expect(clusters).toContain(`a::127.0.0.1:${a.port}::health_flags::healthy`);
    const json = JSON.parse((await get(proxy.adminPort, '/clusters?format=json')).body);
    expect(json.cluster_statuses[0].host_statuses[0].outlier.ejection_count).toBe(0);
    expect((await get(proxy.adminPort, '/stats')).body).toMatch(/cluster\.a\.upstream_rq_2xx: [1-9]/);
    expect((await get(proxy.adminPort, '/stats/prometheus')).body).toMatch(/envoy_cluster_upstream_rq_total\{envoy_cluster_name="a"\} [1-9]/);
    expect((await get(proxy.prometheusPort, '/stats/prometheus')).status).toBe(200);
    expect((await get(proxy.adminPort, '/logging?level=debug', 'POST')).body).toBe('active loggers:\n  tsmesh: debug\n');
    expect((await get(proxy.adminPort, '/logging?tsmesh=warning', 'POST')).body).toBe('active loggers:\n  tsmesh: warning\n');
    expect((await get(proxy.adminPort, '/logging')).body).toBe('active loggers:\n  tsmesh: warning\n');
    expect((await get(proxy.adminPort, '/logging?level=loud', 'POST')).status).toBe(400);
    expect((await get(proxy.adminPort, '/logging?router=debug', 'POST')).status).toBe(404);
    expect((await get(proxy.adminPort, '/logging?level=debug')).status).toBe(405);
    await get(proxy.adminPort, '/logging?level=off', 'POST');
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
    const cds = dump.configs.find((c: { '@type': string }) => c['@type'].endsWith('ClustersConfigDump'));
    expect(cds.version_info).not.toBe(bad);
    expect(cds.last_nack.failed_configuration.version_info).toBe(bad);
    expect(cds.last_nack.details).toContain('MAGLEV');

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
