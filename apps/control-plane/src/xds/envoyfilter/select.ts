/** Which EnvoyFilters apply to a proxy, in the order their patches run. */
import type { EnvoyFilterSpec } from '@tsmesh/mesh-config';
import { matches, type Config, type PushContext } from '../../model/push-context';
import type { Proxy } from '../../model/proxy';

/**
 * The EnvoyFilters selecting a proxy, as Istio picks them: those in the root namespace and in the
 * proxy's namespace whose `workloadSelector` labels (none: every workload) are all on the
 * proxy. Ordered by `priority` (lower first), root namespace before the proxy's own at equal
 * priority, then by creation time and name. Proxyless gRPC clients get none (as in Istio).
 */
export function envoyFiltersFor(push: PushContext, proxy: Proxy): Config<EnvoyFilterSpec>[] {
  if (proxy.kind === 'grpc' || !push.envoyFilters.length) return [];
  const root = push.options.rootNamespace;
  const list = push.envoyFilters.filter((f) => {
    if (f.namespace !== proxy.namespace && f.namespace !== root) return false;
    const sel = f.spec.workloadSelector?.labels;
    return !sel || matches(sel, proxy.labels);
  });
  return list.sort((a, b) => (a.spec.priority ?? 0) - (b.spec.priority ?? 0)
    || Number(b.namespace === root) - Number(a.namespace === root)
    || a.creation - b.creation
    || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
