import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TypeUrl, encodeMessage } from '@tsmesh/xds';
import { SecretStore } from '../security/secrets';
import { configDump, envoyJson, REDACTED, secretsDump } from './config-dump';

function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-dump-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-subj', '/O=tsmesh', '-days', '1'], { stdio: 'ignore' });
  return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') };
}

describe('config dump (Envoy ConfigDump shape)', () => {
  it('lists SDS secrets with their certificates and never their private keys', () => {
    const { cert, key } = selfSigned();
    const store = new SecretStore();
    store.set('default', { kind: 'tls_certificate', chainPem: cert, keyPem: key });
    store.set('ROOTCA', { kind: 'validation_context', trustedCaPem: cert, sans: [] });
    const d = secretsDump(store) as { dynamic_active_secrets: { name: string; secret: Record<string, any> }[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(d.dynamic_active_secrets.map((s) => s.name)).toEqual(['ROOTCA', 'default']);
    const def = d.dynamic_active_secrets[1].secret;
    expect(Buffer.from(def.tls_certificate.certificate_chain.inline_bytes, 'base64').toString()).toBe(cert);
    expect(def.tls_certificate.private_key).toEqual({ inline_string: REDACTED });
    expect(JSON.stringify(d)).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(d)).not.toContain(Buffer.from(key).toString('base64').slice(0, 40));
    expect(d.dynamic_active_secrets[0].secret.validation_context.trusted_ca.inline_bytes).toBe(Buffer.from(cert).toString('base64'));
  });

  it('decodes kept bytes with defaults omitted, Anys expanded and Structs as plain JSON', () => {
    const bytes = encodeMessage(TypeUrl.Cluster, {
      name: 'outbound|80||a.default.svc.cluster.local',
      type: 'EDS',
      metadata: { filter_metadata: { istio: { fields: { config: { stringValue: '/apis/networking.istio.io/v1/namespaces/default/destination-rule/a' } } } } },
      transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', value: encodeMessage('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', { sni: 'a' }) } },
    });
    const c = envoyJson(TypeUrl.Cluster, bytes) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(c.name).toBe('outbound|80||a.default.svc.cluster.local');
    expect(c.metadata.filter_metadata.istio.config).toBe('/apis/networking.istio.io/v1/namespaces/default/destination-rule/a');
    expect(c.transport_socket.typed_config).toEqual({ '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', sni: 'a' });
    expect(c.lb_policy).toBeUndefined();

    const kept = new Map([['outbound|80||a.default.svc.cluster.local', { bytes }]]);
    const dump = configDump({
      bootstrap: { node: { id: 'sidecar~10.0.0.1~a.default~default.svc.cluster.local' } },
      startedAt: new Date(0),
      types: new Map([[TypeUrl.Cluster, { version: '7', resources: [], kept, updatedAt: new Date(1000), lastNack: { version: '8', message: 'Cluster resource "x": lb_policy: MAGLEV is not supported', at: 'now' } }]]),
      secrets: null,
    });
    const clusters = dump.configs[1] as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(clusters['@type']).toBe('type.googleapis.com/envoy.admin.v3.ClustersConfigDump');
    expect(clusters.dynamic_active_clusters[0]).toMatchObject({ version_info: '7', last_updated: new Date(1000).toISOString(), cluster: { '@type': TypeUrl.Cluster, type: 'EDS' } });
    expect(clusters.last_nack.details).toContain('MAGLEV');
    expect(dump.configs.map((x) => String(x['@type']).split('.').pop())).toEqual(['BootstrapConfigDump', 'ClustersConfigDump', 'ListenersConfigDump', 'RoutesConfigDump', 'SecretsConfigDump']);
  });

  it("prints a cluster as Envoy's /config_dump does: durations as \"10s\", wrappers bare, enums by name, Any with @type", () => {
    const bytes = encodeMessage(TypeUrl.Cluster, {
      name: 'outbound|9080||reviews.default.svc.cluster.local',
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, initial_fetch_timeout: { seconds: 0 }, resource_api_version: 'V3' }, service_name: 'outbound|9080||reviews.default.svc.cluster.local' },
      connect_timeout: { seconds: 10 },
      lb_policy: 'LEAST_REQUEST',
      circuit_breakers: { thresholds: [{ max_connections: { value: 4294967295 }, max_pending_requests: { value: 4294967295 }, max_requests: { value: 4294967295 }, max_retries: { value: 4294967295 }, track_remaining: true }] },
      common_lb_config: { locality_weighted_lb_config: {} },
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          type_url: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          value: encodeMessage('type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', { common_http_protocol_options: { idle_timeout: { seconds: 3600 }, max_requests_per_connection: { value: 1 } }, use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } }),
        },
      },
    });
    const dump = configDump({ bootstrap: {}, startedAt: new Date(0), types: new Map([[TypeUrl.Cluster, { version: '1', resources: [], kept: new Map([['c', { bytes }]]) }]]), secrets: null });
    const cluster = (dump.configs[1].dynamic_active_clusters as { cluster: unknown }[])[0].cluster;
    // the same cluster as a real Envoy prints it (istioctl proxy-config cluster -o json), field for field
    expect(JSON.parse(JSON.stringify(cluster))).toEqual({
      '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
      name: 'outbound|9080||reviews.default.svc.cluster.local',
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' }, service_name: 'outbound|9080||reviews.default.svc.cluster.local' },
      connect_timeout: '10s',
      lb_policy: 'LEAST_REQUEST',
      circuit_breakers: { thresholds: [{ max_connections: 4294967295, max_pending_requests: 4294967295, max_requests: 4294967295, max_retries: 4294967295, track_remaining: true }] },
      common_lb_config: { locality_weighted_lb_config: {} },
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          common_http_protocol_options: { idle_timeout: '3600s', max_requests_per_connection: 1 },
          use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
        },
      },
    });
  });
});
