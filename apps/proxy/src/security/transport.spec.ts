import { describe, expect, it } from 'vitest';
import { cluster, clusterLoadAssignment, ExtensionTypeUrl, pack, sdsCommonTlsContext, TypeUrl, unpack, upstreamTlsContext, type Cluster__Output, type ClusterLoadAssignment__Output } from '@tsmesh/xds';
import { compileCluster, compileLoadAssignment } from '../config/cluster';
import { SecretStore } from './secrets';
import { secretsOf, UpstreamTlsFactory, withSecretStore } from './transport';

const tls = (sans: string[]) => ({ name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.UpstreamTlsContext, upstreamTlsContext(sdsCommonTlsContext({ certSecret: 'default', validationSecret: 'ROOTCA', alpn: ['istio-peer-exchange', 'istio'], spiffeIds: sans }), 'outbound_.80_._.a.ns.svc.cluster.local')) });

describe('cluster transport sockets', () => {
  it('auto mTLS with mixed endpoints: tlsMode=istio endpoints get TLS, the others plaintext (transport_socket_matches)', () => {
    const c = { ...cluster({ name: 'outbound|80||a.ns.svc.cluster.local' }), transport_socket_matches: [{ name: 'tlsMode-istio', match: { fields: { tlsMode: { stringValue: 'istio' } } }, transport_socket: tls(['spiffe://cluster.local/ns/ns/sa/a']) }] };
    const spec = withSecretStore(new SecretStore(), () => compileCluster(unpack<Cluster__Output>(pack(TypeUrl.Cluster, c)), 'v1'));
    const cla = clusterLoadAssignment(c.name!, [{ address: '10.0.0.1', port: 80 }, { address: '10.0.0.2', port: 80 }]);
    cla.endpoints![0].lb_endpoints![0].metadata = { filter_metadata: { 'envoy.transport_socket_match': { fields: { tlsMode: { stringValue: 'istio' } } } } } as never;
    const eps = compileLoadAssignment(unpack<ClusterLoadAssignment__Output>(pack(TypeUrl.ClusterLoadAssignment, cla)), 'v1');
    const [withSidecar, without] = eps.priorities[0];
    expect(withSidecar.metadata).toEqual({ tlsMode: 'istio' });
    expect(spec.transport.forHost!(withSidecar.metadata)).toBeInstanceOf(UpstreamTlsFactory);
    expect(spec.transport.forHost!(without.metadata).kind).toBe('raw_buffer');
    expect(secretsOf(spec.transport).sort()).toEqual(['ROOTCA', 'default']);
  });

  it('a cluster TLS context names the SDS secrets it needs; a bad one is NACKed with its field', () => {
    const spec = withSecretStore(new SecretStore(), () => compileCluster(unpack<Cluster__Output>(pack(TypeUrl.Cluster, { ...cluster({ name: 'x' }), transport_socket: tls([]) })), 'v1'));
    expect(spec.transport).toBeInstanceOf(UpstreamTlsFactory);
    expect(secretsOf(spec.transport).sort()).toEqual(['ROOTCA', 'default']);
    const bad = { ...cluster({ name: 'y' }), transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.UpstreamTlsContext, { common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { path_config_source: { path: '/etc/x' } } }] } }) } };
    expect(() => withSecretStore(new SecretStore(), () => compileCluster(unpack<Cluster__Output>(pack(TypeUrl.Cluster, bad)), 'v1'))).toThrow(/sds_config: only ADS/);
  });
});
