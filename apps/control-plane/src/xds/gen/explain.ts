/**
 * Why a change concerns a proxy: whether the config a resource key names is among the inputs of
 * the proxy's generated config (its visible services, the routes and rules for them, the
 * policies that select it, the Gateways it serves). Used to explain pushes, not to decide them
 * (content versions decide).
 */
import { resolveHost } from '@tsmesh/mesh-config';
import type { PushContext } from '../../model/push-context';
import { matches } from '../../model/push-context';
import type { Proxy } from '../../model/proxy';
import { visibleServices } from '../scope';
import { gatewaysFor } from '../gateway';

const visibleMemo = new WeakMap<PushContext, Map<string, Set<string>>>();

function visibleHosts(push: PushContext, proxy: Proxy): Set<string> {
  let m = visibleMemo.get(push);
  if (!m) visibleMemo.set(push, (m = new Map()));
  const sc = push.sidecarFor(proxy.namespace, proxy.labels);
  const k = `${proxy.kind}|${proxy.namespace}|${sc?.resource.key ?? ''}`;
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set(visibleServices(push, proxy).map((x) => x.hostname))));
  return s;
}

/** True when the resource `key` (`Kind/ns/name`) is an input of the proxy's config in `push`. */
export function scopeUses(push: PushContext, proxy: Proxy, key: string): boolean {
  const [kind, ns, name] = key.split('/');
  const domain = push.options.domain;
  const hosts = visibleHosts(push, proxy);
  const seesHost = (h: string) => hosts.has(h) || (h.startsWith('*') && [...hosts].some((x) => h === '*' || x.endsWith(h.slice(1))));
  switch (kind) {
    case 'Service': return seesHost(`${name}.${ns}.svc.${domain}`);
    case 'EndpointSlice': {
      // The slice's service is the name up to its generated suffix; check every visible service of the namespace.
      for (const h of hosts) if (h.endsWith(`.${ns}.svc.${domain}`) && name.startsWith(h.slice(0, h.indexOf('.')))) return true;
      return false;
    }
    case 'Pod': {
      if (ns === proxy.namespace && name === proxy.podName) return true;
      const pod = push.registry.podsByKey.get(`${ns}/${name}`);
      const ip = pod?.status?.podIP;
      return !!ip && (push.registry.endpointsByIp.get(ip) ?? []).some((x) => hosts.has(x.svc.hostname));
    }
    case 'ServiceEntry': return push.registry.services.some((s) => s.source === 'serviceentry' && s.namespace === ns && hosts.has(s.hostname));
    case 'VirtualService': {
      const vs = push.virtualServices.find((v) => v.namespace === ns && v.name === name);
      if (!vs) return true; // deleted: it may have routed any of them
      if (proxy.kind === 'router') return gatewaysFor(push, proxy).some((g) => vs.gateways.includes(`${g.namespace}/${g.name}`));
      return vs.hosts.some(seesHost);
    }
    case 'DestinationRule': {
      const dr = push.destinationRules.find((d) => d.namespace === ns && d.name === name);
      return !dr || seesHost(resolveHost(dr.spec.host, dr.namespace, domain));
    }
    case 'Sidecar': return ns === proxy.namespace || ns === push.options.rootNamespace;
    case 'PeerAuthentication': case 'AuthorizationPolicy': case 'RequestAuthentication': {
      if (ns !== proxy.namespace && ns !== push.options.rootNamespace) return false;
      const list = kind === 'PeerAuthentication' ? push.peerAuthentications : kind === 'AuthorizationPolicy' ? push.authorizationPolicies : push.requestAuthentications;
      const p = list.find((x) => x.namespace === ns && x.name === name);
      const sel = (p?.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)?.selector?.matchLabels;
      return !p || !sel || matches(sel, proxy.labels);
    }
    case 'Gateway': return proxy.kind === 'router' && (gatewaysFor(push, proxy).some((g) => g.namespace === ns && g.name === name) || !push.gateways.some((g) => g.namespace === ns && g.name === name));
    case 'Secret': return proxy.kind === 'router' && ns === proxy.namespace;
    default: return false;
  }
}
