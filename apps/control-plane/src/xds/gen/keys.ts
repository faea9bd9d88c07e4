/**
 * Typed cache keys, one per cached resource family (as Istio's `clusterCache.Key()`,
 * `EndpointBuilder.Key()`, `route.Cache.Key()` do). A key is a record of every input its entry
 * is built from: the identity inputs appear in its `id` (two proxies with the same id get the
 * same bytes, so nothing leaks between proxies that differ in an input), and the config it read
 * appears in its `dependencies` (a change to one of them evicts exactly the entries built from it).
 *
 * Dependencies are strings of three forms:
 *   `Kind/namespace/name`   a config resource (VirtualService, DestinationRule, Secret, …)
 *   `service:<hostname>`    a service of the registry (Service or ServiceEntry host: ports, VIP, resolution)
 *   `endpoints:<hostname>`  the endpoints of a service (EndpointSlices, Pods, ServiceEntry endpoints)
 */
import type { Config, VirtualServiceConfig } from '../../model/push-context';
import type { ServiceModel, ServicePortModel } from '../../registry/registry';

/** A dependency of a cache entry (see the module doc for the three forms). */
export type Dependency = string;

/** The dependency on a registry service (its ports, VIP, resolution, names). */
export const serviceDep = (hostname: string): Dependency => `service:${hostname}`;
/** The dependency on the endpoints of a service. */
export const endpointsDep = (hostname: string): Dependency => `endpoints:${hostname}`;
/** The dependency on a config resource: the key of the resource it came from (`Kind/ns/name`). */
export const configDep = (c: Config<unknown>): Dependency => c.resource.key;
/** The dependencies on every resource a config was made from (merged Gateway API routes have several). */
export const configDeps = (c: Config<unknown>): Dependency[] => (c.sources ? c.sources.map((r) => r.key) : [c.resource.key]);

/** What every cache key offers the cache. */
export interface CacheKey {
  /** The resource family (names the cache's partition, for metrics). */
  readonly family: CacheFamily;
  /** A string naming every identity input; equal ids mean equal output while no dependency changed. */
  id(): string;
  /** The config and registry inputs read while building the entry. */
  dependencies(): readonly Dependency[];
}

/** Families of cached entries. */
export type CacheFamily = 'Cluster' | 'ClusterLoadAssignment' | 'VirtualHost' | 'RouteFragment' | 'Listener' | 'Secret' | 'Gateway';

const ref = (c: Config<unknown> | undefined): string => (c ? c.resource.key : '');
const j = (parts: readonly unknown[]): string => JSON.stringify(parts);

/** An outbound cluster `outbound|<port>|<subset>|<host>`. */
export class ClusterKey implements CacheKey {
  readonly family = 'Cluster' as const;
  constructor(
    readonly service: ServiceModel,
    readonly port: ServicePortModel,
    readonly subset: string,
    /** The DestinationRule that applies from the proxy's namespace (its identity; content by dependency). */
    readonly destinationRule: Config<unknown> | undefined,
    /** Proxyless gRPC clusters carry no TLS and a restricted load balancer. */
    readonly proxyless: boolean,
    readonly trustDomain: string,
  ) {}

  id(): string {
    const s = this.service;
    return j(['cds', s.hostname, s.resolution, s.external, this.port.port, this.port.protocol, this.subset, ref(this.destinationRule), this.proxyless, this.trustDomain]);
  }

  dependencies(): Dependency[] {
    // The SANs (the endpoints' service accounts), DNS endpoints and the auto-mTLS choice of DNS /
    // ORIGINAL_DST clusters come from the endpoints; an EDS cluster's auto mTLS does not (the
    // endpoint's EDS metadata picks the socket), so its bytes change only with the accounts.
    const d = [serviceDep(this.service.hostname), endpointsDep(this.service.hostname)];
    if (this.destinationRule) d.push(configDep(this.destinationRule));
    return d;
  }
}

/** The load assignment of one outbound EDS cluster. */
export class EndpointsKey implements CacheKey {
  readonly family = 'ClusterLoadAssignment' as const;
  constructor(
    readonly clusterName: string,
    readonly hostname: string,
    /** Subset labels come from the DestinationRule. */
    readonly destinationRule: Config<unknown> | undefined,
  ) {}

  id(): string {
    return j(['eds', this.clusterName, ref(this.destinationRule)]);
  }

  dependencies(): Dependency[] {
    const d = [endpointsDep(this.hostname), serviceDep(this.hostname)];
    if (this.destinationRule) d.push(configDep(this.destinationRule));
    return d;
  }
}

/**
 * One virtual host of a sidecar's outbound route table `<port>` (an encoded fragment: route
 * tables are concatenations of their virtual hosts).
 */
export class VirtualHostKey implements CacheKey {
  readonly family = 'VirtualHost' as const;
  constructor(
    readonly service: ServiceModel,
    readonly port: number,
    /** The names of the virtual host (they depend on the client's namespace for services in it). */
    readonly domains: readonly string[],
    readonly virtualService: VirtualServiceConfig | undefined,
    /** Hosts the VirtualService routes to (their ports pick the destination port). */
    readonly destinations: readonly string[],
    /** The client's namespace and labels, when the VirtualService matches on them (`sourceLabels`, `sourceNamespace`); else empty. */
    readonly source: string,
    /** Delegate VirtualServices its routes take in (their routes are part of this virtual host). */
    readonly delegates: readonly VirtualServiceConfig[] = [],
  ) {}

  id(): string {
    return j(['vhost', this.service.hostname, this.port, this.domains, ref(this.virtualService), this.source, this.delegates.map(ref)]);
  }

  dependencies(): Dependency[] {
    const d = [serviceDep(this.service.hostname)];
    if (this.virtualService) d.push(configDep(this.virtualService));
    for (const x of this.delegates) d.push(configDep(x));
    for (const h of this.destinations) d.push(serviceDep(h));
    return d;
  }
}

/** A constant part of a route table (its header, the catch-all virtual host). */
export class RouteFragmentKey implements CacheKey {
  readonly family = 'RouteFragment' as const;
  constructor(readonly part: 'header' | 'catchall' | 'vhds', readonly value: string | number | boolean) {}
  id(): string {
    return j(['rds-part', this.part, this.value]);
  }
  dependencies(): Dependency[] {
    return [];
  }
}

/** A sidecar outbound listener: `virtualOutbound`, `0.0.0.0_<port>` (HTTP) or `<VIP>_<port>` (TCP). */
export class OutboundListenerKey implements CacheKey {
  readonly family = 'Listener' as const;
  constructor(
    readonly listener: 'virtualOutbound' | 'http' | 'tcp',
    /** `virtualOutbound`: REGISTRY_ONLY or not; `http`: the port; `tcp`: service and port. */
    readonly detail: string,
    readonly service?: ServiceModel,
    readonly virtualService?: VirtualServiceConfig,
    readonly destinations: readonly string[] = [],
    readonly source = '',
  ) {}

  id(): string {
    return j(['lds-out', this.listener, this.detail, this.service?.hostname ?? '', ref(this.virtualService), this.source]);
  }

  dependencies(): Dependency[] {
    const d: Dependency[] = [];
    if (this.service) d.push(serviceDep(this.service.hostname));
    if (this.virtualService) d.push(configDep(this.virtualService));
    for (const h of this.destinations) d.push(serviceDep(h));
    return d;
  }
}

/** A sidecar's `virtualInbound` listener: workload ports and the policies that apply to the workload. */
export class InboundListenerKey implements CacheKey {
  readonly family = 'Listener' as const;
  constructor(
    readonly ports: readonly { port: number; protocol: string }[],
    readonly peerAuthentications: readonly Config<unknown>[],
    readonly authorizationPolicies: readonly Config<unknown>[],
    readonly requestAuthentications: readonly Config<unknown>[],
    /** Hosts of JWKS URIs (a JWKS served by a mesh service is fetched through its cluster). */
    readonly jwksHosts: readonly string[],
    readonly trustDomain: string,
  ) {}

  id(): string {
    return j(['lds-in', this.ports, this.peerAuthentications.map(ref), this.authorizationPolicies.map(ref), this.requestAuthentications.map(ref), this.trustDomain]);
  }

  dependencies(): Dependency[] {
    return [...this.peerAuthentications, ...this.authorizationPolicies, ...this.requestAuthentications].map(configDep).concat(this.jwksHosts.map(serviceDep));
  }
}

/** An inbound cluster `inbound|<port>||`. */
export class InboundClusterKey implements CacheKey {
  readonly family = 'Cluster' as const;
  constructor(readonly port: number, readonly protocol: string) {}
  id(): string {
    return j(['cds-in', this.port, this.protocol]);
  }
  dependencies(): Dependency[] {
    return [];
  }
}

/** A cluster that does not depend on config (`PassthroughCluster`, `BlackHoleCluster`, …). */
export class SpecialClusterKey implements CacheKey {
  readonly family = 'Cluster' as const;
  constructor(readonly name: string) {}
  id(): string {
    return j(['cds-special', this.name]);
  }
  dependencies(): Dependency[] {
    return [];
  }
}

/** A gateway credential `kubernetes://<name>` (and its `-cacert` twin) from a Secret in the gateway's namespace. */
export class CredentialKey implements CacheKey {
  readonly family = 'Secret' as const;
  constructor(readonly namespace: string, readonly name: string, readonly mutual: boolean) {}
  id(): string {
    return j(['sds', this.namespace, this.name, this.mutual]);
  }
  dependencies(): Dependency[] {
    return [`Secret/${this.namespace}/${this.name}`, `Secret/${this.namespace}/${this.name}-cacert`];
  }
}

/**
 * A gateway group's listeners (`lds`) or route tables (`rds`), kept across pushes: the group
 * (namespace, labels, trusted-proxy count), every Gateway server bound to it (its Gateway, index,
 * bind port, protocol, TLS mode), the VirtualServices bound to those servers and their delegates,
 * and the policies selecting the gateway (by identity; content by dependency), the hosts routed
 * to and the JWKS hosts (registry services).
 */
export class GatewayKey implements CacheKey {
  readonly family = 'Gateway' as const;
  constructor(
    readonly part: 'lds' | 'rds',
    readonly namespace: string,
    readonly labels: string,
    readonly numTrustedProxies: number,
    readonly servers: readonly { gateway: Config<unknown>; index: number; bindPort: number; protocol: string; tlsMode?: string }[],
    readonly virtualServices: readonly Config<unknown>[],
    readonly policies: readonly Config<unknown>[],
    readonly hosts: readonly string[],
    readonly domain: string,
    readonly trustDomain: string,
  ) {}

  id(): string {
    return j(['gw', this.part, this.namespace, this.labels, this.numTrustedProxies, this.servers.map((s) => [ref(s.gateway), s.index, s.bindPort, s.protocol, s.tlsMode ?? '']),
      this.virtualServices.map((v) => (v.sources ? [v.name, ...configDeps(v)] : ref(v))), this.policies.map(ref), this.domain, this.trustDomain]);
  }

  dependencies(): Dependency[] {
    const configs = new Set<Dependency>([...this.servers.map((s) => configDep(s.gateway)), ...this.virtualServices.flatMap(configDeps), ...this.policies.map(configDep)]);
    return [...configs, ...this.hosts.map(serviceDep)];
  }
}
