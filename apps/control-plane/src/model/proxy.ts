/** A connected proxy as translation sees it: kind, identity, namespace and workload labels. */
import { CLIENT_FEATURE_VHDS, parseNodeId, structToPlain, type Node__Output } from '@tsmesh/xds';
import type { PushContext } from './push-context';

/** The proxy kinds the control plane generates for. */
export type ProxyKind = 'sidecar' | 'router' | 'grpc';

/** Identity and placement of one proxy. */
export interface Proxy {
  id: string;
  kind: ProxyKind;
  ip: string;
  podName: string;
  namespace: string;
  /** Labels from node metadata `LABELS`, else from the Pod in the registry. */
  labels: Record<string, string>;
  serviceAccount?: string;
  metadata: Record<string, unknown>;
  /** The client declared {@link CLIENT_FEATURE_VHDS} in `Node.client_features`: its sidecar route tables come as VHDS. */
  vhds?: boolean;
}

/**
 * Reads a proxy from its xDS node: Istio's node id (`sidecar~ip~pod.ns~ns.svc.cluster.local`,
 * `router~...`), metadata `LABELS`, `NAMESPACE`, `SERVICE_ACCOUNT`, `GENERATOR` (`grpc` for
 * proxyless gRPC clients). Node ids of another form are accepted as proxyless gRPC clients
 * when `GENERATOR` is `grpc`; otherwise they throw naming the problem.
 */
export function proxyFromNode(node: Pick<Node__Output, 'id' | 'metadata'> & { client_features?: readonly string[] }): Proxy {
  const md = structToPlain(node.metadata);
  const grpc = md.GENERATOR === 'grpc';
  let parsed: { type: string; ip: string; podName: string; namespace: string } | undefined;
  try {
    parsed = parseNodeId(node.id);
  } catch (err) {
    if (!grpc) throw err;
  }
  const labels = md.LABELS && typeof md.LABELS === 'object' ? (md.LABELS as Record<string, string>) : {};
  return {
    id: node.id,
    kind: grpc ? 'grpc' : (parsed!.type as 'sidecar' | 'router'),
    ip: parsed?.ip ?? String(md.INSTANCE_IPS ?? '').split(',')[0],
    podName: parsed?.podName ?? String(md.NAME ?? node.id),
    namespace: parsed?.namespace ?? String(md.NAMESPACE ?? 'default'),
    labels,
    serviceAccount: typeof md.SERVICE_ACCOUNT === 'string' ? md.SERVICE_ACCOUNT : undefined,
    metadata: md,
    ...(node.client_features?.includes(CLIENT_FEATURE_VHDS) ? { vhds: true } : {}),
  };
}

/** The proxy with labels and service account completed from the Pod the push context knows. */
export function completeProxy(p: Proxy, push: PushContext): Proxy {
  const pod = push.registry.podsByKey.get(`${p.namespace}/${p.podName}`) ?? (p.ip ? push.registry.podsByIp.get(p.ip) : undefined);
  if (!pod) return p;
  return {
    ...p,
    labels: { ...(pod.metadata?.labels ?? {}), ...p.labels },
    serviceAccount: p.serviceAccount ?? pod.spec?.serviceAccountName ?? 'default',
  };
}
