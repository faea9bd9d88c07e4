/**
 * Registers the HTTP filters of `src/filters/` with the data path's filter registry (by their
 * typed_config type URL). Imported once by the proxy (agent/proxy.ts).
 */
import { ExtensionTypeUrl } from '@tsmesh/xds';
import { registerHttpFilter } from '../config/filter-registry';
import { HeaderMutationConfig, headerMutationLayer } from './header-mutation';

let done = false;

/** Registers the filters (idempotent). */
export function registerHttpFilters(): void {
  if (done) return;
  done = true;
  registerHttpFilter(ExtensionTypeUrl.HeaderMutation, (cfg, field) => headerMutationLayer(HeaderMutationConfig.compile(cfg, field)));
}
