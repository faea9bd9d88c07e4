/** Builders for `envoy.config.endpoint.v3.ClusterLoadAssignment`. */
import type { ClusterLoadAssignment, LbEndpoint } from '../types';

/** One endpoint of a load assignment. */
export interface EndpointSpec {
  address: string;
  port: number;
  /** `load_balancing_weight`, default 1. */
  weight?: number;
  health?: 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'UNKNOWN';
  /** Locality (`region/zone/subzone`), all optional. */
  locality?: { region?: string; zone?: string; sub_zone?: string };
  /** Filter metadata under `istio` (e.g. workload labels, TLS mode label `tlsMode: istio`). */
  metadata?: Record<string, string>;
}

/**
 * A `ClusterLoadAssignment`. Endpoints are grouped by locality; each locality gets weight equal
 * to the sum of its endpoints' weights (proxyless gRPC ignores localities with no weight).
 */
export function clusterLoadAssignment(clusterName: string, endpoints: EndpointSpec[]): ClusterLoadAssignment {
  const groups = new Map<string, { locality: EndpointSpec['locality']; eps: LbEndpoint[]; weight: number }>();
  for (const e of endpoints) {
    const key = `${e.locality?.region ?? ''}/${e.locality?.zone ?? ''}/${e.locality?.sub_zone ?? ''}`;
    let g = groups.get(key);
    if (!g) {
      g = { locality: e.locality, eps: [], weight: 0 };
      groups.set(key, g);
    }
    const w = e.weight ?? 1;
    g.weight += w;
    const lb: LbEndpoint = {
      endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
      health_status: e.health ?? 'HEALTHY',
      load_balancing_weight: { value: w },
    };
    if (e.metadata) {
      lb.metadata = { filter_metadata: { istio: { fields: Object.fromEntries(Object.entries(e.metadata).map(([k, v]) => [k, { stringValue: v }])) } } };
    }
    g.eps.push(lb);
  }
  return {
    cluster_name: clusterName,
    endpoints: [...groups.values()].map((g) => ({
      locality: g.locality ?? {},
      lb_endpoints: g.eps,
      load_balancing_weight: { value: g.weight },
    })),
  };
}
