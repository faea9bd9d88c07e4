/**
 * RDS generation for sidecars: the outbound route table `<port>` as the concatenation of an
 * encoded header, one encoded virtual host per HTTP service on the port (cached by
 * {@link VirtualHostKey}) and the catch-all. A VirtualService change re-encodes only the virtual
 * hosts it routes; the table is re-assembled (a copy of bytes) once per scope.
 *
 * For a proxy that takes VHDS the table carries `vhds` (ADS) and no virtual hosts; each virtual
 * host is a `VirtualHost` resource `<port>/<virtual host name>` made from the same cached bytes
 * (no re-encoding), so a VirtualService change sends only the virtual hosts it changed.
 */
import { encodedResource, TypeUrl, vhdsResourceName, type EncodedResource } from '@tsmesh/xds';
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

/** A sidecar's outbound route table `<port>`, and its virtual hosts as VHDS resources when the table carries `vhds`. */
export interface SidecarRoutes {
  table: EncodedResource;
  virtualHosts: EncodedResource[];
}

/** The sidecar outbound route table `<port>` for the visible `services` (full RDS, or `vhds` with its virtual hosts apart). */
export function sidecarRouteTable(g: PushGeneration, proxy: Proxy, port: number, services: readonly ServiceModel[], blocked: boolean, vhds = false): SidecarRoutes {
  const vss = g.push.virtualServicesFor('mesh', proxy.namespace);
  const used = new Set<string>();
  const header = g.cache.bytes(ROUTE_CONFIG, new RouteFragmentKey('header', port), () => ({ name: String(port), validate_clusters: { value: false } }));
  const parts: Uint8Array[] = [];
  const names: string[] = [];
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
    names.push(`${svc.hostname}:${port}`);
    if (shared.domains.every((d) => !used.has(d))) {
      for (const d of shared.domains) used.add(d);
      parts.push(shared.bytes);
      continue;
    }
    const domains = shared.domains.filter((d) => !used.has(d));
    if (!domains.length) {
      names.pop();
      continue;
    }
    for (const d of domains) used.add(d);
    parts.push(virtualHostBytes(g, proxy, svc, port, domains, vs));
  }
  names.push(blocked ? 'block_all' : 'allow_any');
  parts.push(g.cache.bytes(ROUTE_CONFIG, new RouteFragmentKey('catchall', blocked), () => ({
    virtual_hosts: [{
      name: blocked ? 'block_all' : 'allow_any', domains: ['*'],
      routes: [{ name: blocked ? 'block_all' : 'allow_any', match: { prefix: '/' }, route: { cluster: blocked ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER, timeout: { seconds: 0, nanos: 0 } } }],
    }],
  })));
  if (!vhds) return { table: concatenated(TypeUrl.RouteConfiguration, String(port), [header, ...parts]), virtualHosts: [] };
  const vhdsPart = g.cache.bytes(ROUTE_CONFIG, new RouteFragmentKey('vhds', true), () => ({ vhds: { config_source: { ads: {}, resource_api_version: 'V3' } } }));
  return {
    table: g.shared(new PartKey('vhds-table', [port]), () => concatenated(TypeUrl.RouteConfiguration, String(port), [header, vhdsPart])),
    virtualHosts: parts.map((p, i) => virtualHostResource(String(port), names[i], p)),
  };
}

/** VHDS resources by fragment and name (the catch-all's fragment serves every port). */
const vhostResources = new WeakMap<Uint8Array, Map<string, EncodedResource>>();

/**
 * The VHDS resource of one virtual host from its cached fragment (an encoded RouteConfiguration
 * holding just that virtual host: field 2, length-delimited): the bytes after the field's tag and
 * length are the VirtualHost message. Made once per fragment.
 */
function virtualHostResource(routeConfig: string, vhostName: string, fragment: Uint8Array): EncodedResource {
  const name = vhdsResourceName(routeConfig, vhostName);
  let byName = vhostResources.get(fragment);
  if (!byName) vhostResources.set(fragment, (byName = new Map()));
  let r = byName.get(name);
  if (r) return r;
  if (fragment[0] !== 0x12) throw new Error(`route fragment of virtual host "${vhostName}" does not start with virtual_hosts`);
  let i = 1;
  let len = 0;
  for (let shift = 0; ; shift += 7) {
    const b = fragment[i++];
    len |= (b & 0x7f) << shift;
    if (b < 0x80) break;
  }
  if (i + len !== fragment.length) throw new Error(`route fragment of virtual host "${vhostName}" holds more than one virtual host`);
  r = encodedResource(TypeUrl.VirtualHost, name, fragment.subarray(i));
  byName.set(name, r);
  return r;
}
