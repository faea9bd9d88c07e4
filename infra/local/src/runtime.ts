/**
 * LocalRuntime: runs Kubernetes manifests on this machine with Kubernetes' semantics — pods in
 * network namespaces on a bridge, Service VIPs through iptables DNAT, DNS through hosts files,
 * admission through the real mutating webhooks, containers as processes, EndpointSlices and
 * config written to the control plane's file store, service-account tokens for the CA.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, chmodSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile, rename } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { admitPod, AdmissionError } from './admission';
import { cleanup } from './cleanup';
import type { Backoff } from './container';
import { hostsFile, nsswitchConf, resolvConf, type DnsService, type HeadlessService } from './dns';
import { endpointSlicesFor } from './endpoints';
import { IMAGES, type ImageEntry } from './images';
import { ImageRunner, type FromImagesOptions } from './image-runner';
import { CronJobController, validateCronJob } from './cronjobs';
import { DeploymentController, rolloutComplete, validateDeployment } from './deployments';
import { JobController, validateJob } from './jobs';
import { GatewayDeployer, isGatewayApi, storeKind } from './gateway-deployer';
import { StatefulSetController, validateStatefulSet } from './statefulsets';
import {
  admitName, dataOf, defaultPodSpec, isClusterScoped, keyOf, loadManifests, parseManifests,
  type KubeObject, type PodObject, type ServiceObject,
} from './kube';
import { RunNames, newRunId } from './names';
import { HostNetwork, type ServiceRule } from './network';
import { MeshPki } from './pki';
import { LocalPod, podDir } from './pod';
import { TokenIssuer } from './tokens';
import { materializeVolumes } from './volumes';

/** Options of {@link LocalRuntime.start}. */
export interface LocalRuntimeOptions {
  /** Manifest files or directories (a kustomization directory is read in its resources order), applied at start. */
  manifests?: string[];
  /** Where config, volumes and logs go (default: a new /tmp/tsmesh-local-<run id>). */
  runDir?: string;
  /** The workspace root, where `dist/apps/<app>/main.js` are (default: found from this file or the cwd). */
  workspaceRoot?: string;
  /** Image table override (tests). */
  images?: Record<string, ImageEntry>;
  /**
   * Run containers from their images' file systems in the local Docker engine (image-runner.ts)
   * instead of from the workspace's `dist/`: the images' users, capabilities, read-only root file
   * systems and pull policies are honoured. Default: on when `TSMESH_LOCAL_IMAGES=1`.
   */
  fromImages?: boolean | FromImagesOptions;
  /** Create the mesh PKI: Secret cacerts for the CA, the injector's serving Secret, the gateway's Secret, istio-ca-root-cert ConfigMaps (default true). */
  meshPki?: boolean;
  /** DNS names of the gateway certificate Secret `istio-system/tsmesh-gateway-cert`. */
  gatewayCertHosts?: string[];
  /** Fixed loopback ports for Service ports published on the host (`{ 80: 8080 }`); others get ephemeral ports. */
  hostPorts?: Record<number, number>;
  /** The Service whose ports are published on 127.0.0.1 (default `istio-system/istio-ingressgateway`). */
  publishService?: string;
  /** Restart backoff (default 1 s doubling to 30 s; the kubelet's is 10 s to 5 min). */
  backoff?: Backoff;
  /** Probe periods are multiplied by this (default 1). */
  probePeriodScale?: number;
  /** Longest termination grace given to a pod on stop (default 10 s). */
  maxGraceMs?: number;
  /** Pod block, e.g. 10.244.3.0/24 (default: a free /24 of 10.244.0.0/16). */
  podCidr?: string;
  /** Remove leftovers of crashed earlier runs first (dead pid in their run id; default true). */
  cleanupStale?: boolean;
  /** Progress and event lines (also written to <runDir>/runtime.log). */
  log?: (line: string) => void;
}

/** A pod as `pods()` reports it. */
export interface PodInfo {
  namespace: string;
  name: string;
  ip: string;
  netns: string;
  phase: string;
  ready: boolean;
  labels: Record<string, string>;
  owner?: string;
  containers: { name: string; state: string; ready: boolean; restartCount: number; pid?: number; sidecar: boolean }[];
  /** The pod object as admitted (after the webhooks' patches). */
  object: PodObject;
}

/** An object {@link LocalRuntime.apply} did not run, and why (the other objects were applied). */
export interface Refusal {
  kind: string;
  key: string;
  reason: string;
}

/** Workload kinds stored but not run. */
const NOT_RUN = new Set(['DaemonSet', 'ReplicaSet', 'ReplicationController']);

/** Result of {@link LocalRuntime.exec}. */
export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const NODE_NAME = 'local-node';

function findWorkspaceRoot(): string {
  const starts = [dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const s of starts) {
    let d = s;
    for (;;) {
      if (existsSync(join(d, 'nx.json'))) return d;
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  return process.cwd();
}

function readFileIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Kinds written to the control plane's file store. */
const CONFIG_KINDS = new Set(['Service', 'EndpointSlice', 'Pod', 'Namespace', 'Secret', 'ServiceAccount', 'ConfigMap', 'Ingress', 'IngressClass']);
const CONFIG_GROUPS = ['networking.istio.io/', 'security.istio.io/', 'telemetry.istio.io/', 'gateway.networking.k8s.io/'];

/** The local runtime. Create with {@link LocalRuntime.start}; always {@link LocalRuntime.stop}. */
export class LocalRuntime {
  readonly names: RunNames;
  /** The control plane's watched config directory (`--config-dir`). */
  readonly configDir: string;
  /** The JWKS the CA verifies service-account tokens with (`--jwks`). */
  readonly jwksFile: string;
  net!: HostNetwork;
  tokens!: TokenIssuer;
  pki: MeshPki | undefined;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly podsByKey = new Map<string, LocalPod>();
  private readonly pending = new Map<string, { owner: string; cancelled: boolean }>();
  /** The owner of each pod (`ReplicaSet/<ns>/<name>`, `Job/…`, `StatefulSet/…`, or `Pod`). */
  private readonly podOwners = new Map<string, string>();
  /** Pods being deleted: no longer counted by their controllers. */
  private readonly terminating = new Set<string>();
  private readonly vips = new Map<string, string>();
  private readonly forwarders = new Map<number, { server: Server; port: number; sockets: Set<Socket> }>();
  private stopped = false;
  private syncChain: Promise<void> = Promise.resolve();
  private readonly workspaceRoot: string;
  private readonly images: Record<string, ImageEntry>;
  private imageRunner: ImageRunner | undefined;
  private readonly logFile: string;
  private pendingSeq = 0;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Readiness changes still being turned into EndpointSlices and VIP rules. */
  private readonly readyHandlers = new Set<Promise<void>>();
  private readonly jobs: JobController;
  private readonly sets: StatefulSetController;
  private readonly cron: CronJobController;
  private readonly deployments: DeploymentController;
  private readonly gatewayDeployer: GatewayDeployer;
  /** Headless Services' endpoints, for DNS. */
  private headless: HeadlessService[] = [];

  private constructor(readonly runDir: string, private readonly opts: LocalRuntimeOptions) {
    this.names = new RunNames(newRunId());
    this.configDir = join(runDir, 'config');
    this.jwksFile = join(runDir, 'jwks.json');
    this.workspaceRoot = opts.workspaceRoot ?? findWorkspaceRoot();
    this.images = opts.images ?? IMAGES;
    this.logFile = join(runDir, 'runtime.log');
    this.jobs = new JobController({
      createPod: (pod, owner) => this.createPod(pod, owner).then((p) => (p ? { key: p.key } : undefined)),
      deletePod: (key) => this.deletePod(key),
      writeStatus: async (job) => {
        if (this.store('Job').get(keyOf(job))?.metadata.uid === job.metadata.uid) this.store('Job').set(keyOf(job), job);
        const cronOwner = job.metadata.ownerReferences?.find((r) => r.kind === 'CronJob');
        const done = ((job.status as { conditions?: { type: string }[] } | undefined)?.conditions ?? []).some((c) => c.type === 'Complete' || c.type === 'Failed');
        if (cronOwner && done) void this.cron.prune(`${job.metadata.namespace}/${cronOwner.name}`).catch((err: Error) => this.log(err.message));
      },
      retryDelayMs: (n) => Math.min(this.opts.backoff?.maxMs ?? 30_000, (this.opts.backoff?.initialMs ?? 1000) * 2 ** Math.max(0, n - 1)),
      log: (l) => this.log(l),
    });
    this.cron = new CronJobController({
      applyJob: (job) => this.applyOne(job),
      deleteJob: (key) => this.delete('Job', key),
      jobsOf: (cronKey) => {
        const [ns, name] = cronKey.split('/');
        return this.list('Job')
          .filter((j) => j.metadata.namespace === ns && j.metadata.ownerReferences?.some((r) => r.kind === 'CronJob' && r.name === name))
          .map((j) => {
            const conds = (j.status as { conditions?: { type: string }[] } | undefined)?.conditions ?? [];
            const finished = conds.some((c) => c.type === 'Complete') ? ('Complete' as const) : conds.some((c) => c.type === 'Failed') ? ('Failed' as const) : undefined;
            return { key: keyOf(j), created: j.metadata.annotations?.['batch.kubernetes.io/cronjob-scheduled-timestamp'] ?? '', finished };
          });
      },
      log: (l) => this.log(l),
    });
    this.deployments = new DeploymentController({
      podsOf: (owner) => [
        ...[...this.podsByKey.values()].filter((p) => this.ownerOf(p) === owner && !this.terminating.has(p.key)).map((p) => ({ key: p.key, ready: p.ready, pending: false })),
        ...[...this.pending].filter(([, st]) => st.owner === owner && !st.cancelled).map(([k]) => ({ key: k, ready: false, pending: true })),
      ],
      createPod: (pod, owner) => this.createPod(pod, owner),
      deletePod: (key) => this.deletePod(key),
      write: (o) => this.store(o.kind).set(keyOf(o), o),
      remove: (kind, key) => void this.store(kind).delete(key),
      log: (l) => this.log(l),
    });
    this.gatewayDeployer = new GatewayDeployer({
      apply: (objs) => this.apply(objs),
      delete: (kind, key) => this.delete(kind, key),
      list: (kind) => this.list(kind),
      log: (l) => this.log(l),
    });
    this.sets = new StatefulSetController({
      podsOf: (owner) => [...this.podsByKey.values()].filter((p) => this.ownerOf(p) === owner).map((p) => ({ name: p.name, ready: p.ready, revision: p.object.metadata.labels?.['controller-revision-hash'] })),
      createPod: (pod, owner) => this.createPod(pod, owner),
      deletePod: (key) => this.deletePod(key),
      log: (l) => this.log(l),
    });
  }

  private ownerOf(p: LocalPod): string | undefined {
    return this.podOwners.get(p.key);
  }

  /** Creates the network, keys and PKI, applies `manifests`; on failure tears down what it made. */
  static async start(opts: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
    if (process.getuid?.() !== 0) throw new Error('the local runtime needs root (network namespaces, iptables)');
    const runDir = opts.runDir ? resolve(opts.runDir) : mkdtempSync('/tmp/tsmesh-local-');
    mkdirSync(runDir, { recursive: true });
    chmodSync(runDir, 0o755);
    const rt = new LocalRuntime(runDir, opts);
    if (opts.cleanupStale !== false) {
      const r = await cleanup().catch(() => undefined);
      if (r?.runs.length) rt.log(`removed leftovers of crashed runs ${r.runs.join(', ')}`);
    }
    try {
      await rt.init();
      if (opts.manifests?.length) await rt.apply(loadManifests(opts.manifests));
    } catch (err) {
      await rt.stop();
      throw err;
    }
    return rt;
  }

  private log(line: string): void {
    appendFileSync(this.logFile, `${new Date().toISOString()} ${line}\n`);
    this.opts.log?.(line);
  }

  private async init(): Promise<void> {
    await mkdir(this.configDir, { recursive: true, mode: 0o755 });
    await mkdir(join(this.runDir, 'logs'), { recursive: true, mode: 0o755 });
    this.tokens = await TokenIssuer.create();
    await this.tokens.writeJwks(this.jwksFile);
    const fromImages = this.opts.fromImages ?? process.env.TSMESH_LOCAL_IMAGES === '1';
    if (fromImages) {
      const runner = new ImageRunner(fromImages === true ? {} : fromImages, { jwksFile: this.jwksFile, issuer: this.tokens.issuer, configDir: this.configDir }, this.images);
      const why = await runner.unavailable();
      if (why) throw new Error(`fromImages: ${why}`);
      this.imageRunner = runner;
      this.log(`containers run from their images (unpacked under ${runner.store.cacheDir})`);
      // Unpacked images no tag names any more (older builds) go; a failure here only leaves them.
      void runner.store.prune().then((gone) => gone.length && this.log(`removed ${gone.length} unpacked images no tag names`), () => undefined);
    }
    this.net = await HostNetwork.create(this.names, { podCidr: this.opts.podCidr });
    this.log(`run ${this.names.id}: bridge ${this.names.bridge} ${this.net.podCidr}, services ${this.net.serviceCidr}, run dir ${this.runDir}`);
    if (this.opts.meshPki !== false) {
      this.pki = await MeshPki.create();
      const sys = 'istio-system';
      await this.apply([
        await this.pki.cacertsSecret(sys),
        await this.pki.tlsSecret(sys, 'istio-sidecar-injector-certs', ['istio-sidecar-injector.istio-system.svc', 'istio-sidecar-injector.istio-system.svc.cluster.local', 'istio-sidecar-injector.istio-system', 'istio-sidecar-injector']),
        await this.pki.tlsSecret(sys, 'tsmesh-gateway-cert', this.opts.gatewayCertHosts ?? ['localhost', 'tsmesh.local', '*.tsmesh.local']),
      ]);
    }
  }

  // ---- objects ------------------------------------------------------------------------------

  private store(kind: string): Map<string, KubeObject> {
    let m = this.objects.get(kind);
    if (!m) this.objects.set(kind, (m = new Map()));
    return m;
  }

  /** An object by kind and `namespace/name` (or name for cluster-scoped kinds). */
  get(kind: string, key: string): KubeObject | undefined {
    return this.objects.get(kind)?.get(key);
  }

  /** Every stored object of `kind`. */
  list(kind: string): KubeObject[] {
    return [...(this.objects.get(kind)?.values() ?? [])];
  }

  private configPath(o: KubeObject): string {
    const ns = o.metadata.namespace ?? '_cluster';
    return join(this.configDir, storeKind(o).toLowerCase(), `${ns}.${o.metadata.name}.yaml`);
  }

  private wantsConfigFile(o: KubeObject): boolean {
    return CONFIG_KINDS.has(o.kind) || CONFIG_GROUPS.some((g) => o.apiVersion.startsWith(g));
  }

  /** Writes an object to the file store atomically (a hidden temp file, then rename). */
  private async writeConfig(o: KubeObject): Promise<void> {
    const path = this.configPath(o);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    // The control plane (UID 1337) writes Gateway API status files beside these resources: their
    // directories are writable by it, sticky so it cannot remove the runtime's files.
    if (o.apiVersion.startsWith('gateway.networking.k8s.io/')) await chmod(dirname(path), 0o1777);
    const tmp = join(dirname(path), `.${o.metadata.name}.${process.pid}.${randomUUID()}.tmp`);
    await writeFile(tmp, stringify(o, { lineWidth: 0 }), { mode: 0o644 });
    await rename(tmp, path);
  }

  private async removeConfig(o: KubeObject): Promise<void> {
    await rm(this.configPath(o), { force: true });
  }

  /**
   * Creates or updates objects (YAML text, objects, or files/directories via {@link loadManifests}).
   * Namespaces, ServiceAccounts and Secrets first, then Services, then workloads, as `kubectl apply` ordering does for a whole tree.
   * An object the runtime cannot run (an unsupported kind or field, a pod refused by admission) is
   * logged with its kind, name and reason and returned; the others are applied.
   */
  async apply(input: string | KubeObject | KubeObject[]): Promise<Refusal[]> {
    const objs = typeof input === 'string' ? parseManifests(input) : Array.isArray(input) ? input : [input];
    const rank = (k: string) => (['Namespace', 'CustomResourceDefinition'].includes(k) ? 0 : ['ServiceAccount', 'Secret', 'ConfigMap'].includes(k) ? 1 : k === 'Service' ? 2 : ['Deployment', 'Pod', 'MutatingWebhookConfiguration'].includes(k) ? 4 : 3);
    const sorted = objs.map((o, i) => ({ o, i })).sort((a, b) => rank(a.o.kind) - rank(b.o.kind) || a.i - b.i).map((x) => x.o);
    const refused: Refusal[] = [];
    for (const o of sorted) {
      try {
        await this.applyOne(structuredClone(o));
      } catch (err) {
        const key = o.metadata?.name ? `${isClusterScoped(o.kind) ? '' : `${o.metadata.namespace ?? 'default'}/`}${o.metadata.name}` : '(unnamed)';
        const reason = (err as Error).message;
        refused.push({ kind: o.kind, key, reason });
        this.log(`refused ${o.kind} ${key}: ${reason}`);
      }
    }
    return refused;
  }

  /** Applies manifest files or directories. */
  async applyFiles(paths: string[]): Promise<Refusal[]> {
    return this.apply(loadManifests(paths));
  }

  private async applyOne(o: KubeObject): Promise<void> {
    if (this.stopped) return;
    if (!isClusterScoped(o.kind)) o.metadata.namespace ??= 'default';
    if (o.kind === 'Namespace') {
      o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name ?? '' };
    }
    if (o.kind !== 'Pod' && o.kind !== 'Namespace' && !isClusterScoped(o.kind)) await this.ensureNamespace(o.metadata.namespace!);
    if (o.kind === 'Pod') {
      await this.createPod(o as PodObject, 'Pod');
      return;
    }
    const key = keyOf(o);
    const invalid = o.kind === 'Job' ? validateJob(o) : o.kind === 'StatefulSet' ? validateStatefulSet(o) : o.kind === 'CronJob' ? validateCronJob(o) : o.kind === 'Deployment' ? validateDeployment(o) : undefined;
    if (invalid) throw new Error(invalid);
    const prev = this.store(storeKind(o)).get(key);
    o.metadata.uid = prev?.metadata.uid ?? o.metadata.uid ?? randomUUID();
    // Gateway API orders routes by age (oldest first), as the API server's creationTimestamp gives it.
    if (o.apiVersion.startsWith('gateway.networking.k8s.io/')) o.metadata.creationTimestamp ??= prev?.metadata.creationTimestamp ?? new Date().toISOString();
    if (o.kind === 'Service') this.assignVip(o as ServiceObject);
    if (o.kind === 'MutatingWebhookConfiguration') this.fillCaBundle(o);
    this.store(storeKind(o)).set(key, o);
    if (this.wantsConfigFile(o)) await this.writeConfig(o);
    switch (o.kind) {
      case 'Namespace':
        if (this.pki) await this.applyOne(this.pki.rootCertConfigMap(o.metadata.name!));
        break;
      case 'Service':
        await this.syncServices();
        await this.syncHosts();
        this.maybePublish(o as ServiceObject);
        break;
      case 'Secret':
      case 'ConfigMap':
        await this.refreshVolumes(o);
        if (o.kind === 'Secret' && o.metadata.name === 'istio-sidecar-injector-certs') for (const w of this.list('MutatingWebhookConfiguration')) this.fillCaBundle(w);
        break;
      case 'Deployment':
        await this.deployments.apply(o);
        break;
      case 'Job':
        await this.jobs.reconcile(o);
        break;
      case 'StatefulSet':
        await this.sets.apply(o);
        break;
      case 'CronJob':
        await this.cron.apply(o);
        break;
      default:
        if (isGatewayApi(o)) {
          if (o.kind === 'Gateway') await this.gatewayDeployer.reconcile(o);
          else await this.gatewayDeployer.reconcileClass(o.metadata.name ?? '');
          break;
        }
        if (NOT_RUN.has(o.kind)) throw new Error(`${o.kind} ${key} is stored but not run: the local runtime runs Deployments, Jobs and Pods`);
        break;
    }
  }

  private async ensureNamespace(ns: string): Promise<void> {
    if (!this.store('Namespace').has(ns)) await this.applyOne({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }

  /** Deletes objects (YAML text or objects), or one by kind and `namespace/name`. */
  async delete(input: string | KubeObject | KubeObject[], key?: string): Promise<void> {
    let objs: KubeObject[];
    if (typeof input === 'string' && key !== undefined) {
      const o = this.get(input, key);
      objs = o ? [o] : [];
      if (!o && input === 'Pod') {
        const p = this.podsByKey.get(key);
        if (p) objs = [p.object];
      }
    } else objs = typeof input === 'string' ? parseManifests(input) : Array.isArray(input) ? input : [input];
    for (const o of objs) {
      if (!isClusterScoped(o.kind)) o.metadata.namespace ??= 'default';
      const k = keyOf(o);
      if (o.kind === 'Pod') {
        await this.deletePod(k);
        continue;
      }
      const sk = key !== undefined ? (input as string) : storeKind(o);
      const stored = this.store(sk).get(k);
      if (!stored) continue;
      this.store(sk).delete(k);
      if (this.wantsConfigFile(stored)) await this.removeConfig(stored);
      if (sk !== o.kind || isGatewayApi(stored)) await this.gatewayDeployer.remove(stored);
      if (o.kind === 'Deployment') await this.deployments.remove(k);
      if (o.kind === 'Job') await this.jobs.remove(k);
      if (o.kind === 'StatefulSet') await this.sets.remove(k);
      if (o.kind === 'CronJob') {
        this.cron.remove(k);
        // Its Jobs are garbage-collected with it.
        for (const j of this.list('Job').filter((x) => x.metadata.namespace === o.metadata.namespace && x.metadata.ownerReferences?.some((r) => r.kind === 'CronJob' && r.name === o.metadata.name))) await this.delete('Job', keyOf(j));
      }
      if (o.kind === 'Service') {
        const vip = this.vips.get(k);
        if (vip) this.net.vips.release(vip);
        this.vips.delete(k);
        for (const s of this.list('EndpointSlice').filter((e) => e.metadata.namespace === o.metadata.namespace && e.metadata.labels?.['kubernetes.io/service-name'] === o.metadata.name)) {
          this.store('EndpointSlice').delete(keyOf(s));
          await this.removeConfig(s);
        }
        await this.syncServices();
        await this.syncHosts();
      }
    }
  }

  // ---- services -----------------------------------------------------------------------------

  private assignVip(s: ServiceObject): void {
    const key = keyOf(s);
    if (s.spec.clusterIP === 'None') {
      // Headless: no VIP; DNS answers with the endpoints themselves.
      s.spec.clusterIPs = ['None'];
      return;
    }
    let vip = this.vips.get(key);
    if (!vip) {
      vip = this.net.vips.allocate();
      this.vips.set(key, vip);
    }
    s.spec.clusterIP = vip;
    s.spec.clusterIPs = [vip];
  }

  /** A Service's VIP. */
  serviceIP(namespace: string, name: string): string | undefined {
    return this.vips.get(`${namespace}/${name}`);
  }

  private dnsServices(): DnsService[] {
    return [...this.vips.entries()].map(([k, vip]) => {
      const [namespace, name] = k.split('/');
      return { namespace, name, vip };
    });
  }

  private async syncHosts(): Promise<void> {
    const services = this.dnsServices();
    for (const p of this.podsByKey.values()) await this.net.updateHosts(p.net, hostsFile({ name: p.name, namespace: p.namespace, ip: p.ip }, services, this.headless));
  }

  /** Recomputes EndpointSlices and VIP rules from the pods' readiness; serialised. */
  private syncServices(): Promise<void> {
    const next = this.syncChain.then(() => this.doSyncServices());
    this.syncChain = next.catch((err: Error) => this.log(`service sync failed: ${err.message}`));
    return next;
  }

  private async doSyncServices(): Promise<void> {
    if (this.stopped) return;
    const pods = [...this.podsByKey.values()].map((p) => ({ object: p.object, ip: p.ip, ready: p.ready }));
    const rules: ServiceRule[] = [];
    const slicesNow = new Map<string, KubeObject>();
    const headless: HeadlessService[] = [];
    for (const svcObj of this.list('Service')) {
      const svc = svcObj as ServiceObject;
      if (!svc.spec.selector) continue;
      const slices = endpointSlicesFor(svc, pods);
      for (const s of slices) slicesNow.set(keyOf(s), s);
      if (svc.spec.clusterIP === 'None') {
        const endpoints = slices.flatMap((s) => (s.endpoints as { addresses: string[]; hostname?: string }[]).map((e) => ({ ip: e.addresses[0], hostname: e.hostname })));
        headless.push({ name: svc.metadata.name ?? '', namespace: svc.metadata.namespace ?? 'default', endpoints });
        continue;
      }
      for (const sp of svc.spec.ports ?? []) {
        const endpoints: { ip: string; port: number }[] = [];
        for (const s of slices) {
          const port = (s.ports as { name: string; port: number }[]).find((p) => p.name === (sp.name ?? ''));
          if (!port) continue;
          for (const e of s.endpoints as { addresses: string[] }[]) endpoints.push({ ip: e.addresses[0], port: port.port });
        }
        rules.push({ key: `${keyOf(svc)}:${sp.port}`, vip: svc.spec.clusterIP!, port: sp.port, protocol: (sp.protocol ?? 'TCP') as 'TCP', endpoints });
      }
    }
    await this.net.syncServices(rules);
    if (JSON.stringify(headless) !== JSON.stringify(this.headless)) {
      this.headless = headless;
      await this.syncHosts();
    }
    const old = this.store('EndpointSlice');
    for (const [k, s] of old) {
      if (!slicesNow.has(k) && s.metadata.labels?.['endpointslice.kubernetes.io/managed-by'] === 'endpointslice-controller.k8s.io') {
        old.delete(k);
        await this.removeConfig(s);
      }
    }
    for (const [k, s] of slicesNow) {
      const prev = old.get(k);
      if (prev && JSON.stringify(prev) === JSON.stringify(s)) continue;
      old.set(k, s);
      await this.writeConfig(s);
    }
  }

  // ---- host ports ---------------------------------------------------------------------------

  private maybePublish(s: ServiceObject): void {
    if (keyOf(s) !== (this.opts.publishService ?? 'istio-system/istio-ingressgateway')) return;
    for (const sp of s.spec.ports ?? []) {
      this.publish(s, sp.port).catch((err: Error) => this.log(`could not publish ${keyOf(s)}:${sp.port} on 127.0.0.1: ${err.message}`));
    }
  }

  private async publish(s: ServiceObject, port: number): Promise<number> {
    const existing = this.forwarders.get(port);
    if (existing) return existing.port;
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const vip = s.spec.clusterIP!;
      const upstream = connect({ host: vip, port });
      sockets.add(client);
      sockets.add(upstream);
      const done = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('error', done).on('close', done);
      upstream.on('error', done).on('close', done);
    });
    const entry = { server, port: 0, sockets };
    this.forwarders.set(port, entry);
    try {
      await new Promise<void>((res, rej) => {
        server.once('error', rej);
        server.listen(this.opts.hostPorts?.[port] ?? 0, '127.0.0.1', () => res());
      });
    } catch (err) {
      this.forwarders.delete(port);
      throw err;
    }
    entry.port = (server.address() as { port: number }).port;
    this.log(`published ${keyOf(s)}:${port} on 127.0.0.1:${entry.port}`);
    return entry.port;
  }

  /** The loopback port where the published Service's `servicePort` (e.g. the gateway's 80 or 443) is reachable. */
  hostPort(servicePort: number): number {
    const f = this.forwarders.get(servicePort);
    if (!f || !f.port) throw new Error(`service port ${servicePort} is not published (is ${this.opts.publishService ?? 'istio-system/istio-ingressgateway'} applied?)`);
    return f.port;
  }

  // ---- workloads ----------------------------------------------------------------------------

  /**
   * Creates a pod as the API server and kubelet would: name and uid, admission webhooks (retried
   * with backoff while the webhook is unreachable, as the ReplicaSet controller retries), network,
   * volumes, containers. Resolves once admitted and started (not necessarily ready).
   */
  createPod(input: PodObject, owner = 'Pod'): Promise<LocalPod | undefined> {
    // Registered at once, so a controller counting its pods sees this one before it is admitted.
    const pendingKey = `pending:${++this.pendingSeq}`;
    const state = { owner, cancelled: false };
    this.pending.set(pendingKey, state);
    const p = this.doCreatePod(input, owner, pendingKey, state).finally(() => this.pending.delete(pendingKey));
    this.inflight.add(p);
    const forget = () => this.inflight.delete(p);
    p.then(forget, forget);
    return p;
  }

  private async doCreatePod(input: PodObject, owner: string, pendingKey: string, state: { owner: string; cancelled: boolean }): Promise<LocalPod | undefined> {
    if (this.stopped) return undefined;
    const pod = structuredClone(input);
    pod.metadata.namespace ??= 'default';
    defaultPodSpec(pod.spec);
    await this.ensureNamespace(pod.metadata.namespace);
    try {
      admitName(pod);
      const nsLabels = this.get('Namespace', pod.metadata.namespace)?.metadata.labels ?? { 'kubernetes.io/metadata.name': pod.metadata.namespace };
      let admitted: PodObject | undefined;
      for (let attempt = 0; !admitted; attempt++) {
        if (state.cancelled || this.stopped) return undefined;
        try {
          const r = await admitPod(this.list('MutatingWebhookConfiguration'), pod, nsLabels, (ns, name, port) => {
            const vip = this.serviceIP(ns, name);
            return vip ? { host: vip, port } : undefined;
          });
          admitted = r.pod;
          if (r.webhooks.length) this.log(`pod ${keyOf(pod)} admitted by ${r.webhooks.join(', ')}`);
        } catch (err) {
          if (!(err instanceof AdmissionError) || !err.retriable || owner === 'Pod') throw err;
          if (attempt % 5 === 0) this.log(`pod of ${owner}: ${err.message}; retrying`);
          await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
        }
      }
      if (state.cancelled || this.stopped) return undefined;
      return await this.runPod(admitted, owner, pendingKey);
    } finally {
      this.pending.delete(pendingKey);
    }
  }

  private async runPod(pod: PodObject, owner: string, pendingKey: string): Promise<LocalPod> {
    const ns = pod.metadata.namespace!;
    const name = pod.metadata.name!;
    const key = `${ns}/${name}`;
    if (this.stopped) throw new Error(`pod ${key}: the runtime is stopping`);
    const net = await this.net.addPod(ns, name, { hosts: '', resolvConf: resolvConf(ns), nsswitch: nsswitchConf(readFileIfExists('/etc/nsswitch.conf')) });
    await this.net.updateHosts(net, hostsFile({ name, namespace: ns, ip: net.ip }, this.dnsServices(), this.headless));
    pod.spec.nodeName = NODE_NAME;
    pod.status = { phase: 'Pending', hostIP: this.net.gateway, podIP: net.ip, podIPs: [{ ip: net.ip }] };
    const dir = await podDir(this.runDir, ns, name);
    const facts = { pod, podIP: net.ip, hostIP: this.net.gateway, nodeName: NODE_NAME };
    let volumes: Map<string, string>;
    try {
      volumes = await materializeVolumes(join(dir, 'volumes'), pod.spec.volumes, { facts, tokens: this.tokens, find: (kind, n, nm) => this.get(kind, `${n}/${nm}`) });
    } catch (err) {
      await this.net.removePod(net.netns);
      throw err;
    }
    const lp = new LocalPod(pod, net, volumes, {
      runDir: this.runDir,
      workspaceRoot: this.workspaceRoot,
      imageContext: { jwksFile: this.jwksFile, issuer: this.tokens.issuer, configDir: this.configDir },
      images: this.images,
      imageRunner: this.imageRunner,
      lookup: (kind, n, nm, k) => {
        const o = this.get(kind, `${n}/${nm}`);
        return o ? dataOf(o)[k]?.toString('utf8') : undefined;
      },
      backoff: this.opts.backoff ?? { initialMs: 1000, maxMs: 30_000 },
      probePeriodScale: this.opts.probePeriodScale ?? 1,
      onReadyChange: (p) => {
        const h = this.podReadyChanged(p);
        this.readyHandlers.add(h);
        void h.finally(() => this.readyHandlers.delete(h));
      },
      onComplete: (p) => void this.podCompleted(p, owner),
      log: (m) => this.log(m),
    }, NODE_NAME, this.net.gateway);
    this.podsByKey.set(key, lp);
    this.podOwners.set(key, owner);
    this.pending.delete(pendingKey);
    this.scheduleTokenRefresh(lp, dir);
    await this.writePodConfig(lp);
    await this.syncHosts();
    this.log(`pod ${key} ${net.ip} starting`);
    lp.start()
      .then(() => this.writePodConfig(lp))
      .catch((err: Error) => {
        lp.error = err.message;
        this.log(`pod ${key}: ${err.message}`);
      });
    return lp;
  }

  /** Re-issues a pod's projected tokens at 80 % of their lifetime, as the kubelet does. */
  private scheduleTokenRefresh(p: LocalPod, dir: string): void {
    const ttls = (p.object.spec.volumes ?? []).flatMap((v) => v.projected?.sources.flatMap((s) => (s.serviceAccountToken ? [Math.max(600, s.serviceAccountToken.expirationSeconds ?? 3607)] : [])) ?? []);
    if (ttls.length === 0) return;
    const everyMs = Math.min(...ttls) * 800;
    const timer = setInterval(() => {
      if (this.stopped || this.podsByKey.get(p.key) !== p) return clearInterval(timer);
      materializeVolumes(join(dir, 'volumes'), p.object.spec.volumes, {
        facts: { pod: p.object, podIP: p.ip, hostIP: this.net.gateway, nodeName: NODE_NAME },
        tokens: this.tokens,
        find: (kind, n, nm) => this.get(kind, `${n}/${nm}`),
      }).catch((err: Error) => this.log(`pod ${p.key}: refreshing tokens: ${err.message}`));
    }, everyMs);
    timer.unref();
    this.timers.add(timer);
  }

  private async writePodConfig(p: LocalPod): Promise<void> {
    if (this.stopped || !this.podsByKey.has(p.key)) return;
    const o = structuredClone(p.object);
    o.status = {
      ...(o.status ?? {}),
      phase: p.phase,
      conditions: [
        { type: 'Initialized', status: p.phase === 'Pending' ? 'False' : 'True' },
        { type: 'Ready', status: p.ready ? 'True' : 'False' },
        { type: 'ContainersReady', status: p.ready ? 'True' : 'False' },
      ],
    };
    await this.writeConfig(o);
  }

  /** A pod reached Succeeded or Failed: its sandbox is torn down (nothing keeps running), then its owner hears of it. */
  private async podCompleted(p: LocalPod, owner: string): Promise<void> {
    const phase = p.phase as 'Succeeded' | 'Failed';
    await this.deletePod(p.key).catch((err: Error) => this.log(`pod ${p.key}: teardown: ${err.message}`));
    if (owner.startsWith('Job/')) await this.jobs.podFinished(owner, p.key, phase).catch((err: Error) => this.log(err.message));
  }

  private async podReadyChanged(p: LocalPod): Promise<void> {
    this.log(`pod ${p.key} ${p.ready ? 'ready' : 'not ready'}`);
    await Promise.all([this.writePodConfig(p).catch(() => undefined), this.syncServices().catch(() => undefined)]);
    const owner = this.ownerOf(p);
    if (owner?.startsWith('StatefulSet/')) void this.sets.sync(owner.slice('StatefulSet/'.length));
    const dep = this.deployments.deploymentOf(owner);
    if (dep) void this.deployments.sync(dep);
  }

  /** Deletes a pod (`namespace/name`): endpoints first, then graceful termination, then its network. */
  async deletePod(key: string): Promise<void> {
    const pend = this.pending.get(key);
    if (pend) {
      pend.cancelled = true;
      return;
    }
    const p = this.podsByKey.get(key);
    if (!p || this.terminating.has(key)) return;
    this.terminating.add(key);
    p.object.metadata.deletionTimestamp = new Date().toISOString();
    const cap = this.opts.maxGraceMs ?? 10_000;
    p.object.spec.terminationGracePeriodSeconds = Math.min(p.object.spec.terminationGracePeriodSeconds ?? 30, cap / 1000);
    // Endpoints first: the pod leaves its EndpointSlices and VIP rules before its containers get SIGTERM.
    p.markTerminating();
    await Promise.allSettled([...this.readyHandlers]);
    await p.stop();
    this.podsByKey.delete(key);
    this.terminating.delete(key);
    const owner = this.podOwners.get(key);
    this.podOwners.delete(key);
    await this.syncServices().catch(() => undefined);
    await rm(this.configPath(p.object), { force: true });
    await this.net.removePod(p.net.netns);
    // A ReplicaSet replaces a deleted pod (not awaited: the controller may be the one deleting).
    const dep = this.deployments.deploymentOf(owner);
    if (dep && !this.stopped) void this.deployments.sync(dep);
    // A StatefulSet re-creates it under the same name (not awaited: the controller may be the one deleting).
    if (owner?.startsWith('StatefulSet/') && !this.stopped) void this.sets.sync(owner.slice('StatefulSet/'.length));
  }

  private async refreshVolumes(o: KubeObject): Promise<void> {
    for (const p of this.podsByKey.values()) {
      if (p.namespace !== o.metadata.namespace) continue;
      const uses = (p.object.spec.volumes ?? []).some((v) =>
        (o.kind === 'Secret' && (v.secret?.secretName === o.metadata.name || v.projected?.sources.some((s) => s.secret?.name === o.metadata.name))) ||
        (o.kind === 'ConfigMap' && (v.configMap?.name === o.metadata.name || v.projected?.sources.some((s) => s.configMap?.name === o.metadata.name))));
      if (!uses) continue;
      const dir = join(this.runDir, 'pods', `${p.namespace}_${p.name}`, 'volumes');
      await materializeVolumes(dir, p.object.spec.volumes, {
        facts: { pod: p.object, podIP: p.ip, hostIP: this.net.gateway, nodeName: NODE_NAME },
        tokens: this.tokens,
        find: (kind, n, nm) => this.get(kind, `${n}/${nm}`),
      }).catch((err: Error) => this.log(`pod ${p.key}: refreshing volumes: ${err.message}`));
    }
  }

  /** Keeps the webhook configuration's caBundle equal to the injector's ca.crt, as the injector does on a cluster. */
  private fillCaBundle(cfg: KubeObject): void {
    const certs = this.get('Secret', 'istio-system/istio-sidecar-injector-certs');
    if (!certs) return;
    const ca = dataOf(certs)['ca.crt'];
    if (!ca) return;
    for (const w of (cfg.webhooks ?? []) as { clientConfig: { caBundle?: string; service?: { name: string } } }[]) {
      if (w.clientConfig.service?.name === 'istio-sidecar-injector' || !w.clientConfig.caBundle) w.clientConfig.caBundle = ca.toString('base64');
    }
  }

  /** Creates a CronJob's Job now (`kubectl create job --from=cronjob/<name>`); its `namespace/name`, or undefined when concurrencyPolicy Forbid skipped it. */
  createJobFromCronJob(key: string): Promise<string | undefined> {
    return this.cron.trigger(key);
  }

  // ---- queries ------------------------------------------------------------------------------

  /** Running pods. */
  pods(): PodInfo[] {
    return [...this.podsByKey.values()].map((p) => ({
      namespace: p.namespace,
      name: p.name,
      ip: p.ip,
      netns: p.net.netns,
      phase: p.phase,
      ready: p.ready,
      labels: p.object.metadata.labels ?? {},
      owner: this.ownerOf(p),
      containers: p.containerStatuses(),
      object: p.object,
    }));
  }

  /** A running pod by `namespace/name`, or the first whose labels include `selector` in `namespace`. */
  pod(namespace: string, nameOrSelector: string | Record<string, string>): LocalPod | undefined {
    if (typeof nameOrSelector === 'string') return this.podsByKey.get(`${namespace}/${nameOrSelector}`);
    const matching = [...this.podsByKey.values()].filter((p) => p.namespace === namespace && Object.entries(nameOrSelector).every(([k, v]) => p.object.metadata.labels?.[k] === v));
    // A terminating pod is picked only when nothing else matches (as `kubectl exec deploy/…` skips it).
    return matching.find((p) => !this.terminating.has(p.key) && p.ready) ?? matching.find((p) => !this.terminating.has(p.key)) ?? matching[0];
  }

  /**
   * Waits until a Deployment's rollout is complete, as `kubectl rollout status` does: every replica
   * of the current template created and Ready, no pod of an older one left. Throws with the status after `timeoutMs`.
   */
  async waitRollout(key: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    for (;;) {
      const dep = this.get('Deployment', key);
      if (!dep) throw new Error(`Deployment ${key} not found`);
      if (rolloutComplete(dep)) return;
      if (Date.now() > deadline) throw new Error(`Deployment ${key}: rollout not complete after ${opts.timeoutMs ?? 120_000} ms: ${JSON.stringify(dep.status ?? {})}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Waits until every pod (and every pod still being admitted) is Ready; throws with the stragglers after `timeoutMs`. */
  async waitReady(opts: { timeoutMs?: number; namespace?: string; selector?: Record<string, string> } = {}): Promise<void> {
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    const selected = (p: LocalPod) =>
      (!opts.namespace || p.namespace === opts.namespace) && Object.entries(opts.selector ?? {}).every(([k, v]) => p.object.metadata.labels?.[k] === v);
    for (;;) {
      const pods = [...this.podsByKey.values()].filter(selected);
      const notReady = pods.filter((p) => !p.ready).map((p) => p.key);
      const pendingOwners = opts.selector ? [] : [...this.pending.values()].filter((s) => !s.cancelled && (!opts.namespace || s.owner.includes(`/${opts.namespace}/`))).map((s) => `${s.owner} (admitting)`);
      if (notReady.length === 0 && pendingOwners.length === 0) {
        // Ready means reachable: wait until the EndpointSlices and VIP rules reflect it.
        if (this.readyHandlers.size === 0) {
          await this.syncChain;
          return;
        }
        await Promise.allSettled([...this.readyHandlers]);
        continue;
      }
      if (Date.now() > deadline) throw new Error(`pods not ready after ${opts.timeoutMs ?? 120_000} ms: ${[...notReady, ...pendingOwners].join(', ')} (logs in ${join(this.runDir, 'logs')})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * Runs a command inside a pod's network namespace, with the pod's hosts and resolv.conf (as a
   * process in the pod would; not UID 1337, so a sidecar's capture applies to it).
   */
  exec(pod: string | PodInfo | LocalPod, argv: string[], opts: { uid?: number; timeoutMs?: number; input?: string; env?: Record<string, string> } = {}): Promise<ExecResult> {
    const netns = typeof pod === 'string' ? this.podsByKey.get(pod)?.net.netns : 'net' in pod ? pod.net.netns : pod.netns;
    if (!netns) return Promise.reject(new Error(`pod ${String(pod)} not found`));
    const uid = opts.uid ?? 0;
    return new Promise((resolveExec, reject) => {
      const child = spawn('ip', ['netns', 'exec', netns, 'setpriv', '--reuid', String(uid), '--regid', String(uid), '--clear-groups', '--', ...argv], {
        cwd: this.workspaceRoot,
        env: { ...process.env, ...(opts.env ?? {}) },
        timeout: opts.timeoutMs ?? 30_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolveExec({ code, stdout, stderr }));
      child.stdin.end(opts.input ?? '');
    });
  }

  /** Counts packets between pods on the bridge whose payload contains `pattern` (see {@link HostNetwork.watchWire}). */
  watchWire(pattern: string): Promise<{ packets: () => Promise<number>; remove: () => Promise<void> }> {
    return this.net.watchWire(pattern);
  }

  /** The log file of a container. */
  logPath(namespace: string, pod: string, container: string): string {
    return join(this.runDir, 'logs', `${namespace}_${pod}_${container}.log`);
  }

  /** Stops every pod (apps before sidecars), the forwarders and the network. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.jobs.stop();
    this.deployments.stop();
    this.sets.stop();
    this.cron.stop();
    for (const s of this.pending.values()) s.cancelled = true;
    for (const t of this.timers) clearInterval(t);
    // Pods being admitted or set up finish (or give up) first, so none escapes the teardown.
    await Promise.allSettled([...this.inflight]);
    for (const f of this.forwarders.values()) {
      for (const s of f.sockets) s.destroy();
      f.server.close();
    }
    this.forwarders.clear();
    const cap = this.opts.maxGraceMs ?? 10_000;
    await Promise.all(
      [...this.podsByKey.values()].map(async (p) => {
        p.object.spec.terminationGracePeriodSeconds = Math.min(p.object.spec.terminationGracePeriodSeconds ?? 30, cap / 1000);
        await p.stop().catch(() => undefined);
      }),
    );
    this.podsByKey.clear();
    await this.syncChain.catch(() => undefined);
    if (this.net) await this.net.close();
    this.log(`run ${this.names.id} stopped`);
  }
}
