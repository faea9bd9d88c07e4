/**
 * Generation: (proxy, push generation) → encoded Envoy resources per type URL, picked by proxy
 * kind (sidecar, router, proxyless gRPC). The families live in `gen/` — one file per resource
 * type (`cds.ts`, `eds.ts`, `lds.ts`, `rds.ts`, `sds.ts`) — over two caches:
 *   - the {@link XdsCache} (across pushes): every resource, and every virtual host of a route
 *     table, encoded once per typed key (`gen/keys.ts`) and evicted by dependency;
 *   - the {@link PushGeneration} (one push): the parts every proxy of a scope shares by reference.
 * After generation the push generation's patches run, then the EnvoyFilters selecting the proxy
 * (`envoyfilter/`): the patched result is shared per push under a key of the generated part and
 * the selecting EnvoyFilters (`envoyFilterKey`), which are an input like the proxy's namespace and labels.
 */
import { TypeUrl, encodeResource, type EncodedResource, type ResourceMessages, type ResourceTypeUrl } from '@tsmesh/xds';
import { isHttpProtocol, resolveHost } from '@tsmesh/mesh-config';
import type { PushContext, VirtualServiceConfig } from '../model/push-context';
import type { Proxy } from '../model/proxy';
import { outboundPorts } from './listeners';
import { registryOnly, visibleServices } from './scope';
import { gatewayCredentialNames, gatewayListeners, gatewayRoutes, gatewayServers } from './gateway';
import { grpcListenersAndRoutes } from './grpc';
import { numTrustedProxies } from '../model/mesh-config';
import { contentVersion, destinationsOf, joined, PartKey, PushGeneration, type ScopeKey } from './gen/context';
import { GatewayKey } from './gen/keys';
import { delegatesOf } from './routes';
import { encodedInboundClusters, encodedSpecialClusters, outboundClusterSet } from './gen/cds';
import { sidecarInbound, sidecarOutboundListeners } from './gen/lds';
import { sidecarRouteTable } from './gen/rds';
import { gatewayCredentials } from './gen/sds';
import { XdsCache } from './gen/xds-cache';
import { applyEnvoyFilters, envoyFilterKey, type EnvoyFilterReport } from './envoyfilter';

export { PushGeneration, contentVersion, type ResourcePatch } from './gen/context';
export { XdsCache } from './gen/xds-cache';

/** Encoded resources of one proxy, by type, with a content version per type. */
export interface Generated {
  resources: { [K in ResourceTypeUrl]: EncodedResource[] };
  versions: { [K in ResourceTypeUrl]: string };
  /** The shared part of the proxy's resources (equal for proxies that share everything). */
  scope: string;
  /** What the EnvoyFilters selecting the proxy changed (absent when none select it). */
  envoyFilters?: EnvoyFilterReport;
}

type ByType = { [K in ResourceTypeUrl]: EncodedResource[] };

function enc<T extends ResourceTypeUrl>(typeUrl: T, list: ResourceMessages[T][]): EncodedResource[] {
  return list.map((m) => encodeResource(typeUrl, m));
}

function finish(g: PushGeneration, proxy: Proxy, scope: string, r: ByType): Generated {
  for (const p of g.patches) r = p(g, proxy, r);
  const versions = {} as Generated['versions'];
  for (const t of Object.keys(r) as ResourceTypeUrl[]) versions[t] = contentVersion(r[t]);
  return { resources: r, versions, scope };
}

const NONE: EncodedResource[] = [];

interface Outbound {
  clusters: EncodedResource[];
  endpoints: EncodedResource[];
  listeners: EncodedResource[];
  routes: EncodedResource[];
  /** VHDS virtual hosts of every route table (empty for full RDS). */
  virtualHosts: EncodedResource[];
}

/**
 * Whether a sidecar gets VHDS: it declares the client feature, and no patch or EnvoyFilter
 * rewrites its resources (those patch route tables with their virtual hosts inline).
 */
function usesVhds(g: PushGeneration, proxy: Proxy): boolean {
  return proxy.vhds === true && !g.patches.length && !envoyFilterKey(g.push, proxy);
}

/** The outbound side of a sidecar, shared by every proxy of its scope (and RDS form). */
function sidecarOutbound(g: PushGeneration, proxy: Proxy, scope: ScopeKey, vhds: boolean): Outbound {
  return g.shared(vhds ? new PartKey('vhds', [scope.id()]) : scope, () => {
    const services = visibleServices(g.push, proxy);
    const { clusters, endpoints } = outboundClusterSet(g, proxy, services, false);
    const { http } = outboundPorts(services);
    const blocked = registryOnly(g.push, proxy);
    const tables = http.map((port) => sidecarRouteTable(g, proxy, port, services, blocked, vhds));
    return {
      clusters: [...clusters, ...encodedSpecialClusters(g)],
      endpoints,
      listeners: sidecarOutboundListeners(g, proxy, services),
      routes: tables.map((t) => t.table),
      virtualHosts: vhds ? tables.flatMap((t) => t.virtualHosts) : NONE,
    };
  });
}

/** Sidecar: outbound (shared by scope) plus inbound (shared by workload ports and policies). */
function generateSidecar(g: PushGeneration, proxy: Proxy): Generated {
  const scope = g.scopeOf(proxy);
  const vhds = usesVhds(g, proxy);
  const out = sidecarOutbound(g, proxy, scope, vhds);
  const inbound = sidecarInbound(g, proxy);
  const key = new PartKey('sidecar', [scope.id(), inbound.key.id(), vhds]);
  if (g.patches.length) return sidecarResources(g, proxy, key, out, inbound);
  return g.shared(key, () => sidecarResources(g, proxy, key, out, inbound));
}

function sidecarResources(g: PushGeneration, proxy: Proxy, key: PartKey, out: Outbound, inbound: ReturnType<typeof sidecarInbound>): Generated {
  return finish(g, proxy, key.id(), {
    [TypeUrl.Cluster]: joined(g, new PartKey('cds', [key.id()]), [out.clusters, encodedInboundClusters(g, inbound.ports)]),
    [TypeUrl.ClusterLoadAssignment]: out.endpoints,
    [TypeUrl.Listener]: joined(g, new PartKey('lds', [key.id()]), [out.listeners, [inbound.listener]]),
    [TypeUrl.RouteConfiguration]: out.routes,
    [TypeUrl.VirtualHost]: out.virtualHosts,
    [TypeUrl.Secret]: NONE,
  });
}

/** Gateway: listeners and routes per Gateway server, outbound clusters, credential secrets (shared by gateway group). */
function generateRouter(g: PushGeneration, proxy: Proxy): Generated {
  // Gateways of one namespace, labels (policies select by them) and trusted-proxy count share their config.
  const key = new PartKey('router', [proxy.namespace, JSON.stringify(Object.entries(proxy.labels).sort()), String(numTrustedProxies(g.push, proxy))]);
  const make = () => {
    const servers = gatewayServers(g.push, proxy);
    const { clusters, endpoints } = outboundClusterSet(g, proxy, g.push.servicesFor(proxy.namespace), false);
    const inputs = gatewayInputs(g, proxy, servers);
    return finish(g, proxy, key.id(), {
      [TypeUrl.Cluster]: [...clusters, ...encodedSpecialClusters(g)],
      [TypeUrl.ClusterLoadAssignment]: endpoints,
      [TypeUrl.Listener]: g.cache.lookup(inputs('lds'), () => enc(TypeUrl.Listener, gatewayListeners(g.push, proxy, servers))),
      [TypeUrl.RouteConfiguration]: g.cache.lookup(inputs('rds'), () => enc(TypeUrl.RouteConfiguration, gatewayRoutes(g.push, proxy, servers))),
      [TypeUrl.VirtualHost]: NONE,
      [TypeUrl.Secret]: gatewayCredentials(g, proxy.namespace, gatewayCredentialNames(servers)),
    });
  };
  return g.patches.length ? make() : g.shared(key, make);
}

/** The cache key of a gateway group's listeners or route tables: every input they are built from (see {@link GatewayKey}). */
function gatewayInputs(g: PushGeneration, proxy: Proxy, servers: ReturnType<typeof gatewayServers>): (part: 'lds' | 'rds') => GatewayKey {
  const push = g.push;
  const vss: VirtualServiceConfig[] = [];
  for (const ref of new Set(servers.map((s) => s.ref))) {
    for (const vs of push.virtualServicesFor(ref)) {
      for (const v of [vs, ...delegatesOf(push, vs)]) if (!vss.includes(v)) vss.push(v);
    }
  }
  const ras = push.policiesFor(push.requestAuthentications, proxy.namespace, proxy.labels);
  const policies = [...push.policiesFor(push.authorizationPolicies, proxy.namespace, proxy.labels), ...ras];
  const jwksHosts = ras.flatMap((r) => (r.spec.jwtRules ?? []).flatMap((j) => {
    try {
      return j.jwksUri ? [resolveHost(new URL(j.jwksUri).hostname, 'default', push.options.domain)] : [];
    } catch {
      return [];
    }
  }));
  const hosts = [...new Set([...vss.flatMap((v) => destinationsOf(v, push.options.domain)), ...jwksHosts])].sort();
  const labels = JSON.stringify(Object.entries(proxy.labels).sort());
  const hops = numTrustedProxies(push, proxy);
  return (part) => new GatewayKey(part, proxy.namespace, labels, hops, servers, vss, policies, hosts, push.options.domain, push.options.trustDomain);
}

/** Proxyless gRPC: API listeners, routes, clusters and endpoints that @grpc/grpc-js-xds accepts. */
function generateGrpc(g: PushGeneration, proxy: Proxy): Generated {
  const scope = g.scopeOf(proxy);
  const make = () => {
    const services = visibleServices(g.push, proxy).filter((s) => s.ports.some((p) => isHttpProtocol(p.protocol)));
    const { listeners, routes } = grpcListenersAndRoutes(g.push, proxy, services);
    const { clusters, endpoints } = outboundClusterSet(g, proxy, services, true);
    return finish(g, proxy, scope.id(), {
      [TypeUrl.Cluster]: clusters,
      [TypeUrl.ClusterLoadAssignment]: endpoints,
      [TypeUrl.Listener]: enc(TypeUrl.Listener, listeners),
      [TypeUrl.RouteConfiguration]: enc(TypeUrl.RouteConfiguration, routes),
      [TypeUrl.VirtualHost]: NONE,
      [TypeUrl.Secret]: NONE,
    });
  };
  return g.patches.length ? make() : g.shared(new PartKey('grpc', [scope.id()]), make);
}

const standalone = new WeakMap<PushContext, PushGeneration>();

/**
 * Generates every resource of a proxy for a push. Without a generation (tests, one-off tools)
 * one is made per push context, with a cache of its own.
 */
export function generate(push: PushContext | PushGeneration, proxy: Proxy): Generated {
  let g: PushGeneration;
  if (push instanceof PushGeneration) {
    g = push;
  } else {
    g = standalone.get(push) ?? new PushGeneration(push, new XdsCache());
    standalone.set(push, g);
  }
  switch (proxy.kind) {
    case 'router': return withEnvoyFilters(g, proxy, generateRouter(g, proxy));
    case 'grpc': return generateGrpc(g, proxy);
    default: return withEnvoyFilters(g, proxy, generateSidecar(g, proxy));
  }
}

/** The generated resources with the EnvoyFilters selecting the proxy applied, shared by (generated part, EnvoyFilter key). */
function withEnvoyFilters(g: PushGeneration, proxy: Proxy, out: Generated): Generated {
  const key = envoyFilterKey(g.push, proxy);
  if (!key) return out;
  return g.shared(new PartKey('envoyfilter', [out.scope, key]), () => applyEnvoyFilters(g.push, proxy, out));
}
