/**
 * CDS generation: outbound clusters per service, port and subset (cached by {@link ClusterKey},
 * shared within a push by service and DestinationRule), inbound clusters per workload port, and
 * the special clusters. Each outbound EDS cluster brings its load assignment (see eds.ts).
 */
import { formatClusterName, TypeUrl, type EncodedResource } from '@tsmesh/xds';
import type { Proxy } from '../../model/proxy';
import type { ServiceModel } from '../../registry/registry';
import { inboundCluster, outboundCluster, specialClusters } from '../clusters';
import type { WorkloadPort } from '../listeners';
import { PartKey, type PushGeneration } from './context';
import { encodedLoadAssignment } from './eds';
import { ClusterKey, InboundClusterKey, SpecialClusterKey } from './keys';

/** Outbound clusters and their load assignments. */
export interface ClusterSet {
  clusters: EncodedResource[];
  endpoints: EncodedResource[];
}

/** The clusters of one service as seen from the proxy's namespace (shared within the push). */
export function serviceClusters(g: PushGeneration, proxy: Proxy, svc: ServiceModel, proxyless: boolean): ClusterSet {
  const dr = g.push.destinationRule(svc.hostname, proxy.namespace);
  // A service's clusters depend on the service, its DestinationRule and endpoints, not on who asks.
  return g.shared(new PartKey('service-clusters', [svc.hostname, dr?.resource.key ?? '', proxyless]), () => {
    const clusters: EncodedResource[] = [];
    const endpoints: EncodedResource[] = [];
    const subsets = ['', ...(dr?.spec.subsets ?? []).map((s) => s.name)];
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue;
      for (const subset of subsets) {
        const c = g.cache.resource(TypeUrl.Cluster, new ClusterKey(svc, port, subset, dr, proxyless, g.push.options.trustDomain), () => outboundCluster(g.push, proxy, svc, port, subset, proxyless));
        clusters.push(c);
        if ((c.message as { type?: string }).type === 'EDS') {
          const name = formatClusterName({ direction: 'outbound', port: port.port, subset, host: svc.hostname });
          endpoints.push(encodedLoadAssignment(g, proxy, name, svc.hostname, dr));
        }
      }
    }
    return { clusters, endpoints };
  });
}

/** Outbound clusters (and load assignments) of the given services, in order. */
export function outboundClusterSet(g: PushGeneration, proxy: Proxy, services: readonly ServiceModel[], proxyless: boolean): ClusterSet {
  const clusters: EncodedResource[] = [];
  const endpoints: EncodedResource[] = [];
  for (const svc of services) {
    const one = serviceClusters(g, proxy, svc, proxyless);
    for (const c of one.clusters) clusters.push(c);
    for (const e of one.endpoints) endpoints.push(e);
  }
  return { clusters, endpoints };
}

/** `PassthroughCluster`, `InboundPassthroughClusterIpv4`, `BlackHoleCluster`. */
export function encodedSpecialClusters(g: PushGeneration): EncodedResource[] {
  return g.shared(new PartKey('special-clusters', []), () => specialClusters().map((c) => g.cache.resource(TypeUrl.Cluster, new SpecialClusterKey(c.name!), () => c)));
}

/** `inbound|<port>||` clusters of a workload's ports (shared within the push by port list). */
export function encodedInboundClusters(g: PushGeneration, ports: readonly WorkloadPort[]): EncodedResource[] {
  return g.shared(new PartKey('inbound-clusters', [JSON.stringify(ports)]), () => ports.map((p) => g.cache.resource(TypeUrl.Cluster, new InboundClusterKey(p.port, p.protocol), () => inboundCluster(p.port, p.protocol === 'HTTP2' || p.protocol === 'GRPC'))));
}
