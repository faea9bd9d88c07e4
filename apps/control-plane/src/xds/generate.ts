/**
 * Generators: (proxy, push context) → encoded Envoy resources per type URL. Picked by proxy kind
 * (sidecar, router, proxyless gRPC). Parts shared by many proxies (a namespace's outbound
 * clusters, endpoints, listeners and routes) are generated once per push; each resource (and
 * each virtual host of a route table) is encoded once per distinct content and reused across
 * pushes through an {@link EncodeCache}.
 */
import { createHash } from 'node:crypto';
import {
  encodeResource, formatClusterName, TypeUrl, type EncodedResource, type ResourceMessages, type ResourceTypeUrl,
} from '@tsmesh/xds';
import { isHttpProtocol } from '@tsmesh/mesh-config';
import type { Config, PushContext, VirtualServiceConfig } from '../model/push-context';
import type { Proxy } from '../model/proxy';
import type { ServiceModel } from '../registry/registry';
import { inboundCluster, outboundCluster, specialClusters, subsetsOf } from './clusters';
import { loadAssignment } from './endpoints';
import { inboundListener, mtlsModeFor, outboundListeners, outboundPorts, workloadPorts } from './listeners';
import { defaultRoute, serviceDomains, virtualServiceForHost, virtualServiceRoutes } from './routes';
import { registryOnly, visibleServices } from './scope';
import { gatewayCredentialNames, gatewayListeners, gatewayRoutes, gatewayServers } from './gateway';
import { credentialSecrets } from './secrets';
import { grpcListenersAndRoutes } from './grpc';
import { concatenated, EncodeCache } from './encode-cache';
import { BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER } from './common';

/** A sidecar's inbound side and the key of what it was made from (ports, mTLS modes, policies). */
export interface InboundPart {
  key: string;
  listener: EncodedResource;
  clusters: EncodedResource[];
}

/** Encoded resources of one proxy, by type, with a content version per type. */
export interface Generated {
  resources: { [K in ResourceTypeUrl]: EncodedResource[] };
  versions: { [K in ResourceTypeUrl]: string };
  /** Sidecars: the inbound part, which a caller may pass back while the workload's inputs are unchanged. */
  inbound?: InboundPart;
}

/** The cache used when none is passed (the control plane rotates it once per push). */
export const defaultEncodeCache = new EncodeCache();

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

const versionMemo = new WeakMap<readonly EncodedResource[], string>();

/** Content version of a list of resources: a hash of names and per-resource hashes (memoized per list). */
export function contentVersion(list: readonly EncodedResource[]): string {
  const hit = versionMemo.get(list);
  if (hit) return hit;
  // Generation order is deterministic, so the list is hashed in order, in one update.
  let text = '';
  for (const r of list) text += `${r.name}\0${r.version}\n`;
  const v = createHash('sha256').update(text).digest('hex').slice(0, 12);
  versionMemo.set(list, v);
  return v;
}

/** A list made of shared parts, with a version computed from the parts' versions. */
function joined(push: PushContext, key: string, parts: readonly (readonly EncodedResource[])[]): EncodedResource[] {
  return once(push, `join|${key}`, () => {
    const list = parts.flat();
    versionMemo.set(list, createHash('sha256').update(parts.map((p) => contentVersion(p)).join('+')).digest('hex').slice(0, 12));
    return list;
  });
}

const hash = (text: string) => createHash('sha1').update(text).digest('base64url');

const specKeys = new WeakMap<object, string>();
/** A short content key of a config's identity and spec (memoized per config object). */
function configKey(c: Config<unknown> | undefined): string {
  if (!c) return '';
  let s = specKeys.get(c);
  if (s === undefined) specKeys.set(c, (s = hash(`${c.namespace}/${c.name}:${JSON.stringify(c.spec)}`)));
  return s;
}

/** A short content key of the endpoints of a service port (memoized per push). */
function endpointsKey(push: PushContext, host: string, port: number): string {
  return once(push, `eps|${host}|${port}`, () => hash(JSON.stringify((push.registry.endpoints.get(host) ?? []).filter((e) => e.servicePort === port))));
}

/** The key of the outbound view a proxy shares with others: kind, namespace, Sidecar resource and (when routes depend on them) labels. */
function scopeKey(push: PushContext, proxy: Proxy): string {
  const sc = push.sidecarFor(proxy.namespace, proxy.labels);
  const usesLabels = once(push, 'usesSourceLabels', () => push.virtualServices.some((v) => (v.spec.http ?? []).some((h) => h.match?.some((m) => m.sourceLabels || m.sourceNamespace)) || (v.spec.tcp ?? []).some((t) => t.match?.some((m) => m.sourceLabels))));
  return `${proxy.kind}|${proxy.namespace}|${sc ? `${sc.namespace}/${sc.name}` : ''}|${usesLabels ? JSON.stringify(Object.entries(proxy.labels).sort()) : ''}`;
}

/** Encoded outbound clusters (and their load assignments) for services, cached by content. */
function encodedClusters(push: PushContext, proxy: Proxy, services: readonly ServiceModel[], cache: EncodeCache, proxyless: boolean): { clusters: EncodedResource[]; endpoints: EncodedResource[] } {
  const clusters: EncodedResource[] = [];
  const endpoints: EncodedResource[] = [];
  for (const svc of services) {
    const dr = push.destinationRule(svc.hostname, proxy.namespace);
    const drKey = configKey(dr);
    // A service's clusters depend on the service, its DestinationRule and endpoints, not on who asks.
    const one = once(push, `svcc|${svc.hostname}|${drKey}|${proxyless}`, () => serviceClusters(push, proxy, svc, drKey, cache, proxyless));
    for (const c of one.clusters) clusters.push(c);
    for (const e of one.endpoints) endpoints.push(e);
  }
  return { clusters, endpoints };
}

function serviceClusters(push: PushContext, proxy: Proxy, svc: ServiceModel, drKey: string, cache: EncodeCache, proxyless: boolean): { clusters: EncodedResource[]; endpoints: EncodedResource[] } {
  const clusters: EncodedResource[] = [];
  const endpoints: EncodedResource[] = [];
  {
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue;
      const eps = endpointsKey(push, svc.hostname, port.port);
      for (const subset of ['', ...subsetsOf(push, proxy, svc)]) {
        const key = JSON.stringify([svc.hostname, svc.resolution, svc.external, port.port, port.protocol, subset, drKey, proxyless, push.options.trustDomain, eps]);
        const c = cache.resource(TypeUrl.Cluster, key, () => outboundCluster(push, proxy, svc, port, subset, proxyless));
        clusters.push(c);
        if ((c.message as { type?: string }).type === 'EDS') {
          const name = formatClusterName({ direction: 'outbound', port: port.port, subset, host: svc.hostname });
          endpoints.push(cache.resource(TypeUrl.ClusterLoadAssignment, JSON.stringify([name, drKey, eps]), () => loadAssignment(push, proxy, name)));
        }
      }
    }
  }
  return { clusters, endpoints };
}

const ROUTE_CONFIG = 'envoy.config.route.v3.RouteConfiguration';

/** Key of a VirtualService's content and of the ports of the services it routes to (memoized per push). */
function vsKey(push: PushContext, vs: VirtualServiceConfig | undefined): string {
  if (!vs) return '';
  return once(push, `vs|${vs.namespace}/${vs.name}`, () => {
    const dests = new Set<string>();
    for (const h of vs.spec.http ?? []) for (const d of h.route ?? []) dests.add(d.destination.host);
    const ports = [...dests].map((h) => push.registry.byHost.get(h)?.ports.map((p) => p.port) ?? push.servicesFor(vs.namespace).find((s) => s.name === h && s.namespace === vs.namespace)?.ports.map((p) => p.port));
    return `${configKey(vs)}|${JSON.stringify(ports)}`;
  });
}

/** Sidecar outbound route table `<port>`, encoded from cached per-virtual-host fragments. */
function encodedOutboundRoutes(push: PushContext, proxy: Proxy, port: number, services: readonly ServiceModel[], blocked: boolean, scope: string, cache: EncodeCache): EncodedResource {
  const vss = push.virtualServicesFor('mesh', proxy.namespace);
  const used = new Set<string>();
  const parts: Uint8Array[] = [cache.bytes(ROUTE_CONFIG, `header|${port}`, () => ({ name: String(port), validate_clusters: { value: false } }))];
  const labels = scope.slice(scope.lastIndexOf('|') + 1);
  const fragment = (svc: ServiceModel, domains: string[], vs: VirtualServiceConfig | undefined) => {
    const key = JSON.stringify([svc.hostname, port, domains, vsKey(push, vs), JSON.stringify(svc.ports), vs ? labels : '']);
    return cache.bytes(ROUTE_CONFIG, key, () => {
      const routes = vs ? virtualServiceRoutes(vs, { push, proxy, port, gateway: 'mesh' }) : [];
      if (!routes.length) routes.push(defaultRoute(svc, port));
      return { virtual_hosts: [{ name: `${svc.hostname}:${port}`, domains, routes }] };
    });
  };
  for (const svc of services) {
    const sp = svc.ports.find((p) => p.port === port);
    if (!sp || !isHttpProtocol(sp.protocol)) continue;
    const vs = virtualServiceForHost(vss, svc.hostname);
    // A virtual host's names depend on the client's namespace only for services in that namespace:
    // the fragment is shared by every scope that sees the service the same way.
    const shared = once(push, `frag|${svc.hostname}|${port}|${svc.namespace === proxy.namespace ? proxy.namespace : '*'}|${vs ? `${vs.namespace}/${vs.name}|${labels}` : ''}`, () => {
      const domains = serviceDomains(svc, port, proxy.namespace);
      return { domains, bytes: fragment(svc, domains, vs) };
    });
    if (shared.domains.every((d) => !used.has(d))) {
      for (const d of shared.domains) used.add(d);
      parts.push(shared.bytes);
      continue;
    }
    const domains = shared.domains.filter((d) => !used.has(d));
    if (!domains.length) continue;
    for (const d of domains) used.add(d);
    parts.push(fragment(svc, domains, vs));
  }
  parts.push(cache.bytes(ROUTE_CONFIG, `catchall|${blocked}`, () => ({
    virtual_hosts: [{
      name: blocked ? 'block_all' : 'allow_any', domains: ['*'],
      routes: [{ name: blocked ? 'block_all' : 'allow_any', match: { prefix: '/' }, route: { cluster: blocked ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER, timeout: { seconds: 0, nanos: 0 } } }],
    }],
  })));
  return concatenated(TypeUrl.RouteConfiguration, String(port), parts);
}

interface Outbound {
  clusters: EncodedResource[];
  endpoints: EncodedResource[];
  listeners: EncodedResource[];
  routes: EncodedResource[];
}

function sidecarOutbound(push: PushContext, proxy: Proxy, cache: EncodeCache): Outbound {
  const scope = scopeKey(push, proxy);
  return once(push, `out|${scope}`, () => {
    const services = visibleServices(push, proxy);
    const { clusters, endpoints } = encodedClusters(push, proxy, services, cache, false);
    const { http } = outboundPorts(services);
    const blocked = registryOnly(push, proxy);
    return {
      clusters: [...clusters, ...specialClusters().map((c) => cache.resource(TypeUrl.Cluster, `special|${c.name}`, () => c))],
      endpoints,
      listeners: enc(TypeUrl.Listener, outboundListeners(push, proxy, services)),
      routes: http.map((port) => encodedOutboundRoutes(push, proxy, port, services, blocked, scope, cache)),
    };
  });
}

function finish(r: { [K in ResourceTypeUrl]: EncodedResource[] }): Generated {
  const versions = {} as Generated['versions'];
  for (const t of Object.keys(r) as ResourceTypeUrl[]) versions[t] = contentVersion(r[t]);
  return { resources: r, versions };
}

const NONE: EncodedResource[] = [];

/** Sidecar: outbound (shared) plus inbound (per distinct workload content). */
/** The inbound side of a sidecar: `virtualInbound` and the `inbound|<port>||` clusters. */
function sidecarInbound(push: PushContext, proxy: Proxy, cache: EncodeCache): InboundPart {
  const ports = workloadPorts(push, proxy);
  const modes = [...ports.map((p) => mtlsModeFor(push, proxy, p.port)), mtlsModeFor(push, proxy, 0)];
  const authz = [
    ...push.policiesFor(push.authorizationPolicies, proxy.namespace, proxy.labels).map(configKey),
    ...push.policiesFor(push.requestAuthentications, proxy.namespace, proxy.labels).map(configKey),
  ];
  const key = JSON.stringify([ports, modes, authz, push.options.trustDomain]);
  return {
    key,
    listener: cache.resource(TypeUrl.Listener, `inbound|${key}`, () => inboundListener(push, proxy, ports)),
    clusters: once(push, `inc|${JSON.stringify(ports)}`, () => ports.map((p) => cache.resource(TypeUrl.Cluster, `inbound|${p.port}|${p.protocol}`, () => inboundCluster(p.port, p.protocol === 'HTTP2' || p.protocol === 'GRPC')))),
  };
}

function generateSidecar(push: PushContext, proxy: Proxy, cache: EncodeCache, reuse?: InboundPart): Generated {
  const out = sidecarOutbound(push, proxy, cache);
  const inbound = reuse ?? sidecarInbound(push, proxy, cache);
  const key = `${scopeKey(push, proxy)}|${inbound.key}`;
  return once(push, `sidecar|${key}`, () => ({
    ...finish({
      [TypeUrl.Cluster]: joined(push, `cds|${key}`, [out.clusters, inbound.clusters]),
      [TypeUrl.ClusterLoadAssignment]: out.endpoints,
      [TypeUrl.Listener]: joined(push, `lds|${key}`, [out.listeners, [inbound.listener]]),
      [TypeUrl.RouteConfiguration]: out.routes,
      [TypeUrl.Secret]: NONE,
    }),
    inbound,
  }));
}

/** Gateway: listeners and routes per Gateway server, outbound clusters, credential secrets. */
function generateRouter(push: PushContext, proxy: Proxy, cache: EncodeCache): Generated {
  const servers = gatewayServers(push, proxy);
  const key = `router|${proxy.namespace}|${JSON.stringify(Object.entries(proxy.labels).sort())}`;
  return once(push, key, () => {
    const { clusters, endpoints } = encodedClusters(push, proxy, push.servicesFor(proxy.namespace), cache, false);
    return finish({
      [TypeUrl.Cluster]: [...clusters, ...enc(TypeUrl.Cluster, specialClusters())],
      [TypeUrl.ClusterLoadAssignment]: endpoints,
      [TypeUrl.Listener]: enc(TypeUrl.Listener, gatewayListeners(push, proxy, servers)),
      [TypeUrl.RouteConfiguration]: enc(TypeUrl.RouteConfiguration, gatewayRoutes(push, proxy, servers)),
      [TypeUrl.Secret]: enc(TypeUrl.Secret, credentialSecrets(push, proxy.namespace, gatewayCredentialNames(servers))),
    });
  });
}

/** Proxyless gRPC: API listeners, routes, clusters and endpoints that @grpc/grpc-js-xds accepts. */
function generateGrpc(push: PushContext, proxy: Proxy, cache: EncodeCache): Generated {
  return once(push, `grpc|${scopeKey(push, proxy)}`, () => {
    const services = visibleServices(push, proxy).filter((s) => s.ports.some((p) => isHttpProtocol(p.protocol)));
    const { listeners, routes } = grpcListenersAndRoutes(push, proxy, services);
    const { clusters, endpoints } = encodedClusters(push, proxy, services, cache, true);
    return finish({
      [TypeUrl.Cluster]: clusters,
      [TypeUrl.ClusterLoadAssignment]: endpoints,
      [TypeUrl.Listener]: enc(TypeUrl.Listener, listeners),
      [TypeUrl.RouteConfiguration]: enc(TypeUrl.RouteConfiguration, routes),
      [TypeUrl.Secret]: NONE,
    });
  });
}

/**
 * Generates every resource of a proxy for a push. `reuseInbound` (a sidecar's `inbound` from an
 * earlier push) skips the inbound side when the caller knows its inputs did not change.
 */
export function generate(push: PushContext, proxy: Proxy, cache: EncodeCache = defaultEncodeCache, reuseInbound?: InboundPart): Generated {
  switch (proxy.kind) {
    case 'router': return generateRouter(push, proxy, cache);
    case 'grpc': return generateGrpc(push, proxy, cache);
    default: return generateSidecar(push, proxy, cache, reuseInbound);
  }
}
