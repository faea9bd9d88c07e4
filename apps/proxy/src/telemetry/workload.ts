/**
 * Who a proxy's workload is, as Istio's telemetry labels it: pod, namespace, workload (the owner:
 * `ISTIO_META_WORKLOAD_NAME`, else the pod name less its ReplicaSet/pod suffixes), app and
 * version labels, canonical service and revision, cluster and principal — and the metadata
 * exchanged with peers (Istio's `x-envoy-peer-metadata` / `x-envoy-peer-metadata-id` headers:
 * base64 of a `google.protobuf.Struct` with NAME, NAMESPACE, WORKLOAD_NAME, LABELS, CLUSTER_ID,
 * SERVICE_ACCOUNT), so each side labels requests with the other's identity.
 */
import { decodeMessage, encodeTrusted } from '@tsmesh/xds';

/** A workload as telemetry names it. */
export interface WorkloadInfo {
  pod: string;
  namespace: string;
  workload: string;
  app: string;
  version: string;
  canonicalService: string;
  canonicalRevision: string;
  cluster: string;
  serviceAccount: string;
  /** SPIFFE ID, '' when unknown. */
  principal: string;
  labels: Record<string, string>;
}

const STRUCT = 'google.protobuf.Struct';

/** Header carrying the peer's metadata. */
export const PEER_METADATA_HEADER = 'x-envoy-peer-metadata';
/** Header carrying the peer's node id. */
export const PEER_METADATA_ID_HEADER = 'x-envoy-peer-metadata-id';

/** The workload name a Deployment's pod belongs to (`callme-v1-7d9f8b6c5-x2x4z` → `callme-v1`). */
export function workloadFromPod(pod: string): string {
  const m = /^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$/.exec(pod);
  if (m) return m[1];
  const s = /^(.+)-\d+$/.exec(pod); // StatefulSet
  return s ? s[1] : pod;
}

/** Workload info from what the proxy knows of its pod. */
export function workloadInfo(o: { pod: string; namespace: string; labels?: Record<string, string>; workloadName?: string; serviceAccount?: string; cluster?: string; trustDomain?: string }): WorkloadInfo {
  const labels = o.labels ?? {};
  const workload = o.workloadName || workloadFromPod(o.pod);
  const app = labels.app ?? labels['app.kubernetes.io/name'] ?? '';
  const version = labels.version ?? labels['app.kubernetes.io/version'] ?? '';
  const sa = o.serviceAccount ?? '';
  return {
    pod: o.pod,
    namespace: o.namespace,
    workload,
    app,
    version,
    canonicalService: labels['service.istio.io/canonical-name'] ?? (app || workload),
    canonicalRevision: labels['service.istio.io/canonical-revision'] ?? (version || 'latest'),
    cluster: o.cluster ?? 'Kubernetes',
    serviceAccount: sa,
    principal: sa ? `spiffe://${o.trustDomain ?? 'cluster.local'}/ns/${o.namespace}/sa/${sa}` : '',
    labels,
  };
}

/** Encodes a workload as Istio's peer metadata header value. */
export function encodePeerMetadata(w: WorkloadInfo): string {
  const str = (v: string) => ({ stringValue: v });
  const labelFields: Record<string, { stringValue: string }> = {};
  for (const [k, v] of Object.entries(w.labels)) labelFields[k] = str(v);
  const fields: Record<string, unknown> = {
    NAME: str(w.pod),
    NAMESPACE: str(w.namespace),
    WORKLOAD_NAME: str(w.workload),
    CLUSTER_ID: str(w.cluster),
    SERVICE_ACCOUNT: str(w.serviceAccount),
    LABELS: { structValue: { fields: labelFields } },
  };
  return Buffer.from(encodeTrusted(STRUCT, { fields })).toString('base64');
}

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const cache = new Map<string, WorkloadInfo | null>();
let lastValue = '';
let lastInfo: WorkloadInfo | null = null;

/**
 * Decodes a peer metadata header; null when malformed. Results are cached by header value (a
 * peer sends the same value on every request), so the hot path does a map lookup.
 */
export function decodePeerMetadata(value: string | undefined, trustDomain = 'cluster.local'): WorkloadInfo | null {
  if (!value) return null;
  // the value of the last request first: comparing it costs less than hashing a fresh string
  if (value === lastValue) return lastInfo;
  const hit = cache.get(value);
  if (hit !== undefined) {
    lastValue = value;
    lastInfo = hit;
    return hit;
  }
  let out: WorkloadInfo | null = null;
  try {
    const s = decodeMessage<Dec>(STRUCT, Buffer.from(value, 'base64'));
    const f = (s.fields ?? {}) as Record<string, Dec>;
    const text = (k: string) => (f[k]?.stringValue as string | undefined) ?? '';
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries((f.LABELS?.structValue?.fields ?? {}) as Record<string, Dec>)) if (typeof v.stringValue === 'string') labels[k] = v.stringValue;
    if (text('NAMESPACE')) {
      out = workloadInfo({ pod: text('NAME'), namespace: text('NAMESPACE'), labels, workloadName: text('WORKLOAD_NAME'), serviceAccount: text('SERVICE_ACCOUNT') || undefined, cluster: text('CLUSTER_ID') || undefined, trustDomain });
    }
  } catch {
    out = null;
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(value, out);
  lastValue = value;
  lastInfo = out;
  return out;
}
