/**
 * The mesh on a kind cluster: the cluster made through the kind CLI (from infra/kind/cluster.yaml,
 * with its own name and loopback host ports when `ports` are given), the images built by
 * infra/docker/build-images.sh and loaded with `kind load docker-image`, infra/k8s/base applied
 * unchanged with `kubectl apply --server-side` (raw YAML, so no schema field of a CRD is lost;
 * Namespaces and CRDs first, Established before the rest), the gateway's certificate issued from
 * the mesh CA's root (Secret istio-ca-secret, made by the CA), and every read, exec, port-forward
 * and wire check through {@link Kubectl} (wire checks from a `kubectl debug` container). The demo's
 * `--kind` mesh and e2e's kind driver.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { createWorkloadCert, loadIssuer } from '@tsmesh/certs';
import { loadManifests } from '@tsmesh/local-runtime';
import { runCli } from './cli';
import { describeObjects, selectorOf, type ExecOutput, type MeshDriver, type MeshSnapshot, type PodView, type UpOptions } from './driver';
import { portFree } from './forward';
import { clusterConfig, KindCli, kindUnavailable, Kubectl, MESH_IMAGES } from './kind';

/**
 * The image of the debug container `watchWire` adds to a pod (`kubectl debug`, an ephemeral
 * container in the pod's network namespace): any image with `iptables` (string match) and `node`
 * works. Default: the proxy image, which carries iptables for istio-init and is loaded into the
 * cluster already, so no registry is needed; `E2E_KIND_CAPTURE_IMAGE` names another.
 */
export const CAPTURE_IMAGE = process.env.E2E_KIND_CAPTURE_IMAGE ?? 'tsmesh/proxy:latest';
/** The name of that ephemeral container in each pod. */
export const CAPTURE_CONTAINER = 'tsmesh-wire';

/** The namespaces the mesh's workloads run in. */
const NAMESPACES = ['istio-system', 'default'];

/** Objects of a kustomization directory, in its `resources` order: the local runtime's loader, so both runtimes read the same tree. */
export function renderKustomization(dir: string): Record<string, unknown>[] {
  return loadManifests([dir]) as unknown as Record<string, unknown>[];
}

/** Options of {@link KindMeshDriver}. */
export interface KindDriverOptions {
  /** The kind cluster (default `tsmesh-e2e`). */
  clusterName?: string;
  /** The kubeconfig every kind and kubectl call names (default: kind's and kubectl's own, `$KUBECONFIG` or ~/.kube/config). */
  kubeconfig?: string;
  /** Host ports of the gateway's NodePorts on loopback (a derived cluster config); unset: infra/kind/cluster.yaml as it is (80 and 443). */
  ports?: { http: number; https: number };
  /** Extra arguments of infra/docker/build-images.sh (`--host` builds without an image registry). */
  imageBuildArgs?: string[];
  /** Leave the cluster on down() (default false). */
  keepCluster?: boolean;
  /** The field manager of the server-side applies (default `tsmesh-e2e`). */
  fieldManager?: string;
  /** DNS names of the gateway's certificate (default todolist.example.com and localhost). */
  gatewayCertHosts?: string[];
  /** Who needs kind, in the prerequisite messages (default `the kind driver`; the demo: `--kind`). */
  who?: string;
  log?: (line: string) => void;
}

interface PodJson {
  metadata: { name: string; namespace?: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec: { containers: { name: string }[]; initContainers?: { name: string; restartPolicy?: string }[]; nodeName?: string };
  status: {
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: ContainerStatusJson[];
    initContainerStatuses?: ContainerStatusJson[];
    ephemeralContainerStatuses?: { name: string; state?: { running?: unknown; waiting?: { reason?: string; message?: string } } }[];
  };
}

interface ContainerStatusJson {
  name: string;
  restartCount: number;
  ready?: boolean;
  state?: { waiting?: { reason?: string; message?: string } };
}

const isReady = (p: PodJson) => !p.metadata.deletionTimestamp && !!p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

/** Runs the mesh on a kind cluster. */
export class KindMeshDriver implements MeshDriver {
  readonly name = 'kind' as const;
  readonly kind: KindCli;
  readonly kubectl: Kubectl;
  private readonly ports: { http: number; https: number };
  private readonly forwarders: ChildProcess[] = [];
  private readonly serviceForwards = new Map<string, Promise<number>>();
  private controlPlanePort = 0;
  private podRoute = false;
  private started = false;
  /** Pods (`namespace/name`) that carry the capture container, and the wire rules installed in them. */
  private readonly captures = new Set<string>();
  private readonly wires = new Set<{ pods: string[]; rule: string[] }>();

  constructor(private readonly root: string, private readonly opts: KindDriverOptions = {}) {
    const kubeconfig = opts.kubeconfig ? resolve(opts.kubeconfig) : undefined;
    const name = opts.clusterName ?? 'tsmesh-e2e';
    this.kind = new KindCli(name, kubeconfig);
    this.kubectl = new Kubectl(`kind-${name}`, opts.fieldManager ?? 'tsmesh-e2e', kubeconfig);
    this.ports = opts.ports ?? { http: 80, https: 443 };
  }

  /** kind (≥ KIND_MIN_VERSION), kubectl and a Docker engine; null when all are there. */
  unavailable(): Promise<string | null> {
    return kindUnavailable(this.kind, this.opts.who ?? 'the kind driver');
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  async up(o: UpOptions = {}): Promise<void> {
    const progress = o.progress;
    const name = this.kind.clusterName;
    const existed = (await this.kind.clusters()).includes(name);
    this.started = true;
    if (!existed) {
      for (const p of [this.ports.http, this.ports.https]) if (!(await portFree(p))) throw new Error(`host port ${p} is taken (another kind cluster from infra/kind/cluster.yaml?); the gateway's NodePorts need it`);
      progress?.note('kind', `cluster ${name}`, 'creating (infra/kind/cluster.yaml)');
      const dir = mkdtempSync(join(tmpdir(), 'tsmesh-kind-'));
      try {
        const config = join(dir, 'cluster.yaml');
        const base = readFileSync(join(this.root, 'infra/kind/cluster.yaml'), 'utf8');
        writeFileSync(config, this.opts.ports ? clusterConfig(base, name, this.opts.ports) : base.replace(/^name: .*$/m, `name: ${name}`));
        await this.kind.create(config);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } else progress?.note('kind', `cluster ${name}`, 'exists; reusing it');
    progress?.note('images', 'tsmesh/<app>:latest', 'building (infra/docker/build-images.sh)');
    await runCli('bash', [join(this.root, 'infra/docker/build-images.sh'), ...(this.opts.imageBuildArgs ?? []), '--tag', 'latest'], { cwd: this.root, timeoutMs: 1_800_000 });
    for (const app of MESH_IMAGES) {
      await this.kind.load(`tsmesh/${app}:latest`);
      progress?.note('images', `tsmesh/${app}:latest`, `loaded into ${name}`);
    }
    // CRDs unchanged, established before any Istio resource; the rest retried until the API server serves it.
    await this.kubectl.applyTree(renderKustomization(join(this.root, 'infra/k8s/base')));
    progress?.note('applied', 'infra/k8s/base', `server-side, field manager ${this.kubectl.fieldManager}`);
    // The gateway's HTTPS credential, signed by the mesh CA's root (Secret istio-ca-secret, made by the CA).
    await this.rotateGatewayCert(this.opts.gatewayCertHosts ?? ['todolist.example.com', 'localhost']);
    // A reused cluster runs pods of older :latest images (IfNotPresent): start them again on the loaded ones.
    if (existed) for (const ns of NAMESPACES) await this.kubectl.rolloutRestart(ns);
    const timer = progress ? setInterval(() => void this.snapshot().then((s) => progress.snapshot(s), () => undefined), 2000) : undefined;
    try {
      await this.waitReady(o.timeoutMs ?? 900_000);
    } finally {
      clearInterval(timer);
    }
    if (progress) progress.snapshot(await this.snapshot());
    this.controlPlanePort = await this.portForward('istio-system', 'svc/istiod', 15014);
    await this.routePodNetwork();
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (const ns of NAMESPACES) await this.kubectl.rolloutStatus(ns, undefined, Math.max(1000, until - Date.now()));
  }

  async rolloutStatus(namespace: string, name: string, timeoutMs: number): Promise<void> {
    await this.kubectl.rolloutStatus(namespace, name, timeoutMs);
  }

  /** `kubectl port-forward <target> :<port>` kept running until down(); the loopback port. */
  private async portForward(namespace: string, target: string, port: number, local = 0): Promise<number> {
    const f = await this.kubectl.portForward(namespace, target, port, local).catch((err: Error) => (local ? this.kubectl.portForward(namespace, target, port) : Promise.reject(err)));
    this.forwarders.push(f.child);
    return f.port;
  }

  async serviceAddress(namespace: string, name: string, port: number): Promise<{ host: string; port: number }> {
    const key = `${namespace}/${name}:${port}`;
    let p = this.serviceForwards.get(key);
    if (!p) this.serviceForwards.set(key, (p = this.portForward(namespace, `svc/${name}`, port)));
    return { host: '127.0.0.1', port: await p };
  }

  async forward(namespace: string, labels: Record<string, string>, port: number, preferred = 0): Promise<{ url: string; pod: string }> {
    const pod = this.pod(namespace, labels).metadata.name;
    const local = await this.portForward(namespace, `pod/${pod}`, port, preferred);
    return { url: `http://127.0.0.1:${local}`, pod: `${namespace}/${pod}` };
  }

  async gatewayApiStatus(kind: string, namespace: string, name: string): Promise<Record<string, unknown> | undefined> {
    const out = await this.kubectl.getJson<{ status?: Record<string, unknown> }>([`${kind.toLowerCase()}.gateway.networking.k8s.io`, name, ...(namespace ? ['-n', namespace] : [])]).catch(() => undefined);
    return out?.status;
  }

  async apply(yaml: string): Promise<string[]> {
    const objs = parseAllDocuments(yaml).map((d) => d.toJS() as Record<string, unknown>).filter(Boolean);
    await this.kubectl.serverSideApply(objs);
    return describeObjects(objs as { kind?: string }[]);
  }

  async delete(yaml: string): Promise<void> {
    await this.kubectl.deleteYaml(yaml);
  }

  applyHint(file: string): string {
    return `kubectl --context ${this.kubectl.context} apply -f ${file}`;
  }

  async snapshot(): Promise<MeshSnapshot> {
    if (!this.started) return { pods: [], endpoints: {}, expectedPods: 0 };
    const pods: PodView[] = [];
    const endpoints: Record<string, string[]> = {};
    let expectedPods = 0;
    for (const namespace of NAMESPACES) {
      type Item = { kind: string; metadata: { name: string; deletionTimestamp?: string; labels?: Record<string, string> }; spec?: Record<string, unknown>; status?: PodJson['status']; endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[]; ports?: { port: number }[] };
      const { items } = await this.kubectl.getJson<{ items: Item[] }>(['pod,deployment,service,endpointslices.discovery.k8s.io', '-n', namespace]);
      for (const it of items) {
        if (it.kind === 'Pod' && !it.metadata.deletionTimestamp) {
          const p = it as unknown as PodJson;
          const statuses = [...(p.status.initContainerStatuses ?? []), ...(p.status.containerStatuses ?? [])];
          const injected = (p.spec.initContainers ?? []).some((c) => c.name === 'istio-proxy');
          pods.push({
            key: `${namespace}/${p.metadata.name}`,
            ip: p.status.podIP ?? '',
            ready: isReady(p),
            sidecar: injected,
            sidecarReady: injected && !!statuses.find((c) => c.name === 'istio-proxy')?.ready,
            restarts: statuses.reduce((n, c) => n + c.restartCount, 0),
          });
        } else if (it.kind === 'Deployment') expectedPods += (it.spec?.replicas as number | undefined) ?? 1;
        else if (it.kind === 'Service' && it.spec?.selector) endpoints[`${namespace}/${it.metadata.name}`] ??= [];
        else if (it.kind === 'EndpointSlice') {
          const list = (endpoints[`${namespace}/${it.metadata.labels?.['kubernetes.io/service-name']}`] ??= []);
          for (const e of it.endpoints ?? []) if (e.conditions?.ready !== false) list.push(`${e.addresses[0]}:${it.ports?.[0]?.port ?? '?'}`);
        }
      }
    }
    return { pods, endpoints, expectedPods };
  }

  logs(podKey: string, container: string, tailLines?: number): Promise<string> {
    const [namespace, name] = podKey.split('/');
    return this.kubectl.run(['logs', '-n', namespace, name, '-c', container, ...(tailLines === undefined ? [] : [`--tail=${tailLines}`])]);
  }

  async diagnose(podKey: string): Promise<string[]> {
    const [namespace, name] = podKey.split('/');
    const p = await this.kubectl.getJson<PodJson>(['pod', '-n', namespace, name]).catch(() => undefined);
    return [...(p?.status.initContainerStatuses ?? []), ...(p?.status.containerStatuses ?? [])].map(
      (c) => `${c.name}: ${c.ready ? 'ready' : 'not ready'}${c.state?.waiting ? ` (${c.state.waiting.reason}: ${c.state.waiting.message ?? ''})` : ''}${c.restartCount ? `, ${c.restartCount} restarts` : ''}`,
    );
  }

  /** Pod IPs from this machine: a route to the pod network via the kind node (Linux, root); else podIP says why not. */
  private async routePodNetwork(): Promise<void> {
    if (process.platform !== 'linux' || process.getuid?.() !== 0) return;
    // The node's InternalIP (the kind node container's address on Docker's network).
    const node = (await this.kubectl.run(['get', 'node', `${this.kind.clusterName}-control-plane`, '-o', 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}'])).trim().split(' ')[0];
    if (!node) return;
    await runCli('ip', ['route', 'replace', '10.244.0.0/16', 'via', node]);
    this.podRoute = true;
  }

  async down(): Promise<string[]> {
    for (const f of this.forwarders.splice(0)) f.kill();
    this.serviceForwards.clear();
    for (const w of [...this.wires]) await this.removeWire(w).catch(() => undefined);
    // Ephemeral containers cannot be removed from a pod: end each capture container's process.
    for (const key of [...this.captures]) {
      const [ns, name] = key.split('/');
      await this.kubectl.run(['exec', '-n', ns, name, '-c', CAPTURE_CONTAINER, '--', 'node', '-e', 'process.kill(1, "SIGKILL")']).catch(() => undefined);
    }
    this.captures.clear();
    if (this.podRoute) await runCli('ip', ['route', 'del', '10.244.0.0/16']).catch(() => undefined);
    this.podRoute = false;
    if (!this.started) return [];
    this.started = false;
    if (this.opts.keepCluster) {
      this.log(`kept the kind cluster ${this.kind.clusterName}; delete it with: kind delete cluster --name ${this.kind.clusterName}`);
      return [];
    }
    await this.kind.delete();
    const left = (await this.kind.clusters().catch(() => [])).filter((c) => c === this.kind.clusterName);
    return left.map((c) => `kind cluster ${c}`);
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
    const list = this.kubectl.getJsonSync<{ items: PodJson[] }>(['pod', '-n', namespace, '-l', selectorOf(labels)]);
    const pod = list.items.find(isReady);
    if (!pod) throw new Error(`no ready pod in ${namespace} with labels ${selectorOf(labels)}`);
    return pod;
  }

  /**
   * `kubectl exec` in the pod's app container (its first container that is not istio-proxy), or in
   * istio-proxy for `uid: 1337` (the proxy's UID, which the capture rules leave alone). A command
   * naming a `.mjs` script of this machine (e2e's pod client) gets the script on stdin (`node -`): the images do not carry it.
   */
  async exec(namespace: string, labels: Record<string, string>, argv: string[], opts: { uid?: number } = {}): Promise<ExecOutput> {
    const pod = this.pod(namespace, labels);
    const container = opts.uid === 1337 ? 'istio-proxy' : (pod.spec.containers.find((c) => c.name !== 'istio-proxy')?.name ?? pod.spec.containers[0].name);
    if (opts.uid !== undefined && opts.uid !== 1337) throw new Error(`exec as uid ${opts.uid}: kubectl exec runs as the container's user; only 1337 (istio-proxy) is available on kind`);
    let input: string | undefined;
    let args = argv;
    const i = argv.findIndex((a) => isAbsolute(a) && a.endsWith('.mjs') && existsSync(a));
    if (i >= 0) {
      input = readFileSync(argv[i], 'utf8');
      args = [...argv.slice(0, i), '--input-type=module', '-', ...argv.slice(i + 1)];
    }
    return new Promise((done) => {
      const child = this.kubectl.spawn(['exec', ...(input !== undefined ? ['-i'] : []), '-n', namespace, pod.metadata.name, '-c', container, '--', ...args]);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d) => (stdout += d));
      child.stderr?.on('data', (d) => (stderr += d));
      // the first of the two settles the promise
      child.on('error', (e) => done({ code: null, stdout, stderr: `${stderr}kubectl exec: ${e.message}\n` }));
      child.on('close', (code) => done({ code, stdout, stderr }));
      child.stdin?.end(input);
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
      const child = this.kubectl.spawn(['exec', '-n', namespace, pod.metadata.name, '-c', container, '--', 'node', '-e', 'process.kill(1, "SIGKILL")']);
      child.on('error', () => done(null));
      child.stdin?.end();
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
    await this.kubectl.serverSideApply([obj]);
  }

  private async waitSecret(namespace: string, name: string, timeoutMs: number): Promise<Record<string, string>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        return (await this.kubectl.getJson<{ data: Record<string, string> }>(['secret', '-n', namespace, name])).data;
      } catch (err) {
        if (Date.now() > until) throw new Error(`Secret ${namespace}/${name} did not appear within ${timeoutMs} ms (the CA makes it): ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  /** The `kubectl debug` arguments that add the capture container to a pod (root with NET_ADMIN/NET_RAW in the pod's network namespace, idle until ended). */
  captureDebugArgs(namespace: string, pod: string, customFile: string): string[] {
    return [
      'debug', '-n', namespace, pod, `--image=${CAPTURE_IMAGE}`, '--image-pull-policy=IfNotPresent', '--profile=netadmin', `--custom=${customFile}`,
      '-c', CAPTURE_CONTAINER, '--attach=false', '--quiet', '--', 'node', '-e', 'setInterval(() => {}, 1 << 30)',
    ];
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
      await this.kubectl.run(this.captureDebugArgs(namespace, pod, custom), { timeoutMs: 60_000, env: { KUBECTL_DEBUG_CUSTOM_PROFILE: 'true' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const until = Date.now() + 120_000;
    for (;;) {
      const p = this.kubectl.getJsonSync<PodJson>(['pod', '-n', namespace, pod]);
      const st = p.status.ephemeralContainerStatuses?.find((c) => c.name === CAPTURE_CONTAINER);
      if (st?.state?.running) break;
      if (Date.now() > until) throw new Error(`watchWire: the capture container in ${key} is not running after 120 s (${st?.state?.waiting?.reason ?? 'no status'}: ${st?.state?.waiting?.message ?? ''}; image ${CAPTURE_IMAGE})`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    this.captures.add(key);
  }

  private captureIptables(key: string, args: string[]): Promise<string> {
    const [ns, name] = key.split('/');
    return this.kubectl.run(['exec', '-n', ns, name, '-c', CAPTURE_CONTAINER, '--', 'iptables', ...args], { timeoutMs: 30_000 });
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
    const list = this.kubectl.getJsonSync<{ items: PodJson[] }>(['pod', '-n', 'default']);
    const pods = list.items.filter(isReady).map((p) => `default/${p.metadata.name}`);
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
    const cm = await this.kubectl.getJson<{ data?: Record<string, string> }>(['configmap', '-n', 'default', 'istio-ca-root-cert']);
    const pem = cm.data?.['root-cert.pem'];
    if (!pem) throw new Error('ConfigMap default/istio-ca-root-cert has no root-cert.pem (the CA writes it)');
    return pem;
  }
}
