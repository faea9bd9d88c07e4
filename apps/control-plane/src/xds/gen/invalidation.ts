/**
 * From changed config to the cache dependencies it touched (see `keys.ts` for their forms): a
 * routing or policy resource is its own dependency; a Service or ServiceEntry touches its
 * hosts' service and endpoints; an EndpointSlice the endpoints of its service; a Pod the
 * endpoints of every service it backs or may be selected by. A kind whose effect cannot be
 * narrowed (Namespace, anything unknown) asks for everything to be cleared.
 */
import { resolveHost, type ConfigResource, type ServiceEntrySpec } from '@tsmesh/mesh-config';
import type { PushContext } from '../../model/push-context';
import { endpointsDep, serviceDep, type Dependency } from './keys';

/**
 * Kinds that are their own (and only) dependency. EnvoyFilter is one though no cached entry
 * depends on it: patches apply after generation, per push, so its change clears nothing.
 */
const SELF = new Set(['VirtualService', 'DestinationRule', 'Gateway', 'Sidecar', 'PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'Secret', 'Ingress', 'EnvoyFilter']);

/** The change set of one push: resource keys and the resources before and after. */
export interface ChangeSet {
  keys: Iterable<string>;
  before: ReadonlyMap<string, ConfigResource>;
  after: ReadonlyMap<string, ConfigResource>;
  previous?: PushContext;
  current: PushContext;
}

/** The dependencies a change set touched, or `'all'`. */
export function touchedDependencies(c: ChangeSet): Set<Dependency> | 'all' {
  const deps = new Set<Dependency>();
  const domain = c.current.options.domain;
  const both = (k: string) => [c.before.get(k), c.after.get(k)].filter((r): r is ConfigResource => !!r);
  for (const k of c.keys) {
    const kind = k.slice(0, k.indexOf('/'));
    if (SELF.has(kind)) {
      deps.add(k);
      continue;
    }
    const [, ns, name] = k.split('/');
    if (kind === 'Service') {
      const host = `${name}.${ns}.svc.${domain}`;
      deps.add(serviceDep(host));
      deps.add(endpointsDep(host));
    } else if (kind === 'ServiceEntry') {
      for (const r of both(k)) {
        for (const h of ((r.object as { spec?: ServiceEntrySpec }).spec?.hosts ?? [])) {
          const host = resolveHost(h, ns, domain);
          deps.add(serviceDep(host));
          deps.add(endpointsDep(host));
        }
      }
    } else if (kind === 'EndpointSlice') {
      for (const r of both(k)) {
        const svc = (r.object as { metadata?: { labels?: Record<string, string> } }).metadata?.labels?.['kubernetes.io/service-name'];
        if (svc) deps.add(endpointsDep(`${svc}.${ns}.svc.${domain}`));
      }
    } else if (kind === 'Pod') {
      // Labels, readiness, service account and sidecar presence of endpoints come from Pods.
      const ips = both(k).map((r) => (r.object as { status?: { podIP?: string } }).status?.podIP).filter((x): x is string => !!x);
      for (const push of [c.previous, c.current]) {
        if (!push) continue;
        for (const ip of ips) for (const { svc } of push.registry.endpointsByIp.get(ip) ?? []) deps.add(endpointsDep(svc.hostname));
        // Services with no slices, and ServiceEntries, select Pods by label.
        for (const svc of push.registry.services) {
          if (svc.selector && Object.keys(svc.selector).length && (svc.source === 'serviceentry' || svc.namespace === ns)) deps.add(endpointsDep(svc.hostname));
        }
      }
    } else {
      return 'all';
    }
  }
  return deps;
}
