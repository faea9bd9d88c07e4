/**
 * `/config_dump` in Envoy's shape (`envoy.admin.v3.ConfigDump`): a `configs` list of typed dumps —
 * `BootstrapConfigDump`, `ClustersConfigDump`, `ListenersConfigDump`, `ScopedRoutesConfigDump` is
 * not produced, `RoutesConfigDump`, `SecretsConfigDump`, and `EndpointsConfigDump` only with
 * `?include_eds` (as Envoy) — each resource in proto3 canonical JSON as Envoy prints it (.proto
 * field names, defaults omitted, Durations as `"10s"`, wrapper types as bare values, enums by
 * name, every `Any` as `{"@type": …}`, `google.protobuf.Struct` as plain JSON). Private keys are
 * never shown: `[redacted]`, as Envoy redacts them. Decoding uses the generated codecs, so
 * serving a dump never loads the reflection root.
 */
import { messageToProto3Json, toProto3Json, TypeUrl, TYPE_PREFIX, type ResourceTypeUrl } from '@tsmesh/xds';
import type { Bootstrap } from '../agent/bootstrap';
import type { TypeDump } from '../agent/xds-config';
import type { SecretStore } from '../security/secrets';

/** Envoy admin message type URLs of the dumps (`envoy.admin.v3.*ConfigDump`). */
export const DUMP_TYPES = {
  bootstrap: `${TYPE_PREFIX}envoy.admin.v3.BootstrapConfigDump`,
  clusters: `${TYPE_PREFIX}envoy.admin.v3.ClustersConfigDump`,
  listeners: `${TYPE_PREFIX}envoy.admin.v3.ListenersConfigDump`,
  routes: `${TYPE_PREFIX}envoy.admin.v3.RoutesConfigDump`,
  endpoints: `${TYPE_PREFIX}envoy.admin.v3.EndpointsConfigDump`,
  secrets: `${TYPE_PREFIX}envoy.admin.v3.SecretsConfigDump`,
} as const;

/** Envoy's redaction marker for secret material. */
export const REDACTED = '[redacted]';

type J = Record<string, unknown>;

/** Decodes one encoded message as Envoy prints it (proto3 canonical JSON, .proto field names, defaults omitted). */
export function envoyJson(typeUrl: string, bytes: Uint8Array): J {
  return toProto3Json(typeUrl, bytes);
}

/** One resource as kept by the proxy (its bytes, or the decoded message when none came). */
export interface DumpedResource {
  name: string;
  bytes?: Uint8Array;
  message?: unknown;
}

function resourceJson(typeUrl: ResourceTypeUrl, r: DumpedResource): J {
  const body = r.bytes ? envoyJson(typeUrl, r.bytes) : messageToProto3Json(typeUrl, (r.message ?? {}) as object);
  return { '@type': typeUrl, ...(body as object) };
}

/** A route table that carries `vhds`, shown with the virtual hosts VHDS brought it (as the table in force), by resource name. */
function withVhds(rc: J, vhds: (TypeDump & { kept?: ReadonlyMap<string, { bytes?: Uint8Array; message?: unknown }> }) | undefined): J {
  if (!rc.vhds || !vhds?.kept) return rc;
  const prefix = `${String(rc.name)}/`;
  const names = [...vhds.kept.keys()].filter((n) => n.startsWith(prefix) && !n.slice(prefix.length).includes('/')).sort();
  const hosts = names.map((n) => {
    const { '@type': _t, ...vh } = resourceJson(TypeUrl.VirtualHost, { name: n, ...vhds.kept!.get(n)! });
    return vh;
  });
  return { ...rc, virtual_hosts: hosts };
}

/** What a dump is built from. */
export interface DumpSource {
  /** The bootstrap the proxy started with, as Envoy's `Bootstrap` JSON. */
  bootstrap: J;
  startedAt: Date;
  /** Accepted resources by type (with their bytes), version, time and last NACK. */
  types: ReadonlyMap<ResourceTypeUrl, TypeDump & { kept?: ReadonlyMap<string, { bytes?: Uint8Array; message?: unknown }>; updatedAt?: Date }>;
  secrets: SecretStore | null;
}

function lastUpdated(d: { updatedAt?: Date } | undefined): string | undefined {
  return d?.updatedAt?.toISOString();
}

function kept(d: DumpSource['types'] extends ReadonlyMap<ResourceTypeUrl, infer V> ? V : never): DumpedResource[] {
  if (d.kept) return [...d.kept].map(([name, k]) => ({ name, ...k })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return (d.resources as J[]).map((m) => ({ name: String(m.name ?? m.cluster_name ?? ''), message: m }));
}

function nackOf(d: TypeDump | undefined): J | undefined {
  return d?.lastNack ? { failed_configuration: { version_info: d.lastNack.version }, last_update_attempt: d.lastNack.at, details: d.lastNack.message } : undefined;
}

/** PEM certificates of a chain, as Envoy's `inline_bytes` (base64 of the PEM). */
function pemBytes(pem: string): string {
  return Buffer.from(pem, 'utf8').toString('base64');
}

/** The SDS secrets in force, without private keys. */
export function secretsDump(store: SecretStore | null): J {
  const active: J[] = [];
  for (const name of store?.names() ?? []) {
    const s = store!.get(name)!;
    const secret: J = { '@type': `${TYPE_PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`, name };
    if (s.value.kind === 'tls_certificate') {
      secret.tls_certificate = { certificate_chain: { inline_bytes: pemBytes(s.value.chainPem) }, private_key: { inline_string: REDACTED } };
    } else {
      secret.validation_context = { trusted_ca: { inline_bytes: pemBytes(s.value.trustedCaPem) } };
    }
    active.push({ name, version_info: String(s.version), last_updated: s.updatedAt?.toISOString(), secret });
  }
  return { '@type': DUMP_TYPES.secrets, static_secrets: [], dynamic_active_secrets: active, dynamic_warming_secrets: [] };
}

/** Envoy's `ConfigDump`; `includeEds` adds the `EndpointsConfigDump` (Envoy's `?include_eds`). */
export function configDump(src: DumpSource, opts: { includeEds?: boolean } = {}): { configs: J[] } {
  const t = (u: ResourceTypeUrl) => src.types.get(u);
  const configs: J[] = [];
  configs.push({ '@type': DUMP_TYPES.bootstrap, bootstrap: src.bootstrap, last_updated: src.startedAt.toISOString() });

  const cds = t(TypeUrl.Cluster);
  configs.push({
    '@type': DUMP_TYPES.clusters,
    version_info: cds?.version ?? '',
    static_clusters: [],
    dynamic_active_clusters: cds ? kept(cds).map((r) => ({ version_info: cds.version, cluster: resourceJson(TypeUrl.Cluster, r), last_updated: lastUpdated(cds) })) : [],
    dynamic_warming_clusters: [],
    ...(nackOf(cds) ? { last_nack: nackOf(cds) } : {}),
  });

  const lds = t(TypeUrl.Listener);
  configs.push({
    '@type': DUMP_TYPES.listeners,
    version_info: lds?.version ?? '',
    static_listeners: [],
    dynamic_listeners: lds ? kept(lds).map((r) => ({ name: r.name, active_state: { version_info: lds.version, listener: resourceJson(TypeUrl.Listener, r), last_updated: lastUpdated(lds) } })) : [],
    ...(nackOf(lds) ? { last_nack: nackOf(lds) } : {}),
  });

  const rds = t(TypeUrl.RouteConfiguration);
  const vhds = t(TypeUrl.VirtualHost);
  configs.push({
    '@type': DUMP_TYPES.routes,
    static_route_configs: [],
    dynamic_route_configs: rds ? kept(rds).map((r) => ({ version_info: rds.version, route_config: withVhds(resourceJson(TypeUrl.RouteConfiguration, r), vhds), last_updated: lastUpdated(rds) })) : [],
    ...(nackOf(rds) ? { last_nack: nackOf(rds) } : {}),
  });

  if (opts.includeEds) {
    const eds = t(TypeUrl.ClusterLoadAssignment);
    configs.push({
      '@type': DUMP_TYPES.endpoints,
      static_endpoint_configs: [],
      dynamic_endpoint_configs: eds ? kept(eds).map((r) => ({ version_info: eds.version, endpoint_config: resourceJson(TypeUrl.ClusterLoadAssignment, r), last_updated: lastUpdated(eds) })) : [],
      ...(nackOf(eds) ? { last_nack: nackOf(eds) } : {}),
    });
  }

  configs.push(secretsDump(src.secrets));
  return { configs };
}

/** Envoy's `?resource=` filter: the named repeated field of each dump, its entries as a flat list. */
export function selectResource(dump: { configs: J[] }, field: string): { configs: J[] } {
  const out: J[] = [];
  for (const c of dump.configs) {
    const v = c[field];
    if (Array.isArray(v)) out.push(...(v as J[]).map((x) => ({ '@type': c['@type'], ...x })));
  }
  return { configs: out };
}

/** The fields of the proxy's bootstrap that `bootstrapJson` reads. */
export type BootstrapView = Pick<Bootstrap, 'nodeId' | 'type' | 'podName' | 'namespace' | 'ip' | 'serviceAccount' | 'trustDomain' | 'labels' | 'discoveryAddress'
  | 'adminHost' | 'adminPort' | 'statusPort' | 'prometheusPort' | 'mergedMetricsPort' | 'caAddress' | 'clusterId' | 'workloadName' | 'tracingOtlp'>;

function socket(hostPort: string): J {
  const i = hostPort.lastIndexOf(':');
  return { socket_address: { address: i > 0 ? hostPort.slice(0, i) : hostPort, port_value: i > 0 ? Number(hostPort.slice(i + 1)) : 15010 } };
}

/** The proxy's bootstrap as Envoy's `config.bootstrap.v3.Bootstrap` JSON (node, ADS, admin, the xDS cluster). */
export function bootstrapJson(b: BootstrapView): J {
  const app = b.labels.app ?? b.labels['app.kubernetes.io/name'] ?? b.podName;
  const xds = b.discoveryAddress.replace(/^[a-z]+:\/\//, '');
  return {
    node: {
      id: b.nodeId,
      cluster: `${app}.${b.namespace}`,
      user_agent_name: 'tsmesh-proxy',
      metadata: {
        NAME: b.podName,
        NAMESPACE: b.namespace,
        INSTANCE_IPS: b.ip,
        SERVICE_ACCOUNT: b.serviceAccount,
        PROXY_TYPE: b.type,
        MESH_ID: b.trustDomain,
        CLUSTER_ID: b.clusterId,
        WORKLOAD_NAME: b.workloadName,
        LABELS: b.labels,
        ...(b.caAddress ? { CA_ADDR: b.caAddress } : {}),
      },
    },
    static_resources: {
      clusters: [{
        name: 'xds-grpc',
        type: 'STRICT_DNS',
        typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': `${TYPE_PREFIX}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`, explicit_http_config: { http2_protocol_options: {} } } },
        load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: socket(xds) } }] }] },
      }],
    },
    dynamic_resources: {
      ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    admin: { address: { socket_address: { address: b.adminHost, port_value: b.adminPort } } },
    ...(b.tracingOtlp ? { tracing: { http: { name: 'envoy.tracers.opentelemetry', typed_config: { '@type': `${TYPE_PREFIX}envoy.config.trace.v3.OpenTelemetryConfig`, http_service: { http_uri: { uri: b.tracingOtlp } } } } } } : {}),
  };
}
