/**
 * The kind driver: a kind cluster made through the kind CLI, the images built by
 * infra/docker/build-images.sh and loaded with `kind load docker-image`, infra/k8s applied unchanged
 * with `kubectl apply --server-side` (raw YAML, so no schema field of a CRD is lost), every scenario
 * hook through `kubectl [--kubeconfig <E2E_KIND_KUBECONFIG>] --context kind-<cluster>` (wire checks from a
 * `kubectl debug` container). Each prerequisite is checked first; the suite skips naming the one that is missing.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { createWorkloadCert, loadIssuer } from '@tsmesh/certs';
import { applyPayload, clusterConfig, KindCli, kindUnavailable, MESH_IMAGES, runCli } from '@tsmesh/cluster';
import { loadManifests } from '@tsmesh/local-runtime';
import type { ExecOutput, MeshDriver } from './types';

export { applyPayload, KindCli, KIND_MIN_VERSION, versionAtLeast } from '@tsmesh/cluster';

const POD_CLIENT = resolve(import.meta.dirname, '../pod-client.mjs');

/**
 * The image of the debug container `watchWire` adds to a pod (`kubectl debug`, an ephemeral
 * container in the pod's network namespace): any image with `iptables` (string match) and `node`
 * works. Default: the proxy image, which carries iptables for istio-init and is loaded into the
 * cluster already, so no registry is needed; `E2E_KIND_CAPTURE_IMAGE` names another.
 */
export const CAPTURE_IMAGE = process.env.E2E_KIND_CAPTURE_IMAGE ?? 'tsmesh/proxy:latest';
/** The name of that ephemeral container in each pod. */
export const CAPTURE_CONTAINER = 'tsmesh-wire';

/** Objects of a kustomization directory, in its `resources` order: the local runtime's loader, so both runtimes read the same tree. */
export function renderKustomization(dir: string): Record<string, unknown>[] {
  return loadManifests([dir]) as unknown as Record<string, unknown>[];
}

/** The kind config of the e2e cluster: infra/kind/cluster.yaml with its own name and host ports (on loopback). */
export const e2eClusterConfig = clusterConfig;

const selectorOf = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { containers: { name: string }[]; initContainers?: { name: string; restartPolicy?: string }[]; nodeName?: string };
  status: { podIP?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { name: string; restartCount: number }[]; initContainerStatuses?: { name: string; restartCount: number }[] };
}

/** Runs the mesh on a kind cluster. */
export class KindDriver implements MeshDriver {
  readonly name = 'kind' as const;
  private readonly kind: KindCli;
  private readonly context: string;
  private readonly ports = { http: Number(process.env.E2E_KIND_HTTP_PORT ?? 18080), https: Number(process.env.E2E_KIND_HTTPS_PORT ?? 18443) };
  private readonly forwarders: ChildProcess[] = [];
  private readonly serviceForwards = new Map<string, Promise<number>>();
  private controlPlanePort = 0;
  private podRoute = false;
  /** Pods (`namespace/name`) that carry the capture container, and the wire rules installed in them. */
  private readonly captures = new Set<string>();
  private readonly wires = new Set<{ pods: string[]; rule: string[] }>();
  /** The kubeconfig every kind and kubectl call names (`E2E_KIND_KUBECONFIG`; default: kind's and kubectl's own, `$KUBECONFIG` or ~/.kube/config). */
  readonly kubeconfig: string | undefined;

  constructor(private readonly root: string, clusterName = process.env.E2E_KIND_CLUSTER ?? 'tsmesh-e2e', kubeconfig = process.env.E2E_KIND_KUBECONFIG) {
    this.kubeconfig = kubeconfig ? resolve(kubeconfig) : undefined;
    this.kind = new KindCli(clusterName, this.kubeconfig);
    this.context = `kind-${clusterName}`;
  }

  /** Every kubectl command line starts so: this cluster's context, in the driver's kubeconfig when one is named. */
  kubectlArgv(args: string[]): string[] {
    return [...(this.kubeconfig ? ['--kubeconfig', this.kubeconfig] : []), '--context', this.context, ...args];
  }

  /** kind (≥ KIND_MIN_VERSION), kubectl and a Docker engine; null when all are there. */
  async unavailable(): Promise<string | null> {
    return kindUnavailable(this.kind, 'the kind driver');
  }

  private kubectl(args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
    return runCli('kubectl', this.kubectlArgv(args), opts);
  }

  private kubectlSync(args: string[]): string {
    try {
      return execFileSync('kubectl', this.kubectlArgv(args), { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
    }
  }

  async up(): Promise<void> {
    const existed = (await this.kind.clusters()).includes(this.kind.clusterName);
    if (!existed) {
      const dir = mkdtempSync(join(tmpdir(), 'tsmesh-kind-'));
      try {
        const config = join(dir, 'cluster.yaml');
        writeFileSync(config, e2eClusterConfig(readFileSync(join(this.root, 'infra/kind/cluster.yaml'), 'utf8'), this.kind.clusterName, this.ports));
        await this.kind.create(config);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    // E2E_IMAGE_BUILD=host builds without an image registry (as infra's image tests do).
    const buildArgs = process.env.E2E_IMAGE_BUILD === 'host' ? ['--host'] : [];
    await runCli('bash', [join(this.root, 'infra/docker/build-images.sh'), ...buildArgs, '--tag', 'latest'], { cwd: this.root, timeoutMs: 1_800_000 });
    for (const app of MESH_IMAGES) await this.kind.load(`tsmesh/${app}:latest`);

    const objs = renderKustomization(join(this.root, 'infra/k8s/base'));
    const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition');
    const namespaces = objs.filter((o) => o.kind === 'Namespace');
    // CRDs unchanged, then wait until the API server serves them before any Istio resource.
    await this.serverSideApply([...namespaces, ...crds]);
    await this.kubectl(['wait', '--for=condition=Established', '--timeout=120s', ...crds.map((c) => `crd/${(c.metadata as { name: string }).name}`)], { timeoutMs: 130_000 });
    await this.serverSideApply(objs.filter((o) => !crds.includes(o) && !namespaces.includes(o)));
    // The gateway's HTTPS credential, signed by the mesh CA's root (Secret istio-ca-secret, made by the CA).
    await this.rotateGatewayCert(['todolist.example.com', 'localhost']);
    // A reused cluster runs pods of older :latest images (IfNotPresent): start them again on the loaded ones.
    if (existed) await this.kubectl(['rollout', 'restart', 'deployment', '-n', 'istio-system'], { timeoutMs: 60_000 }).then(() => this.kubectl(['rollout', 'restart', 'deployment', '-n', 'default'], { timeoutMs: 60_000 }));
    await this.waitReady(900_000);
    await this.startControlPlaneForward();
    await this.routePodNetwork();
  }

  /** Server-side apply of raw YAML, retried while the API server is not ready for a kind (CRD being established, webhook starting). */
  private async serverSideApply(objs: Record<string, unknown>[], timeoutMs = 180_000): Promise<void> {
    if (objs.length === 0) return;
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=tsmesh-e2e', '-f', '-'], { input: applyPayload(objs), timeoutMs: 120_000 });
        return;
      } catch (err) {
        const m = (err as Error).message;
        const transient = /no matches for kind|ensure CRDs are installed|failed calling webhook|connection refused|ServiceUnavailable|the server could not find the requested resource/i.test(m);
        if (!transient || Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (const ns of ['istio-system', 'default']) {
      const left = Math.max(1000, until - Date.now());
      await this.kubectl(['rollout', 'status', 'deployment', '-n', ns, `--timeout=${Math.ceil(left / 1000)}s`], { timeoutMs: left + 10_000 });
    }
  }

  async rolloutStatus(namespace: string, name: string, timeoutMs: number): Promise<void> {
    await this.kubectl(['rollout', 'status', `deployment/${name}`, '-n', namespace, `--timeout=${Math.ceil(timeoutMs / 1000)}s`], { timeoutMs: timeoutMs + 10_000 });
  }

  /** `kubectl port-forward` of istiod's monitoring port (15014) to a loopback port. */
  private async startControlPlaneForward(): Promise<void> {
    this.controlPlanePort = await this.portForward('istio-system', 'istiod', 15014);
  }

  /** `kubectl port-forward svc/<name> :<port>` kept running until down(); the loopback port. */
  private async portForward(namespace: string, name: string, port: number): Promise<number> {
    const child = spawn('kubectl', this.kubectlArgv(['port-forward', '-n', namespace, `svc/${name}`, `:${port}`, '--address', '127.0.0.1']), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.forwarders.push(child);
    return new Promise<number>((done, fail) => {
      let out = '';
      const timer = setTimeout(() => fail(new Error(`kubectl port-forward svc/${name}: no port after 30 s: ${out}`)), 30_000);
      child.stdout.on('data', (d) => {
        out += d;
        const m = /127\.0\.0\.1:(\d+) ->/.exec(out);
        if (m) {
          clearTimeout(timer);
          done(Number(m[1]));
        }
      });
      child.on('exit', (code) => fail(new Error(`kubectl port-forward svc/${name} exited ${code}: ${out}`)));
    });
  }

  async serviceAddress(namespace: string, name: string, port: number): Promise<{ host: string; port: number }> {
    const key = `${namespace}/${name}:${port}`;
    let p = this.serviceForwards.get(key);
    if (!p) this.serviceForwards.set(key, (p = this.portForward(namespace, name, port)));
    return { host: '127.0.0.1', port: await p };
  }

  async gatewayApiStatus(kind: string, namespace: string, name: string): Promise<Record<string, unknown> | undefined> {
    const out = await this.kubectl(['get', `${kind.toLowerCase()}.gateway.networking.k8s.io`, name, ...(namespace ? ['-n', namespace] : []), '-o', 'json']).catch(() => '');
    return out ? (JSON.parse(out) as { status?: Record<string, unknown> }).status : undefined;
  }

  async delete(yaml: string): Promise<void> {
    await this.kubectl(['delete', '--ignore-not-found', '-f', '-'], { input: yaml });
  }

  /** Pod IPs from this machine: a route to the pod network via the kind node (Linux, root); else podIP says why not. */
  private async routePodNetwork(): Promise<void> {
    if (process.platform !== 'linux' || process.getuid?.() !== 0) return;
    // The node's InternalIP (the kind node container's address on Docker's network).
    const node = (await this.kubectl(['get', 'node', `${this.kind.clusterName}-control-plane`, '-o', 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}'])).trim().split(' ')[0];
    if (!node) return;
    await runCli('ip', ['route', 'replace', '10.244.0.0/16', 'via', node]);
    this.podRoute = true;
  }

  async down(): Promise<void> {
    for (const f of this.forwarders.splice(0)) f.kill();
    this.serviceForwards.clear();
    for (const w of [...this.wires]) await this.removeWire(w).catch(() => undefined);
    // Ephemeral containers cannot be removed from a pod: end each capture container's process.
    for (const key of [...this.captures]) {
      const [ns, name] = key.split('/');
      await this.kubectl(['exec', '-n', ns, name, '-c', CAPTURE_CONTAINER, '--', 'node', '-e', 'process.kill(1, "SIGKILL")']).catch(() => undefined);
    }
    this.captures.clear();
    if (this.podRoute) await runCli('ip', ['route', 'del', '10.244.0.0/16']).catch(() => undefined);
    if (process.env.E2E_KEEP_CLUSTER !== '1') await this.kind.delete();
  }

  async apply(yaml: string): Promise<void> {
    const objs = parseAllDocuments(yaml).map((d) => d.toJS() as Record<string, unknown>).filter(Boolean);
    await this.serverSideApply(objs);
  }

  gatewayHttp(): string {
    return `http://127.0.0.1:${this.ports.http}`;
  }

  gatewayHttps(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.ports.https };
  }

  controlPlane(): string {
    if (!this.controlPlanePort) throw new Error('controlPlane: the port-forward to istiod is not running (up() starts it)');
    return `http://127.0.0.1:${this.controlPlanePort}`;
  }

  /** The first Ready pod matching `labels` that is not being deleted. */
  private pod(namespace: string, labels: Record<string, string>): PodJson {
    const list = JSON.parse(this.kubectlSync(['get', 'pod', '-n', namespace, '-l', selectorOf(labels), '-o', 'json'])) as { items: PodJson[] };
    const pod = list.items.find((p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    if (!pod) throw new Error(`no ready pod in ${namespace} with labels ${selectorOf(labels)}`);
    return pod;
  }

  /**
   * `kubectl exec` in the pod's app container (its first container that is not istio-proxy), or in
   * istio-proxy for `uid: 1337` (the proxy's UID, which the capture rules leave alone). A command
   * naming e2e/src/pod-client.mjs gets the script on stdin (`node -`): the images do not carry it.
   */
  async exec(namespace: string, labels: Record<string, string>, argv: string[], opts: { uid?: number } = {}): Promise<ExecOutput> {
    const pod = this.pod(namespace, labels);
    const container = opts.uid === 1337 ? 'istio-proxy' : (pod.spec.containers.find((c) => c.name !== 'istio-proxy')?.name ?? pod.spec.containers[0].name);
    if (opts.uid !== undefined && opts.uid !== 1337) throw new Error(`exec as uid ${opts.uid}: kubectl exec runs as the container's user; only 1337 (istio-proxy) is available on kind`);
    let input: string | undefined;
    let args = argv;
    const i = argv.findIndex((a) => resolve(a) === POD_CLIENT);
    if (i >= 0) {
      input = readFileSync(POD_CLIENT, 'utf8');
      args = [...argv.slice(0, i), '--input-type=module', '-', ...argv.slice(i + 1)];
    }
    return new Promise((done) => {
      const child = spawn('kubectl', this.kubectlArgv(['exec', ...(input !== undefined ? ['-i'] : []), '-n', namespace, pod.metadata.name, '-c', container, '--', ...args]));
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => done({ code, stdout, stderr }));
      child.stdin.end(input);
    });
  }

  podIP(namespace: string, labels: Record<string, string>): string {
    const ip = this.pod(namespace, labels).status.podIP;
    if (!ip) throw new Error(`pod of ${namespace} ${selectorOf(labels)} has no IP yet`);
    if (!this.podRoute) throw new Error('podIP: pod IPs are reachable from this machine only through a route to the kind node (added when the suite runs as root on Linux); run as root, or on the local driver');
    return ip;
  }

  restarts(namespace: string, labels: Record<string, string>, container: string): number {
    const pod = this.pod(namespace, labels);
    const status = [...(pod.status.containerStatuses ?? []), ...(pod.status.initContainerStatuses ?? [])].find((c) => c.name === container);
    if (!status) throw new Error(`no container ${container} in pod ${namespace}/${pod.metadata.name}`);
    return status.restartCount;
  }

  /** SIGKILLs the container's main process (PID 1 of its own PID namespace), so the kubelet restarts it in place. */
  async killContainer(namespace: string, labels: Record<string, string>, container: string): Promise<void> {
    const pod = this.pod(namespace, labels);
    const r = await new Promise<number | null>((done) => {
      const child = spawn('kubectl', this.kubectlArgv(['exec', '-n', namespace, pod.metadata.name, '-c', container, '--', 'node', '-e', 'process.kill(1, "SIGKILL")']));
      child.on('close', done);
    });
    if (r !== 0 && r !== 137) throw new Error(`killing ${container} in ${namespace}/${pod.metadata.name}: kubectl exec exited ${r}`);
  }

  /** Issues `istio-system/tsmesh-gateway-cert` for `hosts` from the mesh CA's root (istio-ca-secret), applied as a kubernetes.io/tls Secret. */
  async rotateGatewayCert(hosts: string[]): Promise<void> {
    await this.issueTlsSecret('istio-system', 'tsmesh-gateway-cert', hosts);
  }

  /** Issues a kubernetes.io/tls Secret `namespace/name` for `hosts` from the mesh CA's root (istio-ca-secret). */
  async issueTlsSecret(namespace: string, name: string, hosts: string[]): Promise<void> {
    const secret = await this.waitSecret('istio-system', 'istio-ca-secret', 180_000);
    const caCert = Buffer.from(secret['ca-cert.pem'], 'base64').toString();
    const caKey = Buffer.from(secret['ca-key.pem'], 'base64').toString();
    const issuer = await loadIssuer({ certPem: caCert, keyPem: caKey });
    const cert = await createWorkloadCert(issuer, { dnsNames: hosts });
    const obj = {
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
      metadata: { name, namespace },
      stringData: { 'tls.crt': cert.chainPem, 'tls.key': cert.keyPem, 'ca.crt': caCert },
    };
    await this.serverSideApply([obj]);
  }

  private async waitSecret(namespace: string, name: string, timeoutMs: number): Promise<Record<string, string>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        return (JSON.parse(await this.kubectl(['get', 'secret', '-n', namespace, name, '-o', 'json'])) as { data: Record<string, string> }).data;
      } catch (err) {
        if (Date.now() > until) throw new Error(`Secret ${namespace}/${name} did not appear within ${timeoutMs} ms (the CA makes it): ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  /** The `kubectl debug` command line that adds the capture container to a pod (root with NET_ADMIN/NET_RAW in the pod's network namespace, idle until ended). */
  captureDebugArgs(namespace: string, pod: string, customFile: string): string[] {
    return this.kubectlArgv([
      'debug', '-n', namespace, pod, `--image=${CAPTURE_IMAGE}`, '--image-pull-policy=IfNotPresent', '--profile=netadmin', `--custom=${customFile}`,
      '-c', CAPTURE_CONTAINER, '--attach=false', '--quiet', '--', 'node', '-e', 'setInterval(() => {}, 1 << 30)',
    ]);
  }

  /** Adds the capture container to `namespace/pod` once, and waits until it runs. */
  private async ensureCapture(namespace: string, pod: string): Promise<void> {
    const key = `${namespace}/${pod}`;
    if (this.captures.has(key)) return;
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-debug-'));
    try {
      // --profile=netadmin adds the capabilities; the container must also run as root for iptables (the image's USER is 1337).
      const custom = join(dir, 'capture.json');
      writeFileSync(custom, JSON.stringify({ securityContext: { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false } }));
      const argv = this.captureDebugArgs(namespace, pod, custom);
      await runCli('kubectl', argv, { timeoutMs: 60_000, env: { KUBECTL_DEBUG_CUSTOM_PROFILE: 'true' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const until = Date.now() + 120_000;
    for (;;) {
      const p = JSON.parse(this.kubectlSync(['get', 'pod', '-n', namespace, pod, '-o', 'json'])) as { status: { ephemeralContainerStatuses?: { name: string; state?: { running?: unknown; waiting?: { reason?: string; message?: string } } }[] } };
      const st = p.status.ephemeralContainerStatuses?.find((c) => c.name === CAPTURE_CONTAINER);
      if (st?.state?.running) break;
      if (Date.now() > until) throw new Error(`watchWire: the capture container in ${key} is not running after 120 s (${st?.state?.waiting?.reason ?? 'no status'}: ${st?.state?.waiting?.message ?? ''}; image ${CAPTURE_IMAGE})`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    this.captures.add(key);
  }

  private captureIptables(key: string, args: string[]): Promise<string> {
    const [ns, name] = key.split('/');
    return this.kubectl(['exec', '-n', ns, name, '-c', CAPTURE_CONTAINER, '--', 'iptables', ...args], { timeoutMs: 30_000 });
  }

  private async removeWire(w: { pods: string[]; rule: string[] }): Promise<void> {
    this.wires.delete(w);
    for (const key of w.pods) await this.captureIptables(key, ['-D', 'INPUT', ...w.rule]).catch(() => undefined);
  }

  /**
   * Counts packets with `pattern` in their payload arriving from the wire (`-i eth0`) at any Ready
   * pod of namespace `default` (the sample workloads): an iptables string match in each pod's
   * network namespace, installed from a debug container (`kubectl debug`, image {@link CAPTURE_IMAGE}).
   * Loopback traffic inside a pod (sidecar ↔ app) is not counted.
   */
  async watchWire(pattern: string): Promise<{ packets: () => Promise<number>; remove: () => Promise<void> }> {
    const list = JSON.parse(this.kubectlSync(['get', 'pod', '-n', 'default', '-o', 'json'])) as { items: PodJson[] };
    const pods = list.items.filter((p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).map((p) => `default/${p.metadata.name}`);
    if (pods.length === 0) throw new Error('watchWire: no Ready pod in namespace default');
    const tag = `tsmesh-wire-${Date.now()}-${this.wires.size}`;
    const rule = ['-i', 'eth0', '-m', 'string', '--string', pattern, '--algo', 'bm', '-m', 'comment', '--comment', tag];
    const w = { pods: [] as string[], rule };
    this.wires.add(w);
    for (const key of pods) {
      await this.ensureCapture(...(key.split('/') as [string, string]));
      await this.captureIptables(key, ['-I', 'INPUT', '1', ...rule]);
      w.pods.push(key);
    }
    return {
      packets: async () => {
        let n = 0;
        for (const key of w.pods) {
          const out = await this.captureIptables(key, ['-L', 'INPUT', '-v', '-x', '-n']);
          const line = out.split('\n').find((l) => l.includes(tag));
          if (!line) throw new Error(`watchWire: the rule ${tag} is gone from the INPUT chain of pod ${key}`);
          n += Number(line.trim().split(/\s+/)[0]);
        }
        return n;
      },
      remove: () => this.removeWire(w),
    };
  }

  async rootCertPem(): Promise<string> {
    const cm = JSON.parse(await this.kubectl(['get', 'configmap', '-n', 'default', 'istio-ca-root-cert', '-o', 'json'])) as { data?: Record<string, string> };
    const pem = cm.data?.['root-cert.pem'];
    if (!pem) throw new Error('ConfigMap default/istio-ca-root-cert has no root-cert.pem (the CA writes it)');
    return pem;
  }
}
