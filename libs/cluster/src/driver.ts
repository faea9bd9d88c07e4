/**
 * The mesh driver: one interface for everything the demo (`tsmesh demo`) and the e2e suite ask of
 * a mesh runtime, with two implementations behind it — {@link LocalMeshDriver} (the local runtime,
 * pods in network namespaces on this machine) and {@link KindMeshDriver} (a kind cluster through
 * the kind CLI and kubectl).
 */
import type { RunningPrometheus } from '@tsmesh/local-runtime';

/** Output of a command run inside a pod's network. */
export interface ExecOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A pod as progress and the demo see it. */
export interface PodView {
  /** `namespace/name`. */
  key: string;
  ip: string;
  ready: boolean;
  /** The pod has an injected `istio-proxy` sidecar. */
  sidecar: boolean;
  sidecarReady: boolean;
  restarts: number;
}

/** Pods and endpoints at one instant. */
export interface MeshSnapshot {
  pods: PodView[];
  /** Ready endpoint addresses (`ip:port`) per Service (`namespace/name`), for Services with a selector. */
  endpoints: Record<string, string[]>;
  /** Pods the Deployments ask for. */
  expectedPods: number;
}

/** Where a driver reports progress while the mesh starts. */
export interface ProgressSink {
  snapshot(s: MeshSnapshot): void;
  note(kind: string, subject: string, detail?: string): void;
}

/** Options of {@link MeshDriver.up}. */
export interface UpOptions {
  /** Gets snapshots of the pods and notes (network made, pods admitted, images loaded) while the mesh starts. */
  progress?: ProgressSink;
  /** How long every pod may take to be ready (default: 4 minutes on the local runtime, 15 on kind). */
  timeoutMs?: number;
}

/** The Gateway API flavour of the samples (infra/k8s/gateway-api), running. */
export interface GatewayApiMesh {
  /** Base URL of the deployed Gateway's HTTP listener. */
  http: string;
  /** Host and port of its HTTPS listener (hostname todolist.example.com). */
  https: { host: string; port: number };
  /** The status file the control plane writes for a resource (`Gateway default/todolist-gateway`), if there is one. */
  statusFile(kind: string, namespace: string, name: string): string | undefined;
  /** The control plane's config directory (for `tsmesh analyze`). */
  configDir?: string;
}

/** A mesh (control plane, CA, injector, gateway, samples from infra/k8s/base) on a runtime, reachable from this process. */
export interface MeshDriver {
  readonly name: 'local' | 'kind';
  /** Why this runtime cannot run here, or null when it can. */
  unavailable(): Promise<string | null>;
  /** Brings the mesh up and waits until every pod is ready. */
  up(opts?: UpOptions): Promise<void>;
  /** Waits until every pod is ready again (after a kill, a restart). */
  waitReady(timeoutMs: number): Promise<void>;
  /** Waits until a Deployment's rollout is complete (`kubectl rollout status deployment/<name>`). */
  rolloutStatus(namespace: string, name: string, timeoutMs: number): Promise<void>;
  /** Tears everything down; resolves with what is left behind (empty when nothing). */
  down(): Promise<string[]>;
  /** Applies Kubernetes/Istio YAML (one or more documents); resolves with `Kind namespace/name` of each object. */
  apply(yaml: string): Promise<string[]>;
  /** Deletes the objects of Kubernetes/Istio YAML (missing ones are ignored). */
  delete(yaml: string): Promise<void>;
  /** How a user applies a YAML file while the mesh runs. */
  applyHint(file: string): string;
  /** Current pods and endpoints. */
  snapshot(): Promise<MeshSnapshot>;
  /** The log of a container of a pod (`namespace/name`), its last `tailLines` lines when given (`kubectl logs`). */
  logs(podKey: string, container: string, tailLines?: number): Promise<string>;
  /** The state and last log lines of a pod's containers, for failures. */
  diagnose(podKey: string): Promise<string[]>;
  /** Where the run's files are (logs, config), if any. */
  readonly runDir?: string;
  /** Where a Service's port is reachable from this machine (the VIP on the local runtime, a port-forward on kind). */
  serviceAddress(namespace: string, name: string, port: number): Promise<{ host: string; port: number }>;
  /** A loopback port forwarded to a port of the first ready pod matching `labels` (`preferred` when free); the URL and the pod. */
  forward(namespace: string, labels: Record<string, string>, port: number, preferred?: number): Promise<{ url: string; pod: string }>;
  /** Issues (or re-issues) a kubernetes.io/tls Secret `namespace/name` for `hosts`, signed by the mesh root. */
  issueTlsSecret(namespace: string, name: string, hosts: string[]): Promise<void>;
  /** Re-issues the gateway's credential Secret (`istio-system/tsmesh-gateway-cert`) for `hosts`. */
  rotateGatewayCert(hosts: string[]): Promise<void>;
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
  /** Counts packets crossing the pod network whose payload contains `pattern` (plaintext on the wire). */
  watchWire(pattern: string): Promise<{ packets: () => Promise<number>; remove: () => Promise<void> }>;
  /** Starts (once) a Prometheus scraping the mesh with Istio's job names; resolves with it, or with why it cannot run here. */
  prometheus?(): Promise<RunningPrometheus | string>;
  /** Where the proxies export OTLP/HTTP traces (`host:port` of this machine), or why they do not. */
  otlpReceiver?(): { host: string; port: number } | string;
  /** Applies infra/k8s/gateway-api (with its certificate Secret) and says where its Gateway answers; drivers without it leave it out. */
  gatewayApi?(): Promise<GatewayApiMesh>;
  /** A directory watched for YAML to apply while the mesh runs, where the runtime has one. */
  readonly applyDir?: string;
}

/** `{ app: 'x', version: 'v1' }` → `app=x,version=v1`. */
export function selectorOf(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
}

/** `Kind namespace/name` of each object (namespace `default` when unset, none for cluster-scoped objects without one). */
export function describeObjects(objs: { kind?: string; metadata?: { name?: string; namespace?: string } }[]): string[] {
  return objs.filter((o) => o?.kind).map((o) => `${o.kind} ${o.metadata?.namespace ?? 'default'}/${o.metadata?.name}`);
}
