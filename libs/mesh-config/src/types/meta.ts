/** Object metadata and the resource envelope shared by Istio and Kubernetes resources. */

/** The subset of Kubernetes `ObjectMeta` tsmesh reads. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | Date;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid?: string }[];
}

/** A Kubernetes-style object: `apiVersion`, `kind`, `metadata`, and a spec of type `S`. */
export interface KubeObject<S = unknown> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: S;
}

/** `LabelSelector` as Istio and Kubernetes use it (only `matchLabels` for Istio workload selectors). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Istio's `WorkloadSelector` (`workloadSelector.labels`). */
export interface WorkloadSelector {
  labels?: Record<string, string>;
}

/** `targetRef` of Istio security policies (Gateway API style). */
export interface PolicyTargetReference {
  group?: string;
  kind: string;
  name: string;
  namespace?: string;
}
