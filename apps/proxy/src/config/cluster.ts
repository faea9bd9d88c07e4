/** Cluster (CDS) and ClusterLoadAssignment (EDS) → immutable specs the cluster manager applies. */
import { durationMs, ExtensionTypeUrl, unpack, type Cluster__Output, type ClusterLoadAssignment__Output } from '@tsmesh/xds';
import { reject } from './errors';
import { fields, rejectUnsupported } from './fields';
import { transportSocketFor, type TransportSocketFactory } from './transport';

/** Load balancing policies the proxy implements. */
export type LbKind = 'round_robin' | 'least_request' | 'random' | 'ring_hash' | 'original_dst';

/** Upstream HTTP protocol of a cluster. */
export type UpstreamProtocol = 'http1' | 'http2' | 'downstream';

/** Envoy circuit breaker thresholds (priority DEFAULT). */
export interface CircuitBreakerLimits {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
}

/** Envoy outlier detection (consecutive errors part). */
export interface OutlierConfig {
  consecutive5xx: number;
  enforcing5xx: number;
  consecutiveGatewayFailure: number;
  enforcingGatewayFailure: number;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionTimeMs: number;
  maxEjectionPercent: number;
}

/** One endpoint. */
export interface HostSpec {
  address: string;
  port: number;
  weight: number;
  /** HEALTHY / UNKNOWN → true; UNHEALTHY, DRAINING, TIMEOUT, DEGRADED → false. */
  healthy: boolean;
  health: string;
  metadata: Readonly<Record<string, string>>;
}

/** Endpoints by priority (index 0 is the highest). */
export interface EndpointSet {
  version: string;
  priorities: readonly (readonly HostSpec[])[];
}

/** A compiled cluster. */
export interface ClusterSpec {
  name: string;
  version: string;
  type: 'EDS' | 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'ORIGINAL_DST';
  edsServiceName: string;
  lb: LbKind;
  choiceCount: number;
  ringMinSize: number;
  ringMaxSize: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  maxRequestsPerConnection: number;
  protocol: UpstreamProtocol;
  limits: CircuitBreakerLimits;
  outlier: OutlierConfig | null;
  panicThresholdPercent: number;
  /** Static (or DNS-named) endpoints from `load_assignment`. */
  staticEndpoints: EndpointSet | null;
  dnsRefreshMs: number;
  /** `upstream_bind_config.source_address`. */
  sourceAddress: string | null;
  /** ORIGINAL_DST: `original_dst_lb_config.use_http_header`. */
  useHttpHeader: boolean;
  transport: TransportSocketFactory;
}

const CLUSTER_FIELDS = fields('name', 'type', 'cluster_discovery_type', 'eds_cluster_config', 'connect_timeout', 'lb_policy', 'load_assignment',
  'circuit_breakers', 'outlier_detection', 'typed_extension_protocol_options', 'http2_protocol_options', 'http_protocol_options',
  'common_http_protocol_options', 'ring_hash_lb_config', 'least_request_lb_config', 'lb_config', 'original_dst_lb_config', 'common_lb_config',
  'transport_socket', 'transport_socket_matches', 'metadata', 'alt_stat_name', 'dns_refresh_rate', 'dns_lookup_family', 'respect_dns_ttl',
  'cleanup_interval', 'upstream_bind_config', 'upstream_connection_options', 'max_requests_per_connection', 'protocol_selection',
  'per_connection_buffer_limit_bytes', 'track_cluster_stats', 'dns_failure_refresh_rate', 'use_tcp_for_dns_lookups');
const OUTLIER_FIELDS = fields('consecutive_5xx', 'interval', 'base_ejection_time', 'max_ejection_percent', 'enforcing_consecutive_5xx',
  'consecutive_gateway_failure', 'enforcing_consecutive_gateway_failure', 'max_ejection_time', 'enforcing_success_rate',
  'success_rate_minimum_hosts', 'success_rate_request_volume', 'success_rate_stdev_factor', 'split_external_local_origin_errors',
  'consecutive_local_origin_failure', 'enforcing_consecutive_local_origin_failure', 'enforcing_local_origin_success_rate',
  'enforcing_failure_percentage', 'enforcing_failure_percentage_local_origin', 'max_ejection_time_jitter', 'failure_percentage_threshold',
  'failure_percentage_minimum_hosts', 'failure_percentage_request_volume', 'successful_active_health_check_uneject_host', 'always_eject_one_host');

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const u32 = (w: { value?: number } | null | undefined, def: number): number => (w && w.value !== undefined && w.value !== null ? w.value : def);

function compileProtocol(c: Dec, field: string): UpstreamProtocol {
  let protocol: UpstreamProtocol = c.http2_protocol_options ? 'http2' : 'http1';
  if (c.protocol_selection === 'USE_DOWNSTREAM_PROTOCOL') protocol = 'downstream';
  for (const [key, any] of Object.entries<Dec>(c.typed_extension_protocol_options ?? {})) {
    const f = `${field}typed_extension_protocol_options["${key}"]`;
    if (any.type_url !== ExtensionTypeUrl.HttpProtocolOptions) reject(f, `type ${any.type_url} is not supported`);
    const o = unpack<Dec>(any as never);
    rejectUnsupported('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', o, fields('explicit_http_config', 'use_downstream_protocol_config', 'common_http_protocol_options', 'upstream_protocol_options'), f);
    if (o.upstream_protocol_options === 'explicit_http_config') {
      protocol = o.explicit_http_config.protocol_config === 'http2_protocol_options' ? 'http2' : 'http1';
      if (o.explicit_http_config.protocol_config === 'http3_protocol_options') reject(`${f}.explicit_http_config.http3_protocol_options`, 'HTTP/3 is not supported');
    } else if (o.upstream_protocol_options === 'use_downstream_protocol_config') {
      protocol = 'downstream';
    } else if (o.upstream_protocol_options === 'auto_config') {
      reject(`${f}.auto_config`, 'ALPN protocol selection is not supported');
    }
  }
  return protocol;
}

/**
 * The connection options (`idle_timeout`, `max_requests_per_connection`): those of the cluster's
 * `HttpProtocolOptions` (`typed_extension_protocol_options`, where Istio sets them), else the
 * deprecated `Cluster.common_http_protocol_options`.
 */
function commonHttpOptions(c: Dec): Dec | null {
  for (const any of Object.values<Dec>(c.typed_extension_protocol_options ?? {})) {
    if (any.type_url !== ExtensionTypeUrl.HttpProtocolOptions) continue;
    const o = unpack<Dec>(any as never);
    if (o.common_http_protocol_options) return o.common_http_protocol_options;
  }
  return c.common_http_protocol_options ?? null;
}

function compileOutlier(o: Dec, field: string): OutlierConfig {
  rejectUnsupported('envoy.config.cluster.v3.OutlierDetection', o, OUTLIER_FIELDS, field);
  if (u32(o.enforcing_success_rate, 0) > 0 && o.enforcing_success_rate) reject(`${field}.enforcing_success_rate`, 'success-rate ejection is not supported; set it to 0');
  if (u32(o.enforcing_failure_percentage, 0) > 0) reject(`${field}.enforcing_failure_percentage`, 'failure-percentage ejection is not supported');
  if (o.split_external_local_origin_errors) reject(`${field}.split_external_local_origin_errors`, 'is not supported');
  const base = o.base_ejection_time ? durationMs(o.base_ejection_time) : 30_000;
  return {
    consecutive5xx: u32(o.consecutive_5xx, 5),
    enforcing5xx: u32(o.enforcing_consecutive_5xx, 100),
    consecutiveGatewayFailure: u32(o.consecutive_gateway_failure, 5),
    enforcingGatewayFailure: u32(o.enforcing_consecutive_gateway_failure, 0),
    intervalMs: o.interval ? durationMs(o.interval) : 10_000,
    baseEjectionMs: base,
    maxEjectionTimeMs: o.max_ejection_time ? durationMs(o.max_ejection_time) : Math.max(300_000, base),
    maxEjectionPercent: u32(o.max_ejection_percent, 10),
  };
}

/** Highest endpoint priority accepted (Istio's locality failover uses a handful). */
const MAX_PRIORITY = 128;

/** Decoded `LocalityLbEndpoints` list → endpoints by priority. */
export function compileEndpoints(localities: Dec[], version: string, field: string): EndpointSet {
  const byPrio: HostSpec[][] = [];
  localities.forEach((l, li) => {
    const p = l.priority ?? 0;
    // priorities index a dense list: an absurd one would allocate billions of slots
    if (!Number.isInteger(p) || p < 0 || p > MAX_PRIORITY) reject(`${field}[${li}].priority`, `${p} is out of range (0-${MAX_PRIORITY})`);
    (byPrio[p] ??= []);
    (l.lb_endpoints as Dec[]).forEach((e, ei) => {
      const f = `${field}[${li}].lb_endpoints[${ei}]`;
      if (e.host_identifier !== 'endpoint') reject(f, `host_identifier "${e.host_identifier}" is not supported`);
      const sa = e.endpoint?.address?.socket_address;
      if (!sa) reject(`${f}.endpoint.address`, 'only socket addresses are supported');
      if (sa.port_specifier && sa.port_specifier !== 'port_value') reject(`${f}.endpoint.address.socket_address.named_port`, 'is not supported');
      if (sa.protocol && sa.protocol !== 'TCP') reject(`${f}.endpoint.address.socket_address.protocol`, `${sa.protocol} is not supported`);
      const health = e.health_status ?? 'UNKNOWN';
      const md: Record<string, string> = {};
      for (const src of ['envoy.transport_socket_match', 'istio']) {
        for (const [k, v] of Object.entries<Dec>(e.metadata?.filter_metadata?.[src]?.fields ?? {})) md[k] = String(v.stringValue ?? v.string_value ?? '');
      }
      byPrio[p].push({
        address: sa.address,
        port: sa.port_value,
        weight: u32(e.load_balancing_weight, 1) || 1,
        healthy: health === 'HEALTHY' || health === 'UNKNOWN',
        health,
        metadata: md,
      });
    });
  });
  return { version, priorities: byPrio.map((p) => p ?? []) };
}

/** Compiles a ClusterLoadAssignment. */
export function compileLoadAssignment(cla: ClusterLoadAssignment__Output, version: string): EndpointSet {
  const c = cla as unknown as Dec;
  rejectUnsupported('envoy.config.endpoint.v3.ClusterLoadAssignment', c, fields('cluster_name', 'endpoints', 'policy', 'named_endpoints'), '');
  if (c.policy?.drop_overloads?.length) reject('policy.drop_overloads', 'is not supported');
  if (Object.keys(c.named_endpoints ?? {}).length) reject('named_endpoints', 'is not supported');
  return compileEndpoints(c.endpoints ?? [], version, 'endpoints');
}

/** Compiles a Cluster; throws ConfigError naming the field it cannot apply. */
export function compileCluster(cl: Cluster__Output, version: string): ClusterSpec {
  const c = cl as unknown as Dec;
  rejectUnsupported('envoy.config.cluster.v3.Cluster', c, CLUSTER_FIELDS, '');
  if (c.cluster_discovery_type !== 'type') reject('cluster_type', 'custom cluster types are not supported');
  const type = c.type as ClusterSpec['type'];
  if (!['EDS', 'STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'ORIGINAL_DST'].includes(type)) reject('type', `${type} is not supported`);
  let lb: LbKind;
  switch (c.lb_policy) {
    case 'ROUND_ROBIN': lb = 'round_robin'; break;
    case 'LEAST_REQUEST': lb = 'least_request'; break;
    case 'RANDOM': lb = 'random'; break;
    case 'RING_HASH': lb = 'ring_hash'; break;
    case 'CLUSTER_PROVIDED':
      if (type !== 'ORIGINAL_DST') reject('lb_policy', 'CLUSTER_PROVIDED needs type ORIGINAL_DST');
      lb = 'original_dst';
      break;
    default: return reject('lb_policy', `${c.lb_policy} is not supported`);
  }
  if (type === 'ORIGINAL_DST') lb = 'original_dst';
  if (c.lb_config === 'ring_hash_lb_config') {
    const r = c.ring_hash_lb_config;
    if (r.hash_function && r.hash_function !== 'XX_HASH' && r.hash_function !== 'MURMUR_HASH_2') reject('ring_hash_lb_config.hash_function', 'is not supported');
  }
  if (c.common_lb_config) {
    rejectUnsupported('envoy.config.cluster.v3.Cluster.CommonLbConfig', c.common_lb_config, fields('healthy_panic_threshold', 'locality_weighted_lb_config', 'update_merge_window', 'ignore_new_hosts_until_first_hc', 'close_connections_on_host_set_change', 'consistent_hashing_lb_config', 'locality_config_specifier'), 'common_lb_config');
  }
  const limits: CircuitBreakerLimits = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 };
  for (const [i, t] of (c.circuit_breakers?.thresholds as Dec[] ?? []).entries()) {
    if (t.priority !== 'DEFAULT') continue;
    if (t.retry_budget) reject(`circuit_breakers.thresholds[${i}].retry_budget`, 'is not supported');
    limits.maxConnections = u32(t.max_connections, 1024);
    limits.maxPendingRequests = u32(t.max_pending_requests, 1024);
    limits.maxRequests = u32(t.max_requests, 1024);
    limits.maxRetries = u32(t.max_retries, 3);
  }
  const common = commonHttpOptions(c);
  let staticEndpoints: EndpointSet | null = null;
  if (c.load_assignment) {
    if (type === 'EDS') reject('load_assignment', 'is not used by EDS clusters');
    staticEndpoints = compileEndpoints(c.load_assignment.endpoints ?? [], version, 'load_assignment.endpoints');
  } else if (type === 'STATIC') {
    staticEndpoints = { version, priorities: [] }; // no endpoints (Istio's BlackHoleCluster)
  } else if (type === 'STRICT_DNS' || type === 'LOGICAL_DNS') {
    reject('load_assignment', `is required for ${type} clusters`);
  }
  const transport = transportSocketFor(c.transport_socket, c.transport_socket_matches, 'transport_socket');
  return {
    name: c.name,
    version,
    type,
    edsServiceName: c.eds_cluster_config?.service_name || c.name,
    lb,
    choiceCount: c.lb_config === 'least_request_lb_config' ? u32(c.least_request_lb_config.choice_count, 2) : 2,
    ringMinSize: c.lb_config === 'ring_hash_lb_config' ? Number(c.ring_hash_lb_config.minimum_ring_size?.value ?? 1024) : 1024,
    ringMaxSize: c.lb_config === 'ring_hash_lb_config' ? Number(c.ring_hash_lb_config.maximum_ring_size?.value ?? 8 * 1024 * 1024) : 8 * 1024 * 1024,
    connectTimeoutMs: c.connect_timeout ? durationMs(c.connect_timeout) : 5000,
    idleTimeoutMs: common?.idle_timeout ? durationMs(common.idle_timeout) : 3_600_000,
    maxRequestsPerConnection: u32(common?.max_requests_per_connection ?? c.max_requests_per_connection, 0),
    protocol: compileProtocol(c, ''),
    limits,
    outlier: c.outlier_detection ? compileOutlier(c.outlier_detection, 'outlier_detection') : null,
    panicThresholdPercent: c.common_lb_config?.healthy_panic_threshold ? c.common_lb_config.healthy_panic_threshold.value : 50,
    staticEndpoints,
    dnsRefreshMs: c.dns_refresh_rate ? durationMs(c.dns_refresh_rate) : 5000,
    sourceAddress: c.upstream_bind_config?.source_address?.address || null,
    useHttpHeader: !!c.original_dst_lb_config?.use_http_header,
    transport,
  };
}
