/** Builders for `envoy.config.cluster.v3.Cluster`. */
import type { Cluster, UpstreamTlsContext } from '../types';
import { ExtensionTypeUrl } from '../type-urls';
import { pack } from '../proto/codec';
import { adsConfigSource, duration } from './common';

/** Envoy's `Cluster.LbPolicy` values tsmesh uses. */
export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV' | 'CLUSTER_PROVIDED';

/** Options for {@link cluster}. */
export interface ClusterOptions {
  name: string;
  /** Discovery type: EDS (endpoints over ADS), STATIC, STRICT_DNS, ORIGINAL_DST (passthrough). */
  type?: 'EDS' | 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'ORIGINAL_DST';
  /** `eds_cluster_config.service_name`; defaults to the cluster name. */
  edsServiceName?: string;
  lbPolicy?: LbPolicy;
  connectTimeoutMs?: number;
  /** Speak HTTP/2 to the upstream (gRPC, h2c). */
  http2?: boolean;
  /** Upstream TLS (`transport_socket` envoy.transport_sockets.tls). */
  tls?: UpstreamTlsContext;
  circuitBreakers?: { maxConnections?: number; maxPendingRequests?: number; maxRequests?: number; maxRetries?: number };
  outlierDetection?: { consecutive5xx?: number; intervalMs?: number; baseEjectionTimeMs?: number; maxEjectionPercent?: number };
  /** Static endpoints (`load_assignment`) for STATIC / STRICT_DNS clusters. */
  staticEndpoints?: { address: string; port: number }[];
}

/** A `Cluster`. */
export function cluster(o: ClusterOptions): Cluster {
  const type = o.type ?? 'EDS';
  const c: Cluster = {
    name: o.name,
    type,
    connect_timeout: duration(o.connectTimeoutMs ?? 10_000),
    lb_policy: type === 'ORIGINAL_DST' ? 'CLUSTER_PROVIDED' : (o.lbPolicy ?? 'ROUND_ROBIN'),
  };
  if (type === 'EDS') c.eds_cluster_config = { eds_config: adsConfigSource(), service_name: o.edsServiceName ?? o.name };
  if (o.staticEndpoints) {
    c.load_assignment = {
      cluster_name: o.name,
      endpoints: [{ lb_endpoints: o.staticEndpoints.map((e) => ({ endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } } })) }],
    };
  }
  if (o.http2) {
    c.typed_extension_protocol_options = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': pack(ExtensionTypeUrl.HttpProtocolOptions, {
        explicit_http_config: { http2_protocol_options: {} },
      }),
    };
  }
  if (o.tls) c.transport_socket = { name: 'envoy.transport_sockets.tls', typed_config: pack(ExtensionTypeUrl.UpstreamTlsContext, o.tls) };
  if (o.circuitBreakers) {
    const cb = o.circuitBreakers;
    c.circuit_breakers = {
      thresholds: [{
        priority: 'DEFAULT',
        ...(cb.maxConnections !== undefined ? { max_connections: { value: cb.maxConnections } } : {}),
        ...(cb.maxPendingRequests !== undefined ? { max_pending_requests: { value: cb.maxPendingRequests } } : {}),
        ...(cb.maxRequests !== undefined ? { max_requests: { value: cb.maxRequests } } : {}),
        ...(cb.maxRetries !== undefined ? { max_retries: { value: cb.maxRetries } } : {}),
      }],
    };
  }
  if (o.outlierDetection) {
    const od = o.outlierDetection;
    c.outlier_detection = {
      ...(od.consecutive5xx !== undefined ? { consecutive_5xx: { value: od.consecutive5xx } } : {}),
      ...(od.intervalMs !== undefined ? { interval: duration(od.intervalMs) } : {}),
      ...(od.baseEjectionTimeMs !== undefined ? { base_ejection_time: duration(od.baseEjectionTimeMs) } : {}),
      ...(od.maxEjectionPercent !== undefined ? { max_ejection_percent: { value: od.maxEjectionPercent } } : {}),
    };
  }
  return c;
}
