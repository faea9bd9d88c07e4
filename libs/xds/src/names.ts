/** Istio's naming conventions for xDS resources and proxy node ids. */

/** Parts of an Istio cluster name `direction|port|subset|host`. */
export interface ClusterName {
  direction: 'outbound' | 'inbound';
  port: number;
  subset: string;
  host: string;
}

/** Formats `outbound|8091|v1|callme-service.default.svc.cluster.local` (subset may be empty). */
export function formatClusterName(c: ClusterName): string {
  return `${c.direction}|${c.port}|${c.subset}|${c.host}`;
}

/** Parses an Istio cluster name; returns null for names of another form (BlackHoleCluster, PassthroughCluster, ...). */
export function parseClusterName(name: string): ClusterName | null {
  const parts = name.split('|');
  if (parts.length !== 4) return null;
  const [direction, port, subset, host] = parts;
  if (direction !== 'outbound' && direction !== 'inbound') return null;
  const p = Number(port);
  if (!Number.isInteger(p) || p <= 0 || p > 65535) return null;
  return { direction, port: p, subset, host };
}

/** Proxy kinds of an Istio node id. */
export type ProxyType = 'sidecar' | 'router';

/** Parts of an Istio node id `type~ip~pod.namespace~namespace.svc.cluster.local`. */
export interface NodeId {
  type: ProxyType;
  ip: string;
  podName: string;
  namespace: string;
  domain: string;
}

/** Formats an Istio node id. */
export function formatNodeId(n: Omit<NodeId, 'domain'> & { domain?: string }): string {
  return `${n.type}~${n.ip}~${n.podName}.${n.namespace}~${n.domain ?? `${n.namespace}.svc.cluster.local`}`;
}

/** Parses an Istio node id; throws naming what is wrong. */
export function parseNodeId(id: string): NodeId {
  const parts = id.split('~');
  if (parts.length !== 4) throw new Error(`node id "${id}": expected 4 parts separated by "~", got ${parts.length}`);
  const [type, ip, podDotNs, domain] = parts;
  if (type !== 'sidecar' && type !== 'router') throw new Error(`node id "${id}": type "${type}" is not sidecar or router`);
  const dot = podDotNs.lastIndexOf('.');
  if (dot <= 0) throw new Error(`node id "${id}": "${podDotNs}" is not pod.namespace`);
  return { type, ip, podName: podDotNs.slice(0, dot), namespace: podDotNs.slice(dot + 1), domain };
}
