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
});
