/**
 * `tsmesh proxy-config` over the proxy admin's shapes: Envoy's ConfigDump (typed `@type` dumps),
 * `/clusters?format=json` and `/logging`; the secret table over a real certificate (openssl).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtensionTypeUrl, TypeUrl, encodeMessage, toProto3Json } from '@tsmesh/xds';
import { filterEndpointStatuses, filterResources, listenerTable, loggingQuery, resourcesOfDump, secretTable, endpointStatusTable, type EnvoyConfigDump } from '../src/commands/proxy-config';
import { loggersOf, proxyConfigFromAdmin } from '../src/commands/proxy-config-command';
import { parsePodRef } from '../src/commands/pod-access';

const T = 'type.googleapis.com/envoy.admin.v3.';
const rows = (text: string) => text.trimEnd().split('\n').map((l) => l.split(/\s{2,}/));

function cert(days: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cli-cert-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-subj', '/O=tsmesh', '-days', String(days), '-set_serial', '0x1a2b3c'], { stdio: 'ignore' });
  return readFileSync(join(dir, 'c.pem'), 'utf8');
}

const leaf = cert(1);
const dump: EnvoyConfigDump = {
  configs: [
    { '@type': `${T}BootstrapConfigDump`, bootstrap: { node: { id: 'sidecar~10.0.0.5~caller-1.default~default.svc.cluster.local' } } },
    { '@type': `${T}ClustersConfigDump`, version_info: '3', dynamic_active_clusters: [
      { version_info: '3', cluster: { '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'outbound|8091|v1|callme-service.default.svc.cluster.local', type: 'EDS' } },
      { version_info: '3', cluster: { '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'outbound|8091|v2|callme-service.default.svc.cluster.local', type: 'EDS' } },
      { version_info: '3', cluster: { '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'inbound|8090||', type: 'STATIC' } },
    ] },
    { '@type': `${T}ListenersConfigDump`, dynamic_listeners: [
      { name: 'virtualInbound', active_state: { listener: { name: 'virtualInbound', address: { socket_address: { address: '0.0.0.0', port_value: 15006 } }, default_filter_chain: { filters: [{ typed_config: { cluster: 'InboundPassthroughClusterIpv4' } }] } } } },
      { name: '0.0.0.0_8091', active_state: { listener: { name: '0.0.0.0_8091', address: { socket_address: { address: '0.0.0.0', port_value: 8091 } }, filter_chains: [{ filters: [{ typed_config: { rds: { route_config_name: '8091' } } }] }] } } },
      { name: 'warming', error_state: { details: 'bad' } },
    ] },
    { '@type': `${T}RoutesConfigDump`, dynamic_route_configs: [{ route_config: { name: '8091', virtual_hosts: [{ name: 'callme-service.default.svc.cluster.local:8091', domains: ['callme-service'], routes: [{ match: { prefix: '/' } }] }] } }] },
    { '@type': `${T}SecretsConfigDump`, dynamic_active_secrets: [
      { name: 'default', secret: { name: 'default', tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(leaf).toString('base64') }, private_key: { inline_string: '[redacted]' } } } },
      { name: 'ROOTCA', secret: { name: 'ROOTCA', validation_context: { trusted_ca: { inline_bytes: Buffer.from(leaf).toString('base64') } } } },
    ] },
  ],
};
const clustersJson = {
  cluster_statuses: [
    { name: 'outbound|8091|v1|callme-service.default.svc.cluster.local', host_statuses: [
      { address: '10.0.0.7:8091', health_status: { eds_health_status: 'HEALTHY', failed_outlier_check: false } },
      { address: '10.0.0.8:8091', health_status: { eds_health_status: 'HEALTHY', failed_outlier_check: true } },
    ] },
    { name: 'inbound|8090||', host_statuses: [{ address: '127.0.0.1:8090', health_status: { eds_health_status: 'UNHEALTHY' } }] },
  ],
};

describe('proxy-config over the proxy admin', () => {
  it("reads a listener in Envoy's proto3 JSON (bare wrapper values) and in the message form ({value})", () => {
    const listener = {
      name: 'virtualInbound', address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
      filter_chains: [{
        filter_chain_match: { destination_port: { value: 8080 }, prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: { value: 8 } }] },
        filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { type_url: ExtensionTypeUrl.TcpProxy, value: encodeMessage(ExtensionTypeUrl.TcpProxy, { stat_prefix: 'x', cluster: 'inbound|8080||', idle_timeout: { seconds: 3600 } }) } }],
      }],
    };
    const canonical = toProto3Json(TypeUrl.Listener, encodeMessage(TypeUrl.Listener, listener));
    const chain = (canonical.filter_chains as Record<string, Record<string, unknown>>[])[0];
    expect(chain.filter_chain_match).toEqual({ destination_port: 8080, prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] });
    const expected = [['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'], ['0.0.0.0', '15006', 'Addr: *:8080; Addr: 10.0.0.0/8', 'Cluster: inbound|8080||']];
    expect(rows(listenerTable([canonical]))).toEqual(expected);
    const messageForm = { ...listener, filter_chains: [{ ...listener.filter_chains[0], filters: [{ typed_config: { cluster: 'inbound|8080||' } }] }] };
    expect(rows(listenerTable([messageForm]))).toEqual(expected);
  });

  it("picks each kind's resources out of Envoy's ConfigDump", () => {
    expect((resourcesOfDump(dump, 'cluster') as { name: string }[]).map((c) => c.name)).toHaveLength(3);
    expect((resourcesOfDump(dump, 'listeners') as { name: string }[]).map((l) => l.name)).toEqual(['virtualInbound', '0.0.0.0_8091']);
    expect((resourcesOfDump(dump, 'route') as { name: string }[])[0].name).toBe('8091');
    expect((resourcesOfDump(dump, 'bootstrap') as { bootstrap: { node: { id: string } } }).bootstrap.node.id).toMatch(/^sidecar~/);
    expect(resourcesOfDump(dump, 'all')).toBe(dump);
    expect(() => resourcesOfDump(dump, 'pods')).toThrow(/unknown kind "pods"/);
  });

  it("filters as istioctl's --fqdn, --port, --subset, --direction, --address, --name", () => {
    const clusters = resourcesOfDump(dump, 'cluster') as Record<string, unknown>[];
    expect(filterResources('cluster', clusters, { fqdn: 'callme-service', subset: 'v2' }).map((c) => c.name)).toEqual(['outbound|8091|v2|callme-service.default.svc.cluster.local']);
    expect(filterResources('cluster', clusters, { direction: 'inbound' }).map((c) => c.name)).toEqual(['inbound|8090||']);
    expect(filterResources('listener', resourcesOfDump(dump, 'listener') as Record<string, unknown>[], { port: '15006' }).map((l) => l.name)).toEqual(['virtualInbound']);
    expect(filterResources('route', resourcesOfDump(dump, 'route') as Record<string, unknown>[], { name: 'nope' })).toEqual([]);
  });

  it('endpoint table from /clusters?format=json: health and outlier state as the proxy sees them, with filters', () => {
    const t = rows(endpointStatusTable(clustersJson));
    expect(t).toEqual([
      ['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'],
      ['127.0.0.1:8090', 'UNHEALTHY', 'OK', 'inbound|8090||'],
      ['10.0.0.7:8091', 'HEALTHY', 'OK', 'outbound|8091|v1|callme-service.default.svc.cluster.local'],
      ['10.0.0.8:8091', 'HEALTHY', 'FAILED', 'outbound|8091|v1|callme-service.default.svc.cluster.local'],
    ]);
    expect(rows(endpointStatusTable(filterEndpointStatuses(clustersJson, { status: 'unhealthy' }))).slice(1).map((r) => r[0])).toEqual(['127.0.0.1:8090']);
    expect(rows(endpointStatusTable(filterEndpointStatuses(clustersJson, { address: '10.0.0.8' }))).slice(1).map((r) => r[0])).toEqual(['10.0.0.8:8091']);
  });

  it('secret table: type, validity, serial and dates read from the certificate; an expired one is not valid', () => {
    const t = rows(secretTable(resourcesOfDump(dump, 'secret') as Record<string, unknown>[]));
    expect(t[0]).toEqual(['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE']);
    expect(t[1].slice(0, 5)).toEqual(['default', 'Cert Chain', 'ACTIVE', 'true', '1a2b3c']);
    expect(Date.parse(t[1][5]) - Date.parse(t[1][6])).toBe(86_400_000);
    expect(t[2].slice(0, 4)).toEqual(['ROOTCA', 'CA', 'ACTIVE', 'true']);
    const later = rows(secretTable(resourcesOfDump(dump, 'secret') as Record<string, unknown>[], new Date(Date.now() + 3 * 86_400_000)));
    expect(later[1][3]).toBe('false');
  });

  it("log levels: istioctl's --level forms become Envoy's /logging query; bad levels are refused", () => {
    expect(loggingQuery('debug')).toBe('level=debug');
    expect(loggingQuery('tsmesh:warning,level:info')).toBe('tsmesh=warning&level=info');
    expect(() => loggingQuery('loud')).toThrow('--level: "loud" is not a level');
    expect(loggersOf('active loggers:\n  tsmesh: info\n  http: debug\n')).toEqual({ tsmesh: 'info', http: 'debug' });
    expect(parsePodRef('caller-1.default')).toEqual({ name: 'caller-1', namespace: 'default' });
    expect(parsePodRef('default/caller-1')).toEqual({ name: 'caller-1', namespace: 'default' });
    expect(parsePodRef('caller-1', 'prod')).toEqual({ name: 'caller-1', namespace: 'prod' });
  });

  describe('against an admin server (--admin)', () => {
    let server: Server;
    let base = '';
    const posted: string[] = [];
    beforeAll(async () => {
      let level = 'info';
      server = createServer((req, res) => {
        const url = new URL(req.url!, 'http://x');
        if (url.pathname === '/config_dump') return res.end(JSON.stringify(dump));
        if (url.pathname === '/clusters') return res.end(JSON.stringify(clustersJson));
        if (url.pathname === '/logging') {
          if (req.method === 'POST') {
            posted.push(url.search);
            level = url.searchParams.get('level') ?? level;
          }
          return res.end(`active loggers:\n  tsmesh: ${level}\n`);
        }
        res.statusCode = 404;
        res.end('no');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    });
    afterAll(() => server.close());

    it('reads, renders and sets log levels over HTTP', async () => {
      const o = { output: 'short', source: 'proxy' };
      expect(rows(await proxyConfigFromAdmin(base, 'cluster', o))[0][0]).toBe('SERVICE FQDN');
      expect(JSON.parse(await proxyConfigFromAdmin(base, 'bootstrap', o))['@type']).toBe(`${T}BootstrapConfigDump`);
      expect(await proxyConfigFromAdmin(base, 'all', o)).toMatch(/SERVICE FQDN[\s\S]*ADDRESSES[\s\S]*VHOST NAME[\s\S]*RESOURCE NAME/);
      expect(await proxyConfigFromAdmin(base, 'log', { ...o, level: 'debug' })).toBe('active loggers:\n  tsmesh: debug\n');
      expect(JSON.parse(await proxyConfigFromAdmin(base, 'log', { ...o, output: 'json', reset: true }))).toEqual({ tsmesh: 'warning' });
      expect(posted).toEqual(['?level=debug', '?level=warning']);
    });
  });
});
