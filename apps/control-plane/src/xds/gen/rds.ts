/**
 * RDS generation for sidecars: the outbound route table `<port>` as the concatenation of an
 * encoded header, one encoded virtual host per HTTP service on the port (cached by
 * {@link VirtualHostKey}) and the catch-all. A VirtualService change re-encodes only the virtual
 * hosts it routes; the table is re-assembled (a copy of bytes) once per scope.
 */
import { TypeUrl, type EncodedResource } from '@tsmesh/xds';
import { isHttpProtocol } from '@tsmesh/mesh-config';
import type { VirtualServiceConfig } from '../../model/push-context';
import type { Proxy } from '../../model/proxy';
import type { ServiceModel } from '../../registry/registry';
import { defaultRoute, delegatesOf, serviceDomains, virtualServiceForHost, virtualServiceRoutes } from '../routes';
import { BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER } from '../common';
import { destinationsOf, PartKey, sourceOf, type PushGeneration } from './context';
import { RouteFragmentKey, VirtualHostKey } from './keys';
import { concatenated } from './xds-cache';

const ROUTE_CONFIG = 'envoy.config.route.v3.RouteConfiguration';

function virtualHostBytes(g: PushGeneration, proxy: Proxy, svc: ServiceModel, port: number, domains: string[], vs: VirtualServiceConfig | undefined): Uint8Array {
  const delegates = delegatesOf(g.push, vs);
  const destinations = [...new Set([vs, ...delegates].flatMap((v) => destinationsOf(v, g.push.options.domain)))].sort();
  const key = new VirtualHostKey(svc, port, domains, vs, destinations, sourceOf(vs, proxy), delegates);
  return g.cache.bytes(ROUTE_CONFIG, key, () => {
    const routes = vs ? virtualServiceRoutes(vs, { push: g.push, proxy, port, gateway: 'mesh' }) : [];
    if (!routes.length) routes.push(defaultRoute(svc, port));
    return { virtual_hosts: [{ name: `${svc.hostname}:${port}`, domains, routes }] };
  });
}

/** The sidecar outbound route table `<port>` for the visible `services`. */
export function sidecarRouteTable(g: PushGeneration, proxy: Proxy, port: number, services: readonly ServiceModel[], blocked: boolean): EncodedResource {
  const vss = g.push.virtualServicesFor('mesh', proxy.namespace);
  const used = new Set<string>();
  const parts: Uint8Array[] = [g.cache.bytes(ROUTE_CONFIG, new RouteFragmentKey('header', port), () => ({ name: String(port), validate_clusters: { value: false } }))];
  for (const svc of services) {
    const sp = svc.ports.find((p) => p.port === port);
    if (!sp || !isHttpProtocol(sp.protocol)) continue;
    const vs = virtualServiceForHost(vss, svc.hostname);
    // A virtual host's names depend on the client's namespace only for services in that namespace:
    // the fragment is shared by every scope that sees the service the same way.
    const source = sourceOf(vs, proxy);
    const shared = g.shared(new PartKey('vhost', [svc.hostname, port, svc.namespace === proxy.namespace ? proxy.namespace : '*', vs?.resource.key ?? '', source]), () => {
      const domains = serviceDomains(svc, port, proxy.namespace);
      return { domains, bytes: virtualHostBytes(g, proxy, svc, port, domains, vs) };
    });
    if (shared.domains.every((d) => !used.has(d))) {
      for (const d of shared.domains) used.add(d);
      parts.push(shared.bytes);
      continue;
    }
    const domains = shared.domains.filter((d) => !used.has(d));
    if (!domains.length) continue;
    for (const d of domains) used.add(d);
    parts.push(virtualHostBytes(g, proxy, svc, port, domains, vs));
  }
  parts.push(g.cache.bytes(ROUTE_CONFIG, new RouteFragmentKey('catchall', blocked), () => ({
    virtual_hosts: [{
      name: blocked ? 'block_all' : 'allow_any', domains: ['*'],
      routes: [{ name: blocked ? 'block_all' : 'allow_any', match: { prefix: '/' }, route: { cluster: blocked ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER, timeout: { seconds: 0, nanos: 0 } } }],
    }],
  })));
  return concatenated(TypeUrl.RouteConfiguration, String(port), parts);
}
