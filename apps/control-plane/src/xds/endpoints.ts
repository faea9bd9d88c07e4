/** EDS: one ClusterLoadAssignment per EDS cluster, endpoints filtered by the subset's labels. */
import { clusterLoadAssignment, parseClusterName, type Cluster, type ClusterLoadAssignment } from '@tsmesh/xds';
import type { PushContext } from '../model/push-context';
import { matches } from '../model/push-context';
import type { Proxy } from '../model/proxy';
import { TLS_MODE_ISTIO_METADATA } from './clusters';

/** Load assignments for the EDS clusters among `clusters`. */
export function endpointsFor(push: PushContext, proxy: Proxy, clusters: readonly Cluster[]): ClusterLoadAssignment[] {
  const out: ClusterLoadAssignment[] = [];
  for (const c of clusters) {
    if (c.type !== 'EDS') continue;
    const name = c.eds_cluster_config?.service_name || c.name!;
    out.push(loadAssignment(push, proxy, name));
  }
  return out;
}

/** The load assignment of one `outbound|port|subset|host` cluster (empty for names of another form). */
export function loadAssignment(push: PushContext, proxy: Proxy, clusterName: string): ClusterLoadAssignment {
  const parsed = parseClusterName(clusterName);
  if (!parsed || parsed.direction !== 'outbound') return { cluster_name: clusterName, endpoints: [] };
  const labels = parsed.subset
    ? (push.destinationRule(parsed.host, proxy.namespace)?.spec.subsets?.find((s) => s.name === parsed.subset)?.labels ?? {})
    : {};
  const eps = (push.registry.endpoints.get(parsed.host) ?? [])
    .filter((e) => e.servicePort === parsed.port && e.ready && matches(labels, e.labels))
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
  const cla = clusterLoadAssignment(clusterName, eps.map((e) => ({
    address: e.address, port: e.port, ...(e.zone ? { locality: { zone: e.zone } } : {}),
  })));
  // Endpoints that run a sidecar carry Istio's transport socket match label (auto mTLS).
  const byAddr = new Map(eps.map((e) => [`${e.address}:${e.port}`, e]));
  for (const loc of cla.endpoints ?? []) {
    for (const lb of loc.lb_endpoints ?? []) {
      const sa = lb.endpoint?.address?.socket_address;
      const e = byAddr.get(`${sa?.address}:${sa?.port_value}`);
      if (e?.sidecar) lb.metadata = TLS_MODE_ISTIO_METADATA as never;
    }
  }
  return cla;
}
