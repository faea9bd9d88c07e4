/** Builders for `envoy.config.listener.v3.Listener` and the network filters tsmesh uses. */
import type { Filter, FilterChain, HttpConnectionManager, HttpFilter, Listener, ListenerFilter, RouteConfiguration, TcpProxy } from '../types';
import { ExtensionTypeUrl } from '../type-urls';
import { pack } from '../proto/codec';
import { adsConfigSource, socketAddress } from './common';

/** Options for {@link httpConnectionManager}. */
export interface HttpConnectionManagerOptions {
  statPrefix: string;
  /** Name of the RouteConfiguration fetched over RDS (`rds.route_config_name`). */
  rdsName?: string;
  /** Inline route table (`route_config`), used instead of RDS. */
  routeConfig?: RouteConfiguration;
  /** HTTP filters before the router; the router filter is always appended last. */
  httpFilters?: HttpFilter[];
  codecType?: 'AUTO' | 'HTTP1' | 'HTTP2';
  /** Envoy's `use_remote_address`: true on gateways. */
  useRemoteAddress?: boolean;
  /** Envoy's `xff_num_trusted_hops`: trusted proxies in front of a gateway (Istio's `gatewayTopology.numTrustedProxies`). */
  xffNumTrustedHops?: number;
  /** Envoy's `normalize_path` and `merge_slashes`, on by default as Istio sets them. */
  normalizePath?: boolean;
  upgradeWebsocket?: boolean;
  streamIdleTimeoutMs?: number;
}

/** The router HTTP filter (`envoy.filters.http.router`). */
export function routerFilter(): HttpFilter {
  return { name: 'envoy.filters.http.router', typed_config: pack(ExtensionTypeUrl.Router, {}) };
}

/** An `HttpConnectionManager` message (not packed). */
export function httpConnectionManagerMessage(o: HttpConnectionManagerOptions): HttpConnectionManager {
  if (!o.rdsName && !o.routeConfig) throw new TypeError(`HttpConnectionManager ${o.statPrefix}: needs rdsName or routeConfig`);
  const hcm: HttpConnectionManager = {
    stat_prefix: o.statPrefix,
    codec_type: o.codecType ?? 'AUTO',
    http_filters: [...(o.httpFilters ?? []), routerFilter()],
    normalize_path: { value: o.normalizePath ?? true },
    merge_slashes: o.normalizePath ?? true,
    path_with_escaped_slashes_action: 'KEEP_UNCHANGED',
  };
  if (o.useRemoteAddress !== undefined) hcm.use_remote_address = { value: o.useRemoteAddress };
  if (o.xffNumTrustedHops) hcm.xff_num_trusted_hops = o.xffNumTrustedHops;
  if (o.upgradeWebsocket) hcm.upgrade_configs = [{ upgrade_type: 'websocket' }];
  if (o.rdsName) hcm.rds = { route_config_name: o.rdsName, config_source: adsConfigSource() };
  else hcm.route_config = o.routeConfig;
  return hcm;
}

/** The HTTP connection manager network filter (`envoy.filters.network.http_connection_manager`), packed. */
export function httpConnectionManager(o: HttpConnectionManagerOptions): Filter {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: pack(ExtensionTypeUrl.HttpConnectionManager, httpConnectionManagerMessage(o)),
  };
}

/** The TCP proxy network filter (`envoy.filters.network.tcp_proxy`) to one cluster or weighted clusters. */
export function tcpProxy(statPrefix: string, target: string | { name: string; weight: number }[]): Filter {
  const msg: TcpProxy = typeof target === 'string'
    ? { stat_prefix: statPrefix, cluster: target }
    : { stat_prefix: statPrefix, weighted_clusters: { clusters: target } };
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: pack(ExtensionTypeUrl.TcpProxy, msg) };
}

/** Listener filters by name: original destination, TLS inspector, HTTP inspector. */
export function listenerFilter(kind: 'original_dst' | 'tls_inspector' | 'http_inspector'): ListenerFilter {
  const map = {
    original_dst: ['envoy.filters.listener.original_dst', ExtensionTypeUrl.OriginalDst],
    tls_inspector: ['envoy.filters.listener.tls_inspector', ExtensionTypeUrl.TlsInspector],
    http_inspector: ['envoy.filters.listener.http_inspector', ExtensionTypeUrl.HttpInspector],
  } as const;
  const [name, url] = map[kind];
  return { name, typed_config: pack(url, {}) };
}

/** Options for {@link listener}. */
export interface ListenerOptions {
  name: string;
  address: string;
  port: number;
  filterChains: FilterChain[];
  defaultFilterChain?: FilterChain;
  listenerFilters?: ListenerFilter[];
  /** Envoy's `use_original_dst`: hand connections to the listener matching their original destination. */
  useOriginalDst?: boolean;
  /** Envoy's `bind_to_port`: false for per-service listeners reached through the capture listener. */
  bindToPort?: boolean;
  trafficDirection?: 'INBOUND' | 'OUTBOUND' | 'UNSPECIFIED';
}

/** A socket `Listener`. */
export function listener(o: ListenerOptions): Listener {
  const l: Listener = {
    name: o.name,
    address: socketAddress(o.address, o.port),
    filter_chains: o.filterChains,
    traffic_direction: o.trafficDirection ?? 'UNSPECIFIED',
  };
  if (o.defaultFilterChain) l.default_filter_chain = o.defaultFilterChain;
  if (o.listenerFilters?.length) l.listener_filters = o.listenerFilters;
  if (o.useOriginalDst !== undefined) l.use_original_dst = { value: o.useOriginalDst };
  if (o.bindToPort !== undefined) l.bind_to_port = { value: o.bindToPort };
  return l;
}

/**
 * An API listener, as proxyless gRPC clients (`@grpc/grpc-js-xds`) expect for an `xds:///name`
 * target: no socket, just an HttpConnectionManager with RDS (or an inline route table).
 */
export function apiListener(name: string, hcm: Omit<HttpConnectionManagerOptions, 'statPrefix'> & { statPrefix?: string }): Listener {
  return {
    name,
    api_listener: {
      api_listener: pack(ExtensionTypeUrl.HttpConnectionManager, httpConnectionManagerMessage({ statPrefix: hcm.statPrefix ?? name, ...hcm, normalizePath: hcm.normalizePath ?? false })),
    },
  };
}
