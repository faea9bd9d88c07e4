/** What a proxy can see: services after `exportTo` and its Sidecar's egress hosts. */
import type { PushContext } from '../model/push-context';
import type { Proxy } from '../model/proxy';
import type { ServiceModel } from '../registry/registry';
import { hostMatches } from '@tsmesh/mesh-config';

/** Services visible to a proxy, sorted by hostname. */
export function visibleServices(push: PushContext, proxy: Proxy): ServiceModel[] {
  const all = push.servicesFor(proxy.namespace);
  if (proxy.kind !== 'sidecar') return all;
  const sc = push.sidecarFor(proxy.namespace, proxy.labels);
  const hosts = sc?.spec.egress?.flatMap((e) => e.hosts ?? []);
  if (!hosts?.length) return all;
  const rules = hosts.map((h) => {
    const slash = h.indexOf('/');
    const ns = slash < 0 ? '*' : h.slice(0, slash);
    return { ns: ns === '.' ? proxy.namespace : ns, host: slash < 0 ? h : h.slice(slash + 1) };
  });
  return all.filter((s) => rules.some((r) => (r.ns === '*' || r.ns === s.namespace) && hostMatches(r.host, s.hostname)));
}

/** True when the proxy's Sidecar sets `outboundTrafficPolicy.mode: REGISTRY_ONLY`. */
export function registryOnly(push: PushContext, proxy: Proxy): boolean {
  return push.sidecarFor(proxy.namespace, proxy.labels)?.spec.outboundTrafficPolicy?.mode === 'REGISTRY_ONLY';
}
