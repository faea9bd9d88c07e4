/**
 * The cluster driver: what the demo and the e2e suite both need from a mesh runtime, the local
 * runtime or kind. The demo's `DemoMesh` (apps/cli) and e2e's `MeshDriver` extend it with what
 * each adds (progress and snapshots; scenario hooks).
 */
export interface ClusterDriver {
  readonly name: 'local' | 'kind';
  /** Why this runtime cannot run here, or null when it can. */
  unavailable(): Promise<string | null>;
  /** Applies Kubernetes/Istio YAML (one or more documents). */
  apply(yaml: string): Promise<unknown>;
  /** Waits until a Deployment's rollout is complete (`kubectl rollout status deployment/<name>`). */
  rolloutStatus(namespace: string, name: string, timeoutMs: number): Promise<void>;
  /** Tears everything down. */
  down(): Promise<unknown>;
}
