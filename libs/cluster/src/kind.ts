/**
 * The kind side shared by the demo (`tsmesh demo --kind`) and the e2e kind driver: the kind CLI,
 * the prerequisite checks, the cluster config derived from infra/kind/cluster.yaml, and
 * `kubectl apply --server-side` of raw YAML (every CRD schema field kept) in the order a tree of
 * manifests needs (Namespaces and CRDs first, CRDs `Established` before the rest).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
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

/** kubectl against one context (in `kubeconfig`, when one is named; else kubectl's own, `$KUBECONFIG` or ~/.kube/config). */
export class Kubectl {
  constructor(readonly context: string, readonly fieldManager: string, readonly kubeconfig?: string) {}

  /** The full argument list of `kubectl args…`: the kubeconfig (when named) and the context first. */
  argv(args: string[]): string[] {
    return [...(this.kubeconfig ? ['--kubeconfig', this.kubeconfig] : []), '--context', this.context, ...args];
  }

  /** Runs `kubectl args…`; rejects naming the command and its stderr. */
  run(args: string[], opts: CliOptions = {}): Promise<string> {
    return runCli('kubectl', this.argv(args), opts);
  }

  /** {@link Kubectl.run}, synchronously (short reads: a pod's status). */
  runSync(args: string[], timeoutMs = 30_000): string {
    try {
      return execFileSync('kubectl', this.argv(args), { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
    }
  }

  /**
   * Starts `kubectl args…` as a child (port-forward, exec with streams); the caller owns it. A
   * kubectl that exits without reading its stdin (EPIPE) reports through its exit code and stderr.
   */
  spawn(args: string[], env?: Record<string, string>): ChildProcess {
    const child = spawn('kubectl', this.argv(args), { stdio: ['pipe', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : undefined });
    child.stdin.on('error', () => undefined);
    return child;
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

  /** `kubectl wait --for=condition=Established` of CRDs. */
  async waitEstablished(crdNames: string[]): Promise<void> {
    if (crdNames.length) await this.run(['wait', '--for=condition=Established', '--timeout=120s', ...crdNames.map((n) => `crd/${n}`)], { timeoutMs: 130_000 });
  }

  /** A tree of manifests: Namespaces and CRDs first, the CRDs `Established`, then the rest (`extra` with them). */
  async applyTree(objs: Obj[], extra: Obj[] = []): Promise<void> {
    const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition');
    const first = objs.filter((o) => o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition');
    await this.serverSideApply(first);
    await this.waitEstablished(crds.map((c) => (c.metadata as { name: string }).name));
    await this.serverSideApply([...extra, ...objs.filter((o) => !first.includes(o))]);
  }

  /** `kubectl rollout status deployment/<name>` (every Deployment of the namespace without a name). */
  async rolloutStatus(namespace: string, name: string | undefined, timeoutMs: number): Promise<void> {
    await this.run(['rollout', 'status', name ? `deployment/${name}` : 'deployment', '-n', namespace, `--timeout=${Math.ceil(timeoutMs / 1000)}s`], { timeoutMs: timeoutMs + 10_000 });
  }

  /** `kubectl rollout restart deployment -n <namespace>`. */
  async rolloutRestart(namespace: string): Promise<void> {
    await this.run(['rollout', 'restart', 'deployment', '-n', namespace], { timeoutMs: 60_000 });
  }

  /** `kubectl get … -o json`, parsed. */
  async getJson<T>(args: string[]): Promise<T> {
    return JSON.parse(await this.run(['get', ...args, '-o', 'json'])) as T;
  }

  /** {@link Kubectl.getJson}, synchronously. */
  getJsonSync<T>(args: string[]): T {
    return JSON.parse(this.runSync(['get', ...args, '-o', 'json'])) as T;
  }

  /** `kubectl delete --ignore-not-found -f -` of YAML. */
  async deleteYaml(yaml: string): Promise<void> {
    await this.run(['delete', '--ignore-not-found', '-f', '-'], { input: yaml });
  }

  /**
   * `kubectl port-forward <target> [local]:<port> --address 127.0.0.1`, kept running until the child
   * is killed; resolves with the child and the loopback port once kubectl prints it.
   */
  portForward(namespace: string, target: string, port: number, local = 0): Promise<{ child: ChildProcess; port: number }> {
    const child = this.spawn(['port-forward', '-n', namespace, target, `${local || ''}:${port}`, '--address', '127.0.0.1']);
    child.stdin?.end();
    return new Promise((done, fail) => {
      let out = '';
      const timer = setTimeout(() => {
        child.kill();
        fail(new Error(`kubectl port-forward ${target}: no port after 30 s: ${out}`));
      }, 30_000);
      const read = (d: Buffer) => {
        out += d;
        const m = /127\.0\.0\.1:(\d+) ->/.exec(out);
        if (m) {
          clearTimeout(timer);
          done({ child, port: Number(m[1]) });
        }
      };
      child.stdout?.on('data', read);
      child.stderr?.on('data', (d: Buffer) => (out += d));
      child.on('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`kubectl port-forward ${target} exited ${code}: ${out.trim()}`));
      });
    });
  }
}
