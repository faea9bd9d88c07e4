/** Listener (LDS) → {@link ListenerSpec}: filter chains with their match, HTTP connection manager or TCP proxy. */
import { durationMs, ExtensionTypeUrl, unpack, type HTTPFault__Output, type Listener__Output } from '@tsmesh/xds';
import { reject } from './errors';
import { fields, rejectUnsupported } from './fields';
import { compileRouteTable, type RouteTable } from './route';
import { compileFault, type FaultConfig } from './fault';
import { transportSocketFor, type TransportSocketFactory } from './transport';
import { httpFilterCompiler, networkFilterCompiler, type NetworkFilter } from './filter-registry';
import type { Layer } from '../http/filters';

/** An IPv4/IPv6 CIDR range. */
export interface Cidr {
  /** Address bytes as a bigint, masked. */
  base: bigint;
  bits: number;
  v6: boolean;
}

/** Parses an address into a bigint (IPv4-mapped IPv6 is treated as IPv4). */
export function ipToBigint(ip: string): { n: bigint; v6: boolean } | null {
  let s = ip;
  if (s.startsWith('::ffff:') && s.includes('.')) s = s.slice(7);
  if (s.includes('.')) {
    const p = s.split('.');
    if (p.length !== 4) return null;
    let n = 0n;
    for (const x of p) {
      const v = Number(x);
      if (!Number.isInteger(v) || v < 0 || v > 255) return null;
      n = (n << 8n) | BigInt(v);
    }
    return { n, v6: false };
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const groups = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  if (groups.length !== 8) return null;
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(parseInt(g || '0', 16));
  return { n, v6: true };
}

/** True when `ip` is inside `c`. */
export function cidrContains(c: Cidr, ip: string): boolean {
  const a = ipToBigint(ip);
  if (!a || a.v6 !== c.v6) return false;
  const width = c.v6 ? 128 : 32;
  const shift = BigInt(width - c.bits);
  return a.n >> shift === c.base >> shift;
}

/** The match of a filter chain (Envoy's `FilterChainMatch`, the parts the proxy implements). */
export interface ChainMatch {
  destinationPort: number;
  prefixRanges: Cidr[];
  sourcePrefixRanges: Cidr[];
  /** '' (any), 'raw_buffer' or 'tls'. */
  transportProtocol: string;
  /** Empty for any; e.g. ['http/1.1', 'h2c'] as the HTTP inspector reports them. */
  applicationProtocols: string[];
  serverNames: string[];
}

/** An HTTP connection manager. */
export interface HcmSpec {
  statPrefix: string;
  codec: 'AUTO' | 'HTTP1' | 'HTTP2';
  rdsName: string | null;
  inlineRoutes: RouteTable | null;
  /** Listener-level fault filter (present in http_filters). */
  faultFilter: FaultConfig | null;
  hasFaultFilter: boolean;
  websocket: boolean;
  /** `upgrade_configs` CONNECT: CONNECT requests may be tunnelled (a route may override). */
  connect: boolean;
  normalizePath: boolean;
  mergeSlashes: boolean;
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
  /** Envoy's `skip_xff_append` (with `use_remote_address`, the peer address is appended to XFF unless set). */
  skipXffAppend: boolean;
  streamIdleTimeoutMs: number;
  requestTimeoutMs: number;
  /** Envoy's `request_headers_timeout`: a connection whose request head is not complete by then is closed (0: off). */
  requestHeadersTimeoutMs: number;
  /** Names of the HTTP filters in order (for config dumps). */
  filterNames: string[];
  /** Registered HTTP filters (authz, ...) as layers, in the listed order, with the fault filter's position. */
  layers: { name: string; layer: Layer | 'fault' }[];
}

/** A TCP proxy. */
export interface TcpProxySpec {
  statPrefix: string;
  cluster: string;
  weighted: { name: string; weight: number }[];
  idleTimeoutMs: number;
}

/** A filter chain. */
export interface ChainSpec {
  name: string;
  match: ChainMatch;
  http: HcmSpec | null;
  tcp: TcpProxySpec | null;
  /** Network filters before the terminal one (registered implementations). */
  networkFilters: NetworkFilter[];
  transport: TransportSocketFactory;
}

/** A compiled listener. */
export interface ListenerSpec {
  name: string;
  version: string;
  address: string;
  port: number;
  bindToPort: boolean;
  useOriginalDst: boolean;
  /** The `original_dst` listener filter is present: chains match on the restored destination. */
  originalDstFilter: boolean;
  /** Some chain matches on transport or application protocol, so the first bytes are inspected. */
  inspectProtocol: boolean;
  chains: ChainSpec[];
  defaultChain: ChainSpec | null;
  trafficDirection: string;
}

const LISTENER_FIELDS = fields('name', 'address', 'filter_chains', 'default_filter_chain', 'use_original_dst', 'bind_to_port', 'listener_filters',
  'traffic_direction', 'continue_on_listener_filters_timeout', 'listener_filters_timeout', 'metadata', 'stat_prefix', 'per_connection_buffer_limit_bytes',
  'access_log', 'socket_options', 'transparent', 'freebind', 'enable_reuse_port', 'connection_balance_config');
const CHAIN_FIELDS = fields('filter_chain_match', 'filters', 'transport_socket', 'name', 'metadata', 'transport_socket_connect_timeout');
const MATCH_FIELDS = fields('destination_port', 'prefix_ranges', 'source_prefix_ranges', 'transport_protocol', 'application_protocols', 'server_names', 'source_type');
const HCM_FIELDS = fields('stat_prefix', 'codec_type', 'rds', 'route_config', 'http_filters', 'upgrade_configs', 'normalize_path', 'merge_slashes',
  'path_with_escaped_slashes_action', 'use_remote_address', 'xff_num_trusted_hops', 'stream_idle_timeout', 'request_timeout', 'generate_request_id',
  'access_log', 'tracing', 'server_name', 'server_header_transformation', 'common_http_protocol_options', 'http_protocol_options',
  'http2_protocol_options', 'forward_client_cert_details', 'set_current_client_cert_details', 'preserve_external_request_id',
  'always_set_request_id_in_response', 'delayed_close_timeout', 'drain_timeout', 'route_specifier', 'skip_xff_append', 'via',
  'internal_address_config', 'request_headers_timeout', 'stream_error_on_invalid_http_message', 'strip_port_mode', 'strip_matching_host_port');
const KNOWN_LISTENER_FILTERS = new Set(['envoy.filters.listener.original_dst', 'envoy.filters.listener.tls_inspector', 'envoy.filters.listener.http_inspector']);

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function compileCidrs(list: Dec[] | undefined, field: string): Cidr[] {
  return (list ?? []).map((r, i) => {
    const a = ipToBigint(r.address_prefix ?? '');
    if (!a) reject(`${field}[${i}].address_prefix`, `"${r.address_prefix}" is not an IP address`);
    const bits = r.prefix_len ? r.prefix_len.value : a.v6 ? 128 : 32;
    return { base: a.n, bits, v6: a.v6 };
  });
}

function compileHcm(h: Dec, field: string, version: string): HcmSpec {
  rejectUnsupported('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', h, HCM_FIELDS, field);
  if (h.forward_client_cert_details && h.forward_client_cert_details !== 'SANITIZE' && h.forward_client_cert_details !== 'SANITIZE_SET' && h.forward_client_cert_details !== 'APPEND_FORWARD') {
    reject(`${field}.forward_client_cert_details`, `${h.forward_client_cert_details} is not supported`);
  }
  let rdsName: string | null = null;
  let inlineRoutes: RouteTable | null = null;
  if (h.route_specifier === 'rds') {
    rdsName = h.rds.route_config_name;
    if (!rdsName) reject(`${field}.rds.route_config_name`, 'is empty');
    if (h.rds.config_source && h.rds.config_source.config_source_specifier !== 'ads') reject(`${field}.rds.config_source`, 'only ADS config sources are supported');
  } else if (h.route_specifier === 'route_config') {
    try {
      inlineRoutes = compileRouteTable(h.route_config, version);
    } catch (err) {
      const e = err as { field?: string; reason?: string; message: string };
      reject(`${field}.route_config${e.field ? `.${e.field}` : ''}`, e.reason ?? e.message);
    }
  } else {
    reject(`${field}.route_specifier`, `"${h.route_specifier ?? ''}" is not supported (rds or route_config)`);
  }
  let faultFilter: FaultConfig | null = null;
  let hasFault = false;
  const names: string[] = [];
  const layers: HcmSpec['layers'] = [];
  const facts = { statPrefix: h.stat_prefix, useRemoteAddress: !!h.use_remote_address?.value, xffNumTrustedHops: h.xff_num_trusted_hops ?? 0 };
  const filters = h.http_filters as Dec[];
  filters.forEach((f, i) => {
    const ff = `${field}.http_filters[${i}]`;
    names.push(f.name);
    const url = f.typed_config?.type_url;
    if (f.name === 'envoy.filters.http.router' || url === ExtensionTypeUrl.Router) {
      if (i !== filters.length - 1) reject(ff, 'the router filter must be last');
      return;
    }
    if (f.name === 'envoy.filters.http.fault' || url === ExtensionTypeUrl.HttpFault) {
      hasFault = true;
      const msg = url ? unpack<HTTPFault__Output>(f.typed_config) : null;
      if (msg && (msg.delay || msg.abort)) faultFilter = compileFault(msg, `${ff}.typed_config`);
      layers.push({ name: f.name, layer: 'fault' });
      return;
    }
    const compile = httpFilterCompiler(url);
    if (compile) {
      layers.push({ name: f.name, layer: compile(unpack(f.typed_config), `${ff}.typed_config`, facts, f.name) });
      return;
    }
    if (f.is_optional) return;
    reject(ff, `HTTP filter "${f.name}" (${url ?? 'no typed_config'}) is not supported`);
  });
  if (!filters.length || !(filters[filters.length - 1].name === 'envoy.filters.http.router' || filters[filters.length - 1].typed_config?.type_url === ExtensionTypeUrl.Router)) {
    reject(`${field}.http_filters`, 'must end with the router filter');
  }
  let websocket = false;
  let connect = false;
  for (const [i, u] of (h.upgrade_configs as Dec[]).entries()) {
    const type = (u.upgrade_type ?? '').toLowerCase();
    const on = u.enabled ? u.enabled.value !== false : true;
    if (type === 'websocket') websocket = on;
    else if (type === 'connect') connect = on;
    else reject(`${field}.upgrade_configs[${i}].upgrade_type`, `"${u.upgrade_type}" is not supported (websocket and CONNECT are)`);
    if (u.filters?.length) reject(`${field}.upgrade_configs[${i}].filters`, 'upgrade-specific filter chains are not supported');
  }
  if (h.path_with_escaped_slashes_action && !['KEEP_UNCHANGED', 'IMPLEMENTATION_SPECIFIC_DEFAULT'].includes(h.path_with_escaped_slashes_action)) {
    reject(`${field}.path_with_escaped_slashes_action`, `${h.path_with_escaped_slashes_action} is not supported`);
  }
  return {
    statPrefix: h.stat_prefix,
    codec: h.codec_type === 'HTTP2' ? 'HTTP2' : h.codec_type === 'HTTP1' ? 'HTTP1' : h.codec_type === 'AUTO' ? 'AUTO' : reject(`${field}.codec_type`, `${h.codec_type} is not supported`),
    rdsName,
    inlineRoutes,
    faultFilter,
    hasFaultFilter: hasFault,
    websocket,
    connect,
    normalizePath: !!h.normalize_path?.value,
    mergeSlashes: !!h.merge_slashes,
    useRemoteAddress: !!h.use_remote_address?.value,
    xffNumTrustedHops: h.xff_num_trusted_hops ?? 0,
    skipXffAppend: !!h.skip_xff_append,
    streamIdleTimeoutMs: h.stream_idle_timeout ? durationMs(h.stream_idle_timeout) : 300_000,
    requestTimeoutMs: durationMs(h.request_timeout),
    // unset: 60 s (slow request heads are never left open indefinitely); an explicit 0 turns it off, as in Envoy
    requestHeadersTimeoutMs: h.request_headers_timeout ? durationMs(h.request_headers_timeout) : 60_000,
    filterNames: names,
    layers,
  };
}

function compileTcpProxy(t: Dec, field: string): TcpProxySpec {
  rejectUnsupported('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', t, fields('stat_prefix', 'cluster', 'weighted_clusters', 'idle_timeout', 'cluster_specifier', 'access_log', 'max_connect_attempts', 'metadata_match_ignored'), field);
  if (t.cluster_specifier === 'cluster') {
    if (!t.cluster) reject(`${field}.cluster`, 'is empty');
    return { statPrefix: t.stat_prefix, cluster: t.cluster, weighted: [], idleTimeoutMs: t.idle_timeout ? durationMs(t.idle_timeout) : 3_600_000 };
  }
  if (t.cluster_specifier === 'weighted_clusters') {
    const weighted = (t.weighted_clusters.clusters as Dec[]).map((c) => ({ name: c.name, weight: c.weight })).filter((c) => c.weight > 0);
    if (!weighted.length) reject(`${field}.weighted_clusters`, 'all weights are zero');
    return { statPrefix: t.stat_prefix, cluster: '', weighted, idleTimeoutMs: t.idle_timeout ? durationMs(t.idle_timeout) : 3_600_000 };
  }
  return reject(`${field}.cluster_specifier`, `"${t.cluster_specifier ?? ''}" is not supported`);
}

function compileChain(fc: Dec, field: string, version: string): ChainSpec {
  rejectUnsupported('envoy.config.listener.v3.FilterChain', fc, CHAIN_FIELDS, field);
  const m = fc.filter_chain_match ?? {};
  rejectUnsupported('envoy.config.listener.v3.FilterChainMatch', m, MATCH_FIELDS, `${field}.filter_chain_match`);
  if (m.source_type && m.source_type !== 'ANY') reject(`${field}.filter_chain_match.source_type`, 'is not supported');
  const match: ChainMatch = {
    destinationPort: m.destination_port?.value ?? 0,
    prefixRanges: compileCidrs(m.prefix_ranges, `${field}.filter_chain_match.prefix_ranges`),
    sourcePrefixRanges: compileCidrs(m.source_prefix_ranges, `${field}.filter_chain_match.source_prefix_ranges`),
    transportProtocol: m.transport_protocol ?? '',
    applicationProtocols: m.application_protocols ?? [],
    serverNames: m.server_names ?? [],
  };
  if (match.transportProtocol && match.transportProtocol !== 'raw_buffer' && match.transportProtocol !== 'tls') {
    reject(`${field}.filter_chain_match.transport_protocol`, `"${match.transportProtocol}" is not supported`);
  }
  let http: HcmSpec | null = null;
  let tcp: TcpProxySpec | null = null;
  const networkFilters: NetworkFilter[] = [];
  const filters = fc.filters as Dec[];
  if (!filters.length) reject(`${field}.filters`, 'is empty');
  filters.forEach((f, i) => {
    const ff = `${field}.filters[${i}]`;
    const url = f.typed_config?.type_url;
    if (i !== filters.length - 1) {
      const compile = networkFilterCompiler(url);
      if (!compile) reject(ff, `network filter "${f.name}" (${url ?? 'no typed_config'}) is not supported`);
      networkFilters.push(compile(unpack(f.typed_config), `${ff}.typed_config`));
      return;
    }
    if (url === ExtensionTypeUrl.HttpConnectionManager) http = compileHcm(unpack(f.typed_config), `${ff}.typed_config`, version);
    else if (url === ExtensionTypeUrl.TcpProxy) tcp = compileTcpProxy(unpack(f.typed_config), `${ff}.typed_config`);
    else reject(ff, `network filter "${f.name}" (${url ?? 'no typed_config'}) is not supported`);
  });
  return { name: fc.name ?? '', match, http, tcp, networkFilters, transport: transportSocketFor(fc.transport_socket, undefined, `${field}.transport_socket`) };
}

/** Compiles a Listener; throws ConfigError naming the field it cannot apply. */
export function compileListener(l: Listener__Output, version: string): ListenerSpec {
  const raw = l as unknown as Dec;
  rejectUnsupported('envoy.config.listener.v3.Listener', raw, LISTENER_FIELDS, '');
  if (raw.api_listener) reject('api_listener', 'API listeners are for proxyless clients');
  const sa = raw.address?.socket_address;
  if (!sa) reject('address', 'only socket addresses are supported');
  if (sa.protocol && sa.protocol !== 'TCP') reject('address.socket_address.protocol', `${sa.protocol} is not supported`);
  let originalDstFilter = false;
  for (const [i, f] of (raw.listener_filters as Dec[]).entries()) {
    if (!KNOWN_LISTENER_FILTERS.has(f.name)) reject(`listener_filters[${i}]`, `listener filter "${f.name}" is not supported`);
    if (f.name === 'envoy.filters.listener.original_dst') originalDstFilter = true;
  }
  const chains = (raw.filter_chains as Dec[]).map((fc, i) => compileChain(fc, `filter_chains[${i}]`, version));
  const defaultChain = raw.default_filter_chain ? compileChain(raw.default_filter_chain, 'default_filter_chain', version) : null;
  const all = defaultChain ? [...chains, defaultChain] : chains;
  return {
    name: raw.name,
    version,
    address: sa.address,
    port: sa.port_value,
    bindToPort: raw.bind_to_port ? raw.bind_to_port.value !== false : true,
    useOriginalDst: !!raw.use_original_dst?.value,
    originalDstFilter,
    inspectProtocol: all.some((c) => c.match.transportProtocol !== '' || c.match.applicationProtocols.length > 0 || c.match.serverNames.length > 0),
    chains,
    defaultChain,
    trafficDirection: raw.traffic_direction ?? 'UNSPECIFIED',
  };
}
