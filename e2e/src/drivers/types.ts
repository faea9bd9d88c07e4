/** What a scenario needs from a cluster: written once, run on the local runtime or on kind. */
import type { ClusterDriver } from '@tsmesh/cluster';
import type { RunningPrometheus } from '@tsmesh/local-runtime';

/** Output of a command run inside a pod's network. */
export interface ExecOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A mesh with the samples, reachable from the test process. */
export interface MeshDriver extends ClusterDriver {
  readonly name: 'local' | 'kind';
  /** Why this driver cannot run on this machine, or null when it can. */
  unavailable(): Promise<string | null>;
  /** Brings up the mesh (control plane, CA, injector, gateway) and the samples, and waits until every pod is ready. */
  up(): Promise<void>;
  /** Waits until every pod is ready again (after a kill, a restart). */
  waitReady(timeoutMs: number): Promise<void>;
  /** Waits until a Deployment's rollout is complete (`kubectl rollout status deployment/<name>`). */
  rolloutStatus(namespace: string, name: string, timeoutMs: number): Promise<void>;
  /** Tears everything down. */
  down(): Promise<void>;
  /** Applies Kubernetes/Istio YAML (one or more documents). */
  apply(yaml: string): Promise<void>;
  /** Deletes the objects of Kubernetes/Istio YAML (missing ones are ignored). */
  delete(yaml: string): Promise<void>;
  /** Where a Service's port is reachable from this machine (the VIP on the local driver, a port-forward on kind). */
  serviceAddress(namespace: string, name: string, port: number): Promise<{ host: string; port: number }>;
  /** Issues (or re-issues) a kubernetes.io/tls Secret `namespace/name` for `hosts`, signed by the mesh root. */
  issueTlsSecret(namespace: string, name: string, hosts: string[]): Promise<void>;
  /** The status the control plane wrote for a Gateway API object (`Gateway`, `HTTPRoute`…), or undefined while there is none. */
  gatewayApiStatus(kind: string, namespace: string, name: string): Promise<Record<string, unknown> | undefined>;
  /** Base URL of the ingress gateway's HTTP port on this machine. */
  gatewayHttp(): string;
  /** Host and port of the ingress gateway's HTTPS port on this machine. */
  gatewayHttps(): { host: string; port: number };
  /** Base URL of the control plane's monitoring port (status, config dump, metrics). */
  controlPlane(): string;
  /** Runs a command inside the network of the first ready pod matching `labels` in `namespace`. */
  exec(namespace: string, labels: Record<string, string>, argv: string[], opts?: { uid?: number }): Promise<ExecOutput>;
  /** The trust bundle (PEM) workloads use. */
  rootCertPem(): Promise<string>;
  /** IP of the first ready pod matching `labels`. */
  podIP(namespace: string, labels: Record<string, string>): string;
  /** Restart count of a container of the first pod matching `labels`. */
  restarts(namespace: string, labels: Record<string, string>, container: string): number;
  /** Kills (SIGKILL) a container of the first pod matching `labels`; its kubelet restarts it. */
  killContainer(namespace: string, labels: Record<string, string>, container: string): Promise<void>;
  /** Re-issues the gateway's credential Secret (`istio-system/tsmesh-gateway-cert`) for `hosts`. */
  rotateGatewayCert(hosts: string[]): Promise<void>;
  /** Counts packets crossing the pod network whose payload contains `pattern` (plaintext on the wire). */
  watchWire(pattern: string): Promise<{ packets: () => Promise<number>; remove: () => Promise<void> }>;
  /**
   * Starts (once) a Prometheus scraping the mesh with Istio's job names; resolves with it, or with
   * why it cannot run here. Drivers without one leave it out.
   */
  prometheus?(): Promise<RunningPrometheus | string>;
  /**
   * Where the proxies export OTLP/HTTP traces (`host:port` of this machine, where a scenario runs
   * the receiver), or why they do not. Drivers without it leave it out.
   */
  otlpReceiver?(): { host: string; port: number } | string;
}
