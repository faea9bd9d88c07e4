/**
 * CDS: outbound clusters per service, port and DestinationRule subset with the rule's traffic
 * policy (load balancer, connection pool, outlier detection, TLS incl. ISTIO_MUTUAL and auto
 * mTLS), inbound clusters per workload port, and the passthrough / black-hole clusters.
 */
import {
  cluster, formatClusterName, sdsCommonTlsContext, upstreamTlsContext, pack, ExtensionTypeUrl,
  type Cluster, type ClusterOptions, type CommonTlsContext, type LbPolicy,
} from '@tsmesh/xds';
import { isIP } from 'node:net';
import { isHttp2Protocol, parseDurationMs, type ClientTLSSettings, type TrafficPolicy } from '@tsmesh/mesh-config';
import type { PushContext } from '../model/push-context';
import type { Proxy } from '../model/proxy';
import type { ServiceModel, ServicePortModel } from '../registry/registry';
import { BLACKHOLE_CLUSTER, ISTIO_ALPN, INBOUND_PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER, SDS_DEFAULT, SDS_ROOTCA, spiffeId } from './common';

/** The traffic policy that applies to one port of a subset: subset over top level, port-level over both. */
export function effectivePolicy(top: TrafficPolicy | undefined, subset: TrafficPolicy | undefined, port: number): TrafficPolicy {
  const merged: TrafficPolicy = {};
  for (const tp of [top, subset]) {
    if (!tp) continue;
    const pl = tp.portLevelSettings?.find((p) => p.port?.number === port);
    for (const k of ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'] as const) {
      const v = pl?.[k] ?? tp[k];
      if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
    }
  }
  return merged;
}

const LB: Record<string, LbPolicy> = { ROUND_ROBIN: 'ROUND_ROBIN', LEAST_CONN: 'LEAST_REQUEST', LEAST_REQUEST: 'LEAST_REQUEST', RANDOM: 'RANDOM', UNSPECIFIED: 'ROUND_ROBIN' };

/** Istio's value for a connection-pool limit the user did not set (2^32 - 1). */
const UNLIMITED = 4294967295;

/** Cluster options implementing a traffic policy (everything except TLS). */
export function policyOptions(tp: TrafficPolicy, proxyless = false): Partial<ClusterOptions> & { lbPolicy: LbPolicy } {
  const o: Partial<ClusterOptions> & { lbPolicy: LbPolicy } = { lbPolicy: 'ROUND_ROBIN' };
  const lb = tp.loadBalancer;
  if (lb?.simple) o.lbPolicy = LB[lb.simple] ?? 'ROUND_ROBIN';
  if (lb?.consistentHash) o.lbPolicy = lb.consistentHash.maglev ? 'MAGLEV' : 'RING_HASH';
  if (proxyless && o.lbPolicy !== 'RING_HASH') o.lbPolicy = 'ROUND_ROBIN';
  const cp = tp.connectionPool;
  if (cp?.tcp?.connectTimeout) o.connectTimeoutMs = parseDurationMs(cp.tcp.connectTimeout);
  if (!proxyless) {
    // Istio's defaults: no limit unless the DestinationRule sets one (Envoy's own defaults, such as
    // 3 concurrent retries per cluster, would fail requests a mesh user expects to be retried).
    o.circuitBreakers = {
      maxConnections: cp?.tcp?.maxConnections ?? UNLIMITED,
      maxPendingRequests: cp?.http?.http1MaxPendingRequests ?? UNLIMITED,
      maxRequests: cp?.http?.http2MaxRequests ?? UNLIMITED,
      maxRetries: cp?.http?.maxRetries ?? UNLIMITED,
    };
  }
  const od = tp.outlierDetection;
  if (od) {
    o.outlierDetection = {
      consecutive5xx: od.consecutive5xxErrors ?? od.consecutiveErrors,
      intervalMs: od.interval ? parseDurationMs(od.interval) : undefined,
      baseEjectionTimeMs: od.baseEjectionTime ? parseDurationMs(od.baseEjectionTime) : undefined,
      maxEjectionPercent: od.maxEjectionPercent,
    };
  }
  return o;
}

/** SNI Istio uses on mTLS to a service: `outbound_.<port>_.<subset>_.<host>`. */
export function istioSni(port: number, subset: string, host: string): string {
  return `outbound_.${port}_.${subset}_.${host}`;
}

/** Upstream TLS for ISTIO_MUTUAL: workload cert `default`, trust bundle `ROOTCA`, SANs of the service's accounts. */
export function istioMutualTls(sni: string, sans: string[]) {
  return upstreamTlsContext(sdsCommonTlsContext({ certSecret: SDS_DEFAULT, validationSecret: SDS_ROOTCA, alpn: ISTIO_ALPN, spiffeIds: sans }), sni);
}

/** Where Envoy (and the tsmesh proxy) find the system's trusted roots: Istio's default for TLS origination without caCertificates. */
export const SYSTEM_ROOTS = '/etc/ssl/certs/ca-certificates.crt';

/**
 * Upstream TLS of a DestinationRule's SIMPLE / MUTUAL `tls`, as Istio builds it: with
 * `credentialName` the certificate and CA come over SDS; otherwise the client certificate and key
 * are the given files (MUTUAL) and the server is verified against `caCertificates` or, when none
 * is given, the system roots — and its certificate must name `subjectAltNames`, or the SNI
 * (`sni`, else the host). Only `insecureSkipVerify` turns verification off.
 */
function clientTls(tls: ClientTLSSettings, host: string) {
  const sni = tls.sni ?? host;
  const sans = (tls.subjectAltNames?.length ? tls.subjectAltNames : [sni]).map((s) => ({ san_type: 'DNS' as const, matcher: { exact: s } }));
  if (tls.credentialName) {
    const common = sdsCommonTlsContext({ certSecret: `kubernetes://${tls.credentialName}`, validationSecret: `kubernetes://${tls.credentialName}-cacert`, spiffeIds: [] });
    if (tls.mode === 'SIMPLE') delete common.tls_certificate_sds_secret_configs;
    if (tls.insecureSkipVerify) delete common.combined_validation_context;
    else if (common.combined_validation_context) common.combined_validation_context.default_validation_context = { match_typed_subject_alt_names: sans };
    return upstreamTlsContext(common, sni);
  }
  const common: CommonTlsContext = {
    tls_params: { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' },
  };
  if (tls.mode === 'MUTUAL' && tls.clientCertificate && tls.privateKey) {
    common.tls_certificates = [{ certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } }];
  }
  if (!tls.insecureSkipVerify) {
    common.validation_context = { trusted_ca: { filename: tls.caCertificates || SYSTEM_ROOTS }, match_typed_subject_alt_names: sans };
  }
  return upstreamTlsContext(common, sni);
}

/** One outbound cluster for a service port and subset. */
export function outboundCluster(push: PushContext, proxy: Proxy, svc: ServiceModel, port: ServicePortModel, subset: string, proxyless = false): Cluster {
  const name = formatClusterName({ direction: 'outbound', port: port.port, subset, host: svc.hostname });
  const dr = push.destinationRule(svc.hostname, proxy.namespace);
  const sub = subset ? dr?.spec.subsets?.find((s) => s.name === subset) : undefined;
  const tp = effectivePolicy(dr?.spec.trafficPolicy, sub?.trafficPolicy, port.port);
  const o: ClusterOptions = { name, ...policyOptions(tp, proxyless), http2: isHttp2Protocol(port.protocol) && !proxyless };
  if (svc.resolution === 'PASSTHROUGH') {
    o.type = 'ORIGINAL_DST';
  } else if (svc.resolution === 'DNS') {
    const eps = push.registry.endpoints.get(svc.hostname)?.filter((e) => e.servicePort === port.port) ?? [];
    if (!proxyless) {
      o.type = 'STRICT_DNS';
      o.staticEndpoints = (eps.length ? eps : [{ address: svc.hostname, port: port.port }]).map((e) => ({ address: e.address, port: e.port }));
    } else if (!eps.length || !eps.every((e) => isIP(e.address) !== 0)) {
      // gRPC (core and grpc-js) knows EDS, LOGICAL_DNS and aggregate clusters, not STRICT_DNS; it
      // resolves one DNS name per LOGICAL_DNS cluster. Endpoints that are all IPs are served over EDS.
      o.type = 'LOGICAL_DNS';
      const first = eps[0] ?? { address: svc.hostname, port: port.port };
      o.staticEndpoints = [{ address: first.address, port: first.port }];
    }
  }
  const c = cluster(o);
  if (proxyless) return c;
  // TLS: an explicit DestinationRule setting wins; otherwise auto mTLS. The SANs are the service
  // accounts of the service's endpoints (as Istio's per-service accounts), so a new account among
  // them changes the cluster; endpoints coming and going under known accounts do not.
  const eps = (push.registry.endpoints.get(svc.hostname) ?? []).filter((e) => e.servicePort === port.port);
  const sans = [...new Set(eps.filter((e) => e.serviceAccount).map((e) => spiffeId(push.options.trustDomain, e.namespace, e.serviceAccount!)))].sort();
  const sni = istioSni(port.port, subset, svc.hostname);
  const mode = tp.tls?.mode;
  if (mode === 'ISTIO_MUTUAL') {
    setTls(c, istioMutualTls(sni, sans));
  } else if (mode === 'SIMPLE' || mode === 'MUTUAL') {
    setTls(c, clientTls(tp.tls!, svc.hostname));
  } else if (mode === undefined && !svc.external) {
    if (c.type === 'EDS') {
      // Auto mTLS on an EDS cluster, as Istio builds it: the cluster always carries both sockets
      // and each endpoint's EDS metadata (`tlsMode: istio` when it runs a sidecar) picks one, so
      // endpoints gaining or losing sidecars change the load assignment only, never the cluster.
      c.transport_socket_matches = autoMtlsMatches(istioMutualTls(sni, sans));
    } else if (eps.length > 0) {
      // DNS and ORIGINAL_DST clusters carry no endpoint metadata: mTLS when every endpoint runs a
      // sidecar, the per-endpoint choice over the inline endpoints when only some do.
      const withSidecar = eps.filter((e) => e.sidecar).length;
      if (withSidecar === eps.length) setTls(c, istioMutualTls(sni, sans));
      else if (withSidecar > 0) c.transport_socket_matches = autoMtlsMatches(istioMutualTls(sni, sans)).slice(0, 1);
    }
  }
  return c;
}

/** The endpoint metadata (`envoy.transport_socket_match` filter) that selects the mTLS socket: set on endpoints that run a sidecar. */
export const TLS_MODE_ISTIO_METADATA = { filter_metadata: { 'envoy.transport_socket_match': { fields: { tlsMode: { stringValue: 'istio' } } } } };

/**
 * Istio's auto mTLS sockets: `tlsMode-istio` (endpoints whose metadata says `tlsMode: istio`) get
 * ISTIO_MUTUAL, and `tlsMode-disabled` (an empty match: every other endpoint) plaintext.
 */
export function autoMtlsMatches(tls: ReturnType<typeof upstreamTlsContext>): NonNullable<Cluster['transport_socket_matches']> {
  return [
    {
      name: 'tlsMode-istio',
      match: { fields: { tlsMode: { stringValue: 'istio' } } } as never,
      transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.UpstreamTlsContext, tls) },
    },
    {
      name: 'tlsMode-disabled',
      match: {} as never,
      transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: pack(ExtensionTypeUrl.RawBuffer, {}) },
    },
  ];
}

function setTls(c: Cluster, tls: ReturnType<typeof upstreamTlsContext>): void {
  c.transport_socket = { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.UpstreamTlsContext, tls) };
}

/** Subset names of a service from its DestinationRule (as seen by the proxy). */
export function subsetsOf(push: PushContext, proxy: Proxy, svc: ServiceModel): string[] {
  return (push.destinationRule(svc.hostname, proxy.namespace)?.spec.subsets ?? []).map((s) => s.name);
}

/** Outbound clusters for every visible service, port and subset. */
export function outboundClusters(push: PushContext, proxy: Proxy, proxyless = false, services: readonly ServiceModel[] = push.servicesFor(proxy.namespace)): Cluster[] {
  const out: Cluster[] = [];
  for (const svc of services) {
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue;
      out.push(outboundCluster(push, proxy, svc, port, '', proxyless));
      for (const s of subsetsOf(push, proxy, svc)) out.push(outboundCluster(push, proxy, svc, port, s, proxyless));
    }
  }
  return out;
}

/**
 * `PassthroughCluster` (ORIGINAL_DST), `InboundPassthroughClusterIpv4` (ORIGINAL_DST bound to
 * 127.0.0.6: a connection to the pod's own IP from that source is not captured again) and
 * `BlackHoleCluster` (no endpoints).
 */
export function specialClusters(): Cluster[] {
  return [
    cluster({ name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', connectTimeoutMs: 10_000 }),
    { ...cluster({ name: INBOUND_PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', connectTimeoutMs: 10_000 }), upstream_bind_config: { source_address: { address: '127.0.0.6', port_value: 0 } } },
    cluster({ name: BLACKHOLE_CLUSTER, type: 'STATIC', connectTimeoutMs: 10_000 }),
  ];
}

/** `inbound|<port>||`: a STATIC cluster to the application on 127.0.0.1:<port>. */
export function inboundCluster(port: number, http2: boolean): Cluster {
  return cluster({ name: formatClusterName({ direction: 'inbound', port, subset: '', host: '' }), type: 'STATIC', staticEndpoints: [{ address: '127.0.0.1', port }], http2 });
}
