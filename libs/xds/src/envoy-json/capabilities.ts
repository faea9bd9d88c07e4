/**
 * What tsmesh's proxy can run, as the control plane and `tsmesh analyze` need to know it: the
 * HTTP and network filter types it implements and the listener filters it honours. The proxy's
 * tests check its filter registry against these lists, so they cannot drift apart.
 */
import { ExtensionTypeUrl } from '../type-urls';

/** HTTP filters (typed_config type URLs) the proxy implements. */
export const PROXY_HTTP_FILTER_TYPES: readonly string[] = [
  ExtensionTypeUrl.Router, ExtensionTypeUrl.HttpFault, ExtensionTypeUrl.HttpRbac, ExtensionTypeUrl.JwtAuthentication,
  ExtensionTypeUrl.LocalRateLimit, ExtensionTypeUrl.HeaderMutation, ExtensionTypeUrl.Cors,
];

/** Network filters (typed_config type URLs) the proxy implements. */
export const PROXY_NETWORK_FILTER_TYPES: readonly string[] = [
  ExtensionTypeUrl.HttpConnectionManager, ExtensionTypeUrl.TcpProxy, ExtensionTypeUrl.NetworkRbac,
];

/** Listener filters (by name) the proxy honours. */
export const PROXY_LISTENER_FILTERS: readonly string[] = [
  'envoy.filters.listener.original_dst', 'envoy.filters.listener.tls_inspector', 'envoy.filters.listener.http_inspector',
];
