/**
 * xDS config the proxy benchmarks serve: the sidecar config of the throughput cases and a mesh of
 * many services (clusters, endpoints and routes as Istio's control plane sends a sidecar that
 * sees every service of the mesh).
 */
import { TypeUrl, cluster, clusterLoadAssignment, httpConnectionManager, listener, route, routeConfiguration, virtualHost, type Snapshot } from '@tsmesh/xds';

type Resources = Parameters<typeof Snapshot.create>[1];

/**
 * `n` services `svc-<i>.bench-<i % 20>.svc.cluster.local:80`, each with an EDS cluster (circuit
 * breakers and outlier detection as DestinationRules set them), `endpointsPer` endpoints in
 * 127.0.1.0/24 and a virtual host in the outbound `80` route table; one listener on `port` whose
 * route table also sends `upstream.bench` to `upstreamPort` (so the proxy can be loaded while it
 * holds the whole mesh).
 */
export function meshConfig(n: number, port: number, upstreamPort: number, endpointsPer = 3): Resources {
  const clusters = [];
  const assignments = [];
  const hosts = [];
  for (let i = 0; i < n; i++) {
    const ns = `bench-${i % 20}`;
    const fqdn = `svc-${i}.${ns}.svc.cluster.local`;
    const name = `outbound|80||${fqdn}`;
    clusters.push(cluster({
      name, connectTimeoutMs: 10_000,
      circuitBreakers: { maxConnections: 4294967295, maxPendingRequests: 4294967295, maxRequests: 4294967295, maxRetries: 4294967295 },
      outlierDetection: { consecutive5xx: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100 },
    }));
    assignments.push(clusterLoadAssignment(name, Array.from({ length: endpointsPer }, (_, k) => ({ address: `127.0.1.${1 + ((i * endpointsPer + k) % 250)}`, port: 8080 + k }))));
    hosts.push(virtualHost(`${fqdn}:80`, [fqdn, `${fqdn}:80`, `svc-${i}.${ns}`, `svc-${i}.${ns}:80`, `svc-${i}.${ns}.svc`], [route({ cluster: name, timeoutMs: 0, retry: { retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes', numRetries: 2 } })]));
  }
  const up = 'outbound|80||upstream.bench';
  clusters.push(cluster({ name: up }));
  assignments.push(clusterLoadAssignment(up, [{ address: '127.0.0.1', port: upstreamPort }]));
  hosts.push(virtualHost('upstream.bench', ['upstream.bench', '*'], [route({ cluster: up, timeoutMs: 0 })]));
  return {
    [TypeUrl.Listener]: [listener({ name: '0.0.0.0_80', address: '127.0.0.1', port, filterChains: [{ filters: [httpConnectionManager({ statPrefix: 'outbound_0.0.0.0_80', rdsName: '80' })] }] })],
    [TypeUrl.RouteConfiguration]: [routeConfiguration('80', hosts)],
    [TypeUrl.Cluster]: clusters,
    [TypeUrl.ClusterLoadAssignment]: assignments,
  };
}
