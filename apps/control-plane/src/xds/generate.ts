/**
 * Generators: (proxy, push context) → encoded Envoy resources per type URL. Picked by proxy kind
 * (sidecar, router, proxyless gRPC). Parts shared by many proxies (a namespace's outbound
 * clusters, endpoints, listeners and routes) are generated and encoded once per push.
 */
import { createHash } from 'node:crypto';
import { encodeResource, TypeUrl, type EncodedResource, type ResourceMessages, type ResourceTypeUrl } from '@tsmesh/xds';
import { isHttpProtocol } from '@tsmesh/mesh-config';
import type { PushContext } from '../model/push-context';
import type { Proxy } from '../model/proxy';
import { inboundCluster, outboundClusters, specialClusters } from './clusters';
import { endpointsFor } from './endpoints';
import { inboundListener, outboundListeners, outboundPorts, workloadPorts } from './listeners';
import { outboundRouteConfig } from './routes';
import { registryOnly, visibleServices } from './scope';
import { gatewayCredentialNames, gatewayListeners, gatewayRoutes, gatewayServers } from './gateway';
import { credentialSecrets } from './secrets';
import { grpcListenersAndRoutes } from './grpc';

/** Encoded resources of one proxy, by type, with a content version per type. */
export interface Generated {
  resources: { [K in ResourceTypeUrl]: EncodedResource[] };
  versions: { [K in ResourceTypeUrl]: string };
}

const memo = new WeakMap<PushContext, Map<string, unknown>>();

/** Memoizes `make` per push context and key. */
function once<T>(push: PushContext, key: string, make: () => T): T {
  let m = memo.get(push);
  if (!m) memo.set(push, (m = new Map()));
  if (m.has(key)) return m.get(key) as T;
  const v = make();
  m.set(key, v);
  return v;
}

function enc<T extends ResourceTypeUrl>(typeUrl: T, list: ResourceMessages[T][]): EncodedResource[] {
  return list.map((m) => encodeResource(typeUrl, m));
}

/** Content version of a list of resources: a hash of names and per-resource hashes. */
export function contentVersion(list: readonly EncodedResource[]): string {
  const h = createHash('sha256');
  for (const r of [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) h.update(r.name).update('\0').update(r.version).update('\n');
  return h.digest('hex').slice(0, 12);
}

/** The key of the outbound view a proxy shares with others: namespace, Sidecar resource and (when routes depend on them) labels. */
function scopeKey(push: PushContext, proxy: Proxy): string {
  const sc = push.sidecarFor(proxy.namespace, proxy.labels);
  const usesLabels = once(push, 'usesSourceLabels', () => push.virtualServices.some((v) => (v.spec.http ?? []).some((h) => h.match?.some((m) => m.sourceLabels || m.sourceNamespace)) || (v.spec.tcp ?? []).some((t) => t.match?.some((m) => m.sourceLabels))));
  return `${proxy.kind}|${proxy.namespace}|${sc ? `${sc.namespace}/${sc.name}` : ''}|${usesLabels ? JSON.stringify(Object.entries(proxy.labels).sort()) : ''}`;
}

interface Outbound {
  clusters: EncodedResource[];
  endpoints: EncodedResource[];
  listeners: EncodedResource[];
  routes: EncodedResource[];
}

function sidecarOutbound(push: PushContext, proxy: Proxy): Outbound {
  return once(push, `out|${scopeKey(push, proxy)}`, () => {
    const services = visibleServices(push, proxy);
    const clusters = [...outboundClusters(push, proxy), ...specialClusters()];
    const { http } = outboundPorts(services);
    return {
      clusters: enc(TypeUrl.Cluster, clusters),
      endpoints: enc(TypeUrl.ClusterLoadAssignment, endpointsFor(push, proxy, clusters)),
      listeners: enc(TypeUrl.Listener, outboundListeners(push, proxy, services)),
      routes: enc(TypeUrl.RouteConfiguration, http.map((port) => outboundRouteConfig(push, proxy, port, services, registryOnly(push, proxy)))),
    };
  });
}

function finish(r: { [K in ResourceTypeUrl]: EncodedResource[] }): Generated {
  const versions = {} as Generated['versions'];
  for (const t of Object.keys(r) as ResourceTypeUrl[]) versions[t] = contentVersion(r[t]);
  return { resources: r, versions };
}

/** Sidecar: outbound (shared) plus inbound (per workload). */
function generateSidecar(push: PushContext, proxy: Proxy): Generated {
  const out = sidecarOutbound(push, proxy);
  const ports = workloadPorts(push, proxy);
  const inboundKey = `in|${proxy.namespace}|${JSON.stringify(Object.entries(proxy.labels).sort())}|${JSON.stringify(ports)}`;
  const inbound = once(push, inboundKey, () => ({
    listener: encodeResource(TypeUrl.Listener, inboundListener(push, proxy, ports)),
    clusters: enc(TypeUrl.Cluster, ports.map((p) => inboundCluster(p.port, p.protocol === 'HTTP2' || p.protocol === 'GRPC'))),
  }));
  return finish({
    [TypeUrl.Cluster]: [...out.clusters, ...inbound.clusters],
    [TypeUrl.ClusterLoadAssignment]: out.endpoints,
    [TypeUrl.Listener]: [...out.listeners, inbound.listener],
    [TypeUrl.RouteConfiguration]: out.routes,
    [TypeUrl.Secret]: [],
  });
}

/** Gateway: listeners and routes per Gateway server, outbound clusters, credential secrets. */
function generateRouter(push: PushContext, proxy: Proxy): Generated {
  const servers = gatewayServers(push, proxy);
  const key = `router|${proxy.namespace}|${JSON.stringify(Object.entries(proxy.labels).sort())}`;
  return once(push, key, () => {
    const clusters = [...outboundClusters(push, proxy), ...specialClusters()];
    return finish({
      [TypeUrl.Cluster]: enc(TypeUrl.Cluster, clusters),
      [TypeUrl.ClusterLoadAssignment]: enc(TypeUrl.ClusterLoadAssignment, endpointsFor(push, proxy, clusters)),
      [TypeUrl.Listener]: enc(TypeUrl.Listener, gatewayListeners(push, proxy, servers)),
      [TypeUrl.RouteConfiguration]: enc(TypeUrl.RouteConfiguration, gatewayRoutes(push, proxy, servers)),
      [TypeUrl.Secret]: enc(TypeUrl.Secret, credentialSecrets(push, proxy.namespace, gatewayCredentialNames(servers))),
    });
  });
}

/** Proxyless gRPC: API listeners, routes, clusters and endpoints that @grpc/grpc-js-xds accepts. */
function generateGrpc(push: PushContext, proxy: Proxy): Generated {
  return once(push, `grpc|${scopeKey(push, proxy)}`, () => {
    const services = visibleServices(push, proxy);
    const { listeners, routes } = grpcListenersAndRoutes(push, proxy, services);
    const httpServices = services.filter((s) => s.ports.some((p) => isHttpProtocol(p.protocol)));
    const clusters = outboundClusters(push, proxy, true).filter((c) => httpServices.some((s) => c.name!.endsWith(`|${s.hostname}`)));
    return finish({
      [TypeUrl.Cluster]: enc(TypeUrl.Cluster, clusters),
      [TypeUrl.ClusterLoadAssignment]: enc(TypeUrl.ClusterLoadAssignment, endpointsFor(push, proxy, clusters)),
      [TypeUrl.Listener]: enc(TypeUrl.Listener, listeners),
      [TypeUrl.RouteConfiguration]: enc(TypeUrl.RouteConfiguration, routes),
      [TypeUrl.Secret]: [],
    });
  });
}

/** Generates every resource of a proxy for a push. */
export function generate(push: PushContext, proxy: Proxy): Generated {
  switch (proxy.kind) {
    case 'router': return generateRouter(push, proxy);
    case 'grpc': return generateGrpc(push, proxy);
    default: return generateSidecar(push, proxy);
  }
}
