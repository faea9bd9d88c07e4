/**
 * Registers the security filters with the data path's filter registry: Envoy's HTTP RBAC, JWT
 * authentication and local rate limit (with its per-route config) as HTTP layers, and the
 * network RBAC filter for TCP chains. Imported once by the proxy.
 */
import { ExtensionTypeUrl } from '@tsmesh/xds';
import { registerHttpFilter, registerNetworkFilter, registerPerRouteConfig } from '../config/filter-registry';
import type { Exchange } from '../http/exchange';
import type { Layer } from '../http/filters';
import { JwtAuthn } from './jwt';
import { jwtLayer, rateLimitLayer, rbacLayer } from './layer';
import { authorizeConnection } from './network';
import { LocalRateLimit } from './rate-limit';
import { compileRbacFilter } from './rbac';

const passThrough: Layer = (next) => next;

let done = false;

/** Registers the filters (idempotent). */
export function registerSecurityFilters(): void {
  if (done) return;
  done = true;
  registerHttpFilter(ExtensionTypeUrl.HttpRbac, (cfg, field, hcm) => {
    const e = compileRbacFilter(cfg, field, 'http');
    return e ? rbacLayer([e], hcm) : passThrough;
  });
  registerHttpFilter(ExtensionTypeUrl.JwtAuthentication, (cfg, field, hcm) => jwtLayer(JwtAuthn.compile(cfg, field), hcm));
  registerHttpFilter(ExtensionTypeUrl.LocalRateLimit, (cfg, field, _hcm, name) => {
    const listener = LocalRateLimit.compile(cfg, field);
    const perRoute = (ex: Exchange): LocalRateLimit | null | undefined => ex.route?.perFilter.get(name) as LocalRateLimit | null | undefined;
    return rateLimitLayer(listener.inert ? null : listener, perRoute);
  });
  registerPerRouteConfig(ExtensionTypeUrl.LocalRateLimit, (cfg, field) => LocalRateLimit.compile(cfg, field));
  registerNetworkFilter(ExtensionTypeUrl.NetworkRbac, (cfg, field) => {
    const e = compileRbacFilter(cfg, field, 'tcp');
    const engines = e ? [e] : [];
    return { accept: (socket, conn) => authorizeConnection(engines, socket, conn).allowed };
  });
}
