/**
 * The kind driver: a kind cluster made through the kind CLI, the images built by
 * infra/docker/build-images.sh and loaded with `kind load docker-image`, infra/k8s applied with
 * `@kubernetes/client-node`. Where Docker or kind is missing it says so and the suite skips.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { ExecOutput, MeshDriver } from './types';

const run = promisify(execFile);
const IMAGES = ['proxy', 'control-plane', 'ca', 'injector', 'todolist', 'caller', 'callme'];

/** Runs a CLI and resolves with its output; rejects naming the command and its stderr. */
async function cli(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 600_000, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

/** A thin wrapper of the kind CLI. */
export class KindCli {
  constructor(readonly clusterName: string) {}
  async version(): Promise<string> {
    return (await cli('kind', ['version'])).trim();
  }
  async clusters(): Promise<string[]> {
    return (await cli('kind', ['get', 'clusters'])).split('\n').filter(Boolean);
  }
  async create(configFile: string): Promise<void> {
    await cli('kind', ['create', 'cluster', '--name', this.clusterName, '--config', configFile, '--wait', '120s']);
  }
  async load(image: string): Promise<void> {
    await cli('kind', ['load', 'docker-image', '--name', this.clusterName, image]);
  }
  async kubeconfig(): Promise<string> {
    return cli('kind', ['get', 'kubeconfig', '--name', this.clusterName]);
  }
  async delete(): Promise<void> {
    await cli('kind', ['delete', 'cluster', '--name', this.clusterName]);
  }
}

/** Objects of a kustomization directory, in its `resources` order (plain files and nested directories). */
export function renderKustomization(dir: string): Record<string, unknown>[] {
  const kfile = ['kustomization.yaml', 'kustomization.yml'].map((f) => join(dir, f)).find((f) => statSync(f, { throwIfNoEntry: false }));
  const entries = kfile
    ? ((parseAllDocuments(readFileSync(kfile, 'utf8'))[0]?.toJS() as { resources?: string[] })?.resources ?? [])
    : readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  const out: Record<string, unknown>[] = [];
  for (const entry of entries) {
    const p = resolve(dir, entry);
    if (statSync(p).isDirectory()) out.push(...renderKustomization(p));
    else for (const d of parseAllDocuments(readFileSync(p, 'utf8'))) {
      const o = d.toJS() as Record<string, unknown> | null;
      if (o && typeof o === 'object') out.push(o);
    }
  }
  return out;
}

/** Runs the mesh on a kind cluster. */
export class KindDriver implements MeshDriver {
  readonly name = 'kind' as const;
  private readonly kind: KindCli;
  private kc?: k8s.KubeConfig;

  constructor(private readonly root: string, clusterName = 'tsmesh-e2e') {
    this.kind = new KindCli(clusterName);
  }

  async unavailable(): Promise<string | null> {
    try {
      await this.kind.version();
    } catch {
      return 'the kind CLI is not installed (https://kind.sigs.k8s.io); the kind driver needs kind and a Docker engine';
    }
    try {
      await cli('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 10_000 });
    } catch {
      return 'no Docker engine is running; the kind driver needs one';
    }
    return null;
  }

  async up(): Promise<void> {
    if (!(await this.kind.clusters()).includes(this.kind.clusterName)) await this.kind.create(join(this.root, 'infra/kind/cluster.yaml'));
    await cli('bash', [join(this.root, 'infra/docker/build-images.sh'), '--tag', 'latest'], { cwd: this.root, timeoutMs: 1_800_000 });
    for (const app of IMAGES) await this.kind.load(`tsmesh/${app}:latest`);
    this.kc = new k8s.KubeConfig();
    this.kc.loadFromString(await this.kind.kubeconfig());
    await this.applyObjects(renderKustomization(join(this.root, 'infra/k8s/base')));
    await this.waitDeployments(['istio-system', 'default'], 300_000);
  }

  async waitReady(timeoutMs: number): Promise<void> {
    await this.waitDeployments(['istio-system', 'default'], timeoutMs);
  }

  async down(): Promise<void> {
    if (process.env.E2E_KEEP_CLUSTER !== '1') await this.kind.delete();
  }

  async apply(yaml: string): Promise<void> {
    const objs = parseAllDocuments(yaml).map((d) => d.toJS() as Record<string, unknown>).filter(Boolean);
    await this.applyObjects(objs);
  }

  private async applyObjects(objs: Record<string, unknown>[]): Promise<void> {
    const api = k8s.KubernetesObjectApi.makeApiClient(this.kc!);
    for (const o of objs) {
      const spec = o as k8s.KubernetesObject;
      spec.metadata ??= {};
      try {
        await api.read(spec as { metadata: { name: string; namespace: string } } & k8s.KubernetesObject);
        await api.patch(spec, undefined, undefined, 'tsmesh-e2e', true, k8s.PatchStrategy.ServerSideApply);
      } catch {
        await api.create(spec);
      }
    }
  }

  private async waitDeployments(namespaces: string[], timeoutMs: number): Promise<void> {
    const apps = this.kc!.makeApiClient(k8s.AppsV1Api);
    const until = Date.now() + timeoutMs;
    for (;;) {
      let pending: string[] = [];
      for (const ns of namespaces) {
        const list = await apps.listNamespacedDeployment({ namespace: ns });
        pending = pending.concat(list.items.filter((d) => (d.status?.readyReplicas ?? 0) < (d.spec?.replicas ?? 1)).map((d) => `${ns}/${d.metadata?.name}`));
      }
      if (pending.length === 0) return;
      if (Date.now() > until) throw new Error(`deployments not ready after ${timeoutMs} ms: ${pending.join(', ')}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  gatewayHttp(): string {
    return 'http://127.0.0.1:80';
  }

  gatewayHttps(): { host: string; port: number } {
    return { host: '127.0.0.1', port: 443 };
  }

  controlPlane(): string {
    return process.env.E2E_CONTROL_PLANE ?? 'http://127.0.0.1:15014';
  }

  async exec(namespace: string, labels: Record<string, string>, argv: string[]): Promise<ExecOutput> {
    const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
    const pod = (await cli('kubectl', ['get', 'pod', '-n', namespace, '-l', selector, '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
    return new Promise((resolvePromise) => {
      const child = spawn('kubectl', ['exec', '-n', namespace, pod, '--', ...argv]);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    });
  }

  podIP(): string {
    throw new Error('podIP: reaching pod IPs from the host is not possible on kind; run this scenario on the local driver');
  }

  restarts(): number {
    return -1;
  }

  async killContainer(namespace: string, labels: Record<string, string>): Promise<void> {
    const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
    await cli('kubectl', ['delete', 'pod', '-n', namespace, '-l', selector, '--wait=false']);
  }

  async rotateGatewayCert(): Promise<void> {
    throw new Error('rotateGatewayCert: provide the new Secret with cert-manager or kubectl on kind');
  }

  async watchWire(): Promise<{ packets: () => Promise<number>; remove: () => Promise<void> }> {
    throw new Error('watchWire: capturing pod traffic needs the local driver');
  }

  async rootCertPem(): Promise<string> {
    const core = this.kc!.makeApiClient(k8s.CoreV1Api);
    const cm = await core.readNamespacedConfigMap({ name: 'istio-ca-root-cert', namespace: 'default' });
    return cm.data?.['root-cert.pem'] ?? '';
  }
}
