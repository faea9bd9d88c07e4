/** Envoy v3 type URLs, as carried in `google.protobuf.Any.type_url` and `DiscoveryRequest.type_url`. */
export const TYPE_PREFIX = 'type.googleapis.com/';

/** The xDS resource types served over ADS (VirtualHost: VHDS, Delta xDS only). */
export const TypeUrl = {
  Listener: `${TYPE_PREFIX}envoy.config.listener.v3.Listener`,
  RouteConfiguration: `${TYPE_PREFIX}envoy.config.route.v3.RouteConfiguration`,
  VirtualHost: `${TYPE_PREFIX}envoy.config.route.v3.VirtualHost`,
  Cluster: `${TYPE_PREFIX}envoy.config.cluster.v3.Cluster`,
  ClusterLoadAssignment: `${TYPE_PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  Secret: `${TYPE_PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`,
} as const;

/** One of the xDS resource type URLs. */
export type ResourceTypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/** All resource type URLs, in Envoy's recommended update order (CDS, EDS, LDS, RDS, VHDS, SDS). */
export const ALL_TYPE_URLS: readonly ResourceTypeUrl[] = [
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
  TypeUrl.VirtualHost,
  TypeUrl.Secret,
];

/** Short names used in logs, status and config dumps. */
export const TYPE_SHORT_NAME: Record<ResourceTypeUrl, 'LDS' | 'RDS' | 'VHDS' | 'CDS' | 'EDS' | 'SDS'> = {
  [TypeUrl.Listener]: 'LDS',
  [TypeUrl.RouteConfiguration]: 'RDS',
  [TypeUrl.VirtualHost]: 'VHDS',
  [TypeUrl.Cluster]: 'CDS',
  [TypeUrl.ClusterLoadAssignment]: 'EDS',
  [TypeUrl.Secret]: 'SDS',
};

/**
 * Types for which an empty `resource_names` list in a State-of-the-World request means "all"
 * (Envoy's legacy wildcard for LDS and CDS).
 */
export const WILDCARD_TYPES: ReadonlySet<string> = new Set([TypeUrl.Listener, TypeUrl.Cluster]);

/**
 * Types whose State-of-the-World responses must carry every resource (Envoy's "full state"
 * types, LDS and CDS). For the others a SotW response may carry only the resources that changed:
 * a subscribed resource absent from a response is kept, not removed.
 */
export const FULL_STATE_TYPES: ReadonlySet<string> = WILDCARD_TYPES;

/**
 * The `Node.client_features` entry by which a client declares it takes VHDS: route
 * configurations carrying `vhds` (ADS) instead of inline virtual hosts, and the virtual hosts as
 * `envoy.config.route.v3.VirtualHost` resources over a Delta xDS stream (wildcard subscription).
 * Clients without it (gRPC, plain Envoy) get full RDS.
 */
export const CLIENT_FEATURE_VHDS = 'tsmesh.io.vhds';

/** VHDS resource name of a virtual host: `<route configuration name>/<host entry>` (Envoy's naming). */
export function vhdsResourceName(routeConfig: string, host: string): string {
  return `${routeConfig}/${host}`;
}

/** Splits a VHDS resource name right to left (a host entry has no `/`; a route configuration name may). */
export function parseVhdsResourceName(name: string): { routeConfig: string; host: string } | undefined {
  const i = name.lastIndexOf('/');
  if (i <= 0 || i === name.length - 1) return undefined;
  return { routeConfig: name.slice(0, i), host: name.slice(i + 1) };
}

/** Type URLs of the extension messages packed inside resources. */
export const ExtensionTypeUrl = {
  HttpConnectionManager: `${TYPE_PREFIX}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  TcpProxy: `${TYPE_PREFIX}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
  Router: `${TYPE_PREFIX}envoy.extensions.filters.http.router.v3.Router`,
  HttpFault: `${TYPE_PREFIX}envoy.extensions.filters.http.fault.v3.HTTPFault`,
  HttpRbac: `${TYPE_PREFIX}envoy.extensions.filters.http.rbac.v3.RBAC`,
  NetworkRbac: `${TYPE_PREFIX}envoy.extensions.filters.network.rbac.v3.RBAC`,
  JwtAuthentication: `${TYPE_PREFIX}envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication`,
  LocalRateLimit: `${TYPE_PREFIX}envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit`,
  HeaderMutation: `${TYPE_PREFIX}envoy.extensions.filters.http.header_mutation.v3.HeaderMutation`,
  Cors: `${TYPE_PREFIX}envoy.extensions.filters.http.cors.v3.Cors`,
  CorsPolicy: `${TYPE_PREFIX}envoy.extensions.filters.http.cors.v3.CorsPolicy`,
  OriginalDst: `${TYPE_PREFIX}envoy.extensions.filters.listener.original_dst.v3.OriginalDst`,
  TlsInspector: `${TYPE_PREFIX}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
  HttpInspector: `${TYPE_PREFIX}envoy.extensions.filters.listener.http_inspector.v3.HttpInspector`,
  UpstreamTlsContext: `${TYPE_PREFIX}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
  DownstreamTlsContext: `${TYPE_PREFIX}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
  RawBuffer: `${TYPE_PREFIX}envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer`,
  HttpProtocolOptions: `${TYPE_PREFIX}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
  PreviousHostsPredicate: `${TYPE_PREFIX}envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate`,
} as const;

/** The full message name inside a type URL (`envoy.config.listener.v3.Listener`). */
export function messageNameOf(typeUrl: string): string {
  const slash = typeUrl.lastIndexOf('/');
  return slash >= 0 ? typeUrl.slice(slash + 1) : typeUrl;
}

/** True when `typeUrl` is one of the resource types served over ADS. */
export function isResourceTypeUrl(typeUrl: string): typeUrl is ResourceTypeUrl {
  return typeUrl in TYPE_SHORT_NAME;
}
