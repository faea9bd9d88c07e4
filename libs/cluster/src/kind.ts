/**
 * The kind side shared by the demo (`tsmesh demo --kind`) and the e2e kind driver: the kind CLI,
 * the prerequisite checks, the cluster config derived from infra/kind/cluster.yaml, and
 * `kubectl apply --server-side` of raw YAML (every CRD schema field kept) in the order a tree of
 * manifests needs (Namespaces and CRDs first, CRDs `Established` before the rest).
 */
import { parseDocument, stringify } from 'yaml';
import { runCli, type CliOptions } from './cli';

/** The oldest kind whose releases ship the node image infra/kind/cluster.yaml pins. */
export const KIND_MIN_VERSION = '0.25.0';

/** The images a mesh runs (`tsmesh/<app>:latest`). */
export const MESH_IMAGES = ['proxy', 'control-plane', 'ca', 'injector', 'todolist', 'caller', 'callme'];

/** `a.b.c` ≥ `x.y.z`. */
export function versionAtLeast(have: string, want: string): boolean {
  const p = (v: string) => v.replace(/^v/, '').split(/[.-]/).slice(0, 3).map((n) => Number.parseInt(n, 10) || 0);
  const [a, b] = [p(have), p(want)];
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

/** A thin wrapper of the kind CLI for one cluster (`kubeconfig`: the file kind writes the cluster's context into, else kind's default). */
export class KindCli {
  constructor(readonly clusterName: string, readonly kubeconfigFile?: string) {}
  private get kc(): string[] {
    return this.kubeconfigFile ? ['--kubeconfig', this.kubeconfigFile] : [];
  }
  async version(): Promise<string> {
    return (await runCli('kind', ['version'], { timeoutMs: 10_000 })).trim();
  }
  async clusters(): Promise<string[]> {
    return (await runCli('kind', ['get', 'clusters'])).split('\n').filter(Boolean);
  }
  async create(configFile: string, wait = '180s'): Promise<void> {
    await runCli('kind', ['create', 'cluster', '--name', this.clusterName, ...this.kc, '--config', configFile, '--wait', wait], { timeoutMs: 600_000 });
  }
  async load(image: string): Promise<void> {
    await runCli('kind', ['load', 'docker-image', '--name', this.clusterName, image], { timeoutMs: 600_000 });
  }
  async kubeconfig(): Promise<string> {
    return runCli('kind', ['get', 'kubeconfig', '--name', this.clusterName]);
  }
  async delete(): Promise<void> {
    await runCli('kind', ['delete', 'cluster', '--name', this.clusterName, ...this.kc]);
  }
}

/**
 * Why kind cannot run here, or null: kind ≥ {@link KIND_MIN_VERSION}, kubectl, a Docker engine.
 * `who` names the user of the cluster in the messages (`the kind driver`, `--kind`).
 */
export async function kindUnavailable(kind: KindCli, who: string): Promise<string | null> {
  let version: string;
  try {
    version = await kind.version();
  } catch {
    return `the kind CLI is not installed (kind ≥ v${KIND_MIN_VERSION}, https://kind.sigs.k8s.io); ${who} needs kind, kubectl and a Docker engine`;
  }
  const v = /v(\d+\.\d+\.\d+)/.exec(version)?.[1] ?? '0.0.0';
  if (!versionAtLeast(v, KIND_MIN_VERSION)) return `kind ${v} is too old: the node image infra/kind/cluster.yaml pins needs kind ≥ v${KIND_MIN_VERSION}`;
  try {
    await runCli('kubectl', ['version', '--client', '-o', 'json'], { timeoutMs: 10_000 });
  } catch {
    return `kubectl is not installed; ${who} applies the manifests with kubectl (server-side apply)`;
  }
  try {
    await runCli('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 10_000 });
  } catch {
    return `no Docker engine is running (kind runs its node in Docker; infra/docker/engine.sh starts one on Debian); ${who} needs one`;
  }
  return null;
}

/** infra/kind/cluster.yaml with another cluster name and host ports (on loopback), so a second cluster runs beside the first. */
export function clusterConfig(base: string, name: string, ports: { http: number; https: number }): string {
  const doc = parseDocument(base);
  doc.set('name', name);
  const nodes = doc.toJS().nodes as { extraPortMappings?: { containerPort: number; hostPort: number; listenAddress?: string }[] }[];
  for (const n of nodes) {
    for (const m of n.extraPortMappings ?? []) {
      if (m.containerPort === 30080) m.hostPort = ports.http;
      if (m.containerPort === 30443) m.hostPort = ports.https;
      m.listenAddress = '127.0.0.1';
    }
  }
  doc.set('nodes', nodes);
  return doc.toString();
}

/**
 * What `kubectl apply --server-side -f -` receives for `objs`: each object as plain YAML, every field
 * as written (no typed model in between: @kubernetes/client-node's V1JSONSchemaProps drops `enum`
 * and `x-kubernetes-preserve-unknown-fields`, and the API server would then prune those fields).
 */
export function applyPayload(objs: object[]): string {
  return objs.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

/** Errors that mean "the API server is not ready for this yet" (retried). */
const TRANSIENT = /no matches for kind|ensure CRDs are installed|failed calling webhook|connection refused|ServiceUnavailable|the server could not find the requested resource/i;

type Obj = { kind?: unknown; metadata?: unknown };

/** kubectl against one context. */
export class Kubectl {
  constructor(readonly context: string, readonly fieldManager: string) {}

  run(args: string[], opts: CliOptions = {}): Promise<string> {
    return runCli('kubectl', ['--context', this.context, ...args], opts);
  }

  /** Server-side apply of raw YAML, retried while the API server is not ready for a kind (a CRD being established, a webhook starting). */
  async serverSideApply(objs: Obj[], timeoutMs = 180_000): Promise<void> {
    if (objs.length === 0) return;
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.run(['apply', '--server-side', '--force-conflicts', `--field-manager=${this.fieldManager}`, '-f', '-'], { input: applyPayload(objs), timeoutMs: 120_000 });
        return;
      } catch (err) {
        if (!TRANSIENT.test((err as Error).message) || Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  /** A tree of manifests: Namespaces and CRDs first, the CRDs `Established`, then the rest (`extra` with them). */
  async applyTree(objs: Obj[], extra: Obj[] = []): Promise<void> {
    const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition');
    const first = objs.filter((o) => o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition');
    await this.serverSideApply(first);
    if (crds.length) await this.run(['wait', '--for=condition=Established', '--timeout=120s', ...crds.map((c) => `crd/${(c.metadata as { name: string }).name}`)], { timeoutMs: 130_000 });
    await this.serverSideApply([...extra, ...objs.filter((o) => !first.includes(o))]);
  }

  /** `kubectl rollout status deployment/<name>` (every Deployment of the namespace without a name). */
  async rolloutStatus(namespace: string, name: string | undefined, timeoutMs: number): Promise<void> {
    await this.run(['rollout', 'status', name ? `deployment/${name}` : 'deployment', '-n', namespace, `--timeout=${Math.ceil(timeoutMs / 1000)}s`], { timeoutMs: timeoutMs + 10_000 });
  }
}
