/**
 * Registers the HTTP filters of `src/filters/` with the data path's filter registry (by their
 * typed_config type URL). Imported once by the proxy (agent/proxy.ts).
 */
import { ExtensionTypeUrl } from '@tsmesh/xds';
import { registerHttpFilter, registerPerRouteConfig } from '../config/filter-registry';
import { reject } from '../config/errors';
import { CorsPolicyConfig, corsLayer } from './cors';
import { HeaderMutationConfig, headerMutationLayer } from './header-mutation';

let done = false;

/** Registers the filters (idempotent). */
export function registerHttpFilters(): void {
  if (done) return;
  done = true;
  registerHttpFilter(ExtensionTypeUrl.HeaderMutation, (cfg, field) => headerMutationLayer(HeaderMutationConfig.compile(cfg, field)));
  // The CORS filter's own config (`Cors`) has no fields; its policies come per route.
  registerHttpFilter(ExtensionTypeUrl.Cors, (cfg, field, _hcm, name) => {
    for (const k of Object.keys(cfg)) if (cfg[k] !== undefined && cfg[k] !== null) reject(`${field}.${k}`, 'is not supported');
    return corsLayer(name);
  });
  registerPerRouteConfig(ExtensionTypeUrl.CorsPolicy, (cfg, field) => CorsPolicyConfig.compile(cfg, field));
}
