/**
 * LocalRuntime: runs Kubernetes manifests on this machine with Kubernetes' semantics. It is the
 * wiring of Kubernetes' own components, each in its module: the object store (`store.ts`) and the
 * API server's write path with admission (`api.ts`, `service-ips.ts`); controllers that watch and
 * write the store — Deployment → ReplicaSet (`deployments.ts`), StatefulSet, Job, CronJob,
 * EndpointSlice (`endpointslice-controller.ts`); the node agent (`kubelet.ts`, pods in `pod.ts`);
 * the service proxy (`service-proxy.ts`); cluster DNS (`cluster-dns.ts`); and, for the control
 * plane, the file store writer (`config-writer.ts`) and the host port publisher (`publisher.ts`).
 */
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ApiServer, ownerOf, type Refusal } from './api';
import { phaseOf, readySince, specWatch } from './controller-watch';
import { findWorkspaceRoot } from './workspace';
import { cleanup } from './cleanup';
import { ClusterDns } from './cluster-dns';
import { ConfigWriter } from './config-writer';
import type { Backoff } from './container';
import { CronJobController, jobsOfCronJob } from './cronjobs';
import { DeploymentController, waitRollout } from './deployments';
import { EndpointSliceController, podReady } from './endpointslice-controller';
import { EventRecorder } from './events';
import { LocalApi } from './local-api';
import { IMAGES, type ImageEntry } from './images';
import { ImageRunner, type FromImagesOptions } from './image-runner';
import { GATEWAY_API_GATEWAY, GatewayDeployer } from './gateway-deployer';
import { JobController, jobFinished, writeJobStatus } from './jobs';
import { keyOf, loadManifests, type KubeObject, type PodObject } from './kube';
import { Kubelet, type ExecResult, type PodInfo } from './kubelet';
import { RunNames, newRunId } from './names';
import { HostNetwork } from './network';
import { MeshPki } from './pki';
import type { LocalPod } from './pod';
import { HostPortPublisher } from './publisher';
import { ClusterIpAllocator } from './service-ips';
import { ServiceProxy } from './service-proxy';
import { StatefulSetController } from './statefulsets';
import { waitPodsReady } from './readiness';
import { ObjectStore } from './store';
import { TokenIssuer } from './tokens';

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
  /** Serve the local API (`<runDir>/api.sock`, announced in `stateDir`) for `tsmesh local` (default true). */
  localApi?: boolean;
  /** Where the local API's state file goes (default `/run/tsmesh-local`). */
  stateDir?: string;
  /** Progress and event lines (also written to <runDir>/runtime.log). */
  log?: (line: string) => void;
}

export type { Refusal } from './api';
export type { ExecResult, PodInfo } from './kubelet';


const NODE_NAME = 'local-node';

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
  /** The object store (the API server's storage): list, get, watch. */
  readonly store = new ObjectStore();
  private api!: ApiServer;
  private kubelet!: Kubelet;
  private ips!: ClusterIpAllocator;
  private slices!: EndpointSliceController;
  private proxy!: ServiceProxy;
  private dns!: ClusterDns;
  private writer!: ConfigWriter;
  private publisher!: HostPortPublisher;
  private jobs!: JobController;
  private sets!: StatefulSetController;
  private cron!: CronJobController;
  private deployments!: DeploymentController;
  private gatewayDeployer!: GatewayDeployer;
  private imageRunner: ImageRunner | undefined;
  private localApi: LocalApi | undefined;
  private readonly cancels: (() => void)[] = [];
  private stopped = false;
  private readonly workspaceRoot: string;
  private readonly logFile: string;

  private constructor(readonly runDir: string, private readonly opts: LocalRuntimeOptions) {
    this.names = new RunNames(newRunId());
    this.configDir = join(runDir, 'config');
    this.jwksFile = join(runDir, 'jwks.json');
    this.workspaceRoot = opts.workspaceRoot ?? findWorkspaceRoot();
    this.logFile = join(runDir, 'runtime.log');
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
    if (fromImages) this.imageRunner = await ImageRunner.start(fromImages === true ? {} : fromImages, { jwksFile: this.jwksFile, issuer: this.tokens.issuer, configDir: this.configDir }, this.opts.images ?? IMAGES, (l) => this.log(l));
    this.net = await HostNetwork.create(this.names, { podCidr: this.opts.podCidr });
    this.log(`run ${this.names.id}: bridge ${this.names.bridge} ${this.net.podCidr}, services ${this.net.serviceCidr}, run dir ${this.runDir}`);
    this.wire();
    if (this.opts.localApi !== false) {
      this.localApi = new LocalApi({
        id: this.names.id,
        runDir: this.runDir,
        store: this.store,
        backoff: this.opts.backoff ?? { initialMs: 1000, maxMs: 30_000 },
        pod: (key) => this.kubelet.pod(key),
        logPath: (ns, pod, c) => this.logPath(ns, pod, c),
        apply: (yaml) => this.apply(yaml),
        delete: (yaml, kind, key) => (yaml ? this.delete(yaml) : this.delete(kind ?? '', key ?? '')),
        exec: (pod, argv, uid) => this.exec(pod, argv, { uid, timeoutMs: 60_000 }),
        waitRollout: (key, timeoutMs) => this.waitRollout(key, { timeoutMs }),
      }, this.opts.stateDir);
      await this.localApi.start();
      this.log(`local API on ${this.localApi.socket} (state file ${this.localApi.stateFile})`);
    }
    if (this.opts.meshPki !== false) {
      this.pki = await MeshPki.create();
      await this.apply(await this.pki.bootstrapObjects(this.opts.gatewayCertHosts ?? ['localhost', 'tsmesh.local', '*.tsmesh.local']));
    }
  }

  /** Connects the components to the store. */
  private wire(): void {
    const log = (l: string) => this.log(l);
    const store = this.store;
    this.writer = new ConfigWriter(store, this.configDir, log);
    this.ips = new ClusterIpAllocator(this.net.vips);
    this.slices = new EndpointSliceController(store, log);
    this.proxy = new ServiceProxy(store, this.net, log);
    this.kubelet = new Kubelet({
      nodeName: NODE_NAME,
      store,
      net: this.net,
      tokens: this.tokens,
      runDir: this.runDir,
      workspaceRoot: this.workspaceRoot,
      images: this.opts.images ?? IMAGES,
      imageContext: { jwksFile: this.jwksFile, issuer: this.tokens.issuer, configDir: this.configDir },
      imageRunner: this.imageRunner,
      backoff: this.opts.backoff ?? { initialMs: 1000, maxMs: 30_000 },
      probePeriodScale: this.opts.probePeriodScale ?? 1,
      maxGraceMs: this.opts.maxGraceMs ?? 10_000,
      hostsFor: (p) => this.dns.hostsFor(p),
      sandboxesChanged: () => void this.dns.refresh(),
      endpointsSettled: () => this.endpointsSettled(),
      events: new EventRecorder(store, 'kubelet'),
      log,
    });
    this.dns = new ClusterDns(store, this.net, () => this.kubelet.dnsClients(), log);
    this.publisher = new HostPortPublisher(store, this.opts.publishService ?? 'istio-system/istio-ingressgateway', this.opts.hostPorts ?? {}, log);
    this.api = new ApiServer({
      store,
      ips: this.ips,
      nodeName: NODE_NAME,
      whenStarted: (key) => this.kubelet.whenStarted(key),
      whenGone: (key) => this.kubelet.whenGone(key),
      running: () => !this.stopped,
      events: new EventRecorder(store, 'default-scheduler'),
      log,
    });
    const podsOwnedBy = (owner: string) => store.list('Pod').filter((p) => ownerOf(p) === owner);
    this.deployments = new DeploymentController({
      store,
      podsOf: (owner) => [
        ...podsOwnedBy(owner).filter((p) => !p.metadata.deletionTimestamp).map((p) => ({ key: keyOf(p), ready: podReady(p), pending: false, readySince: readySince(p) })),
        ...[...this.api.pending].filter(([, st]) => st.owner === owner && !st.cancelled).map(([k]) => ({ key: k, ready: false, pending: true })),
      ],
      createPod: (pod, owner) => this.api.createPod(pod, owner),
      deletePod: (key) => this.api.deletePod(key),
      events: new EventRecorder(store, 'deployment-controller'),
      log,
    });
    this.sets = new StatefulSetController({
      podsOf: (owner) => podsOwnedBy(owner).map((p) => ({ name: p.metadata.name ?? '', ready: podReady(p), revision: p.metadata.labels?.['controller-revision-hash'] })),
      createPod: (pod, owner) => this.api.createPod(pod, owner),
      deletePod: (key) => this.api.deletePod(key),
      log,
    });
    this.cron = new CronJobController({
      applyJob: (job) => this.api.applyOne(job),
      deleteJob: (key) => this.api.delete('Job', key),
      jobsOf: (cronKey) => jobsOfCronJob(store, cronKey),
      log,
    });
    this.jobs = new JobController({
      createPod: (pod, owner) => this.api.createPod(pod, owner),
      deletePod: (key) => this.api.deletePod(key),
      writeStatus: async (job) => {
        writeJobStatus(store, job);
        const cronOwner = job.metadata.ownerReferences?.find((r) => r.kind === 'CronJob');
        if (cronOwner && jobFinished(job)) void this.cron.prune(`${job.metadata.namespace}/${cronOwner.name}`).catch((err: Error) => this.log(err.message));
      },
      retryDelayMs: (n) => Math.min(this.opts.backoff?.maxMs ?? 30_000, (this.opts.backoff?.initialMs ?? 1000) * 2 ** Math.max(0, n - 1)),
      log,
    });
    // Gateway API: a Gateway of class istio gets its Deployment, Service and ServiceAccount.
    this.gatewayDeployer = new GatewayDeployer({
      apply: (objs) => this.apply(objs),
      delete: (kind, key) => this.delete(kind, key),
      list: (kind) => store.list(kind),
      log,
    });
    this.cancels.push(
      specWatch(store, GATEWAY_API_GATEWAY, (o) => this.gatewayDeployer.reconcile(o), (_key, o) => this.gatewayDeployer.remove(o)),
      specWatch(store, 'GatewayClass', (o) => (o.apiVersion.startsWith('gateway.networking.k8s.io/') ? this.gatewayDeployer.reconcileClass(o.metadata.name ?? '') : Promise.resolve()), (_key, o) => this.gatewayDeployer.remove(o)),
      specWatch(store, 'Deployment', (o) => this.deployments.sync(keyOf(o)), (key) => this.deployments.remove(key)),
      specWatch(store, 'StatefulSet', (o) => this.sets.apply(o), (key) => this.sets.remove(key)),
      specWatch(store, 'Job', (o) => this.jobs.reconcile(structuredClone(o)), (key) => this.jobs.remove(key)),
      specWatch(store, 'CronJob', (o) => this.cron.apply(o), async (key, o) => {
        this.cron.remove(key);
        // Garbage collection: its Jobs go with it.
        for (const j of store.list('Job', o.metadata.namespace).filter((x) => x.metadata.ownerReferences?.some((r) => r.kind === 'CronJob' && r.uid === o.metadata.uid))) await this.api.delete('Job', keyOf(j));
      }),
      // Pod events reach the controllers of their owners: readiness and deletion re-evaluate them.
      store.watch('Pod', (e) => {
        const owner = ownerOf(e.object);
        if (owner.startsWith('StatefulSet/')) void this.sets.sync(owner.slice('StatefulSet/'.length));
        // A Deployment re-evaluates once the endpoints show the change, so a new pod is in its
        // Services' EndpointSlices (and on its way to the proxies) before an old one is taken out.
        const dep = this.deployments.deploymentOf(owner);
        if (dep) void this.endpointsSettled().then(() => this.deployments.sync(dep));
        const phase = phaseOf(e.object);
        if (e.type === 'DELETED' && owner.startsWith('Job/') && (phase === 'Succeeded' || phase === 'Failed')) {
          return this.jobs.podFinished(owner, keyOf(e.object), phase).catch((err: Error) => this.log(err.message));
        }
      }),
      // istio-ca-root-cert in every namespace, as istiod's namespace controller writes it.
      store.watch('Namespace', (e) => (e.type === 'ADDED' && this.pki ? this.api.applyOne(this.pki.rootCertConfigMap(e.object.metadata.name!)) : undefined)),
    );
  }

  /** Resolves once EndpointSlices, VIP rules, hosts files and config files reflect every change seen so far. */
  private async endpointsSettled(): Promise<void> {
    await this.slices.idle();
    await Promise.all([this.proxy.idle(), this.dns.idle(), this.writer.flush()]);
  }

  // ---- objects ------------------------------------------------------------------------------

  /** An object by kind and `namespace/name` (or name for cluster-scoped kinds). */
  get(kind: string, key: string): KubeObject | undefined {
    return this.store.get(kind, key);
  }

  /** Every stored object of `kind`. */
  list(kind: string): KubeObject[] {
    return this.store.list(kind);
  }

  /**
   * Creates or updates objects (YAML text, objects, or files/directories via {@link loadManifests}).
   * An object the runtime cannot run (an unsupported kind or field, a pod refused by admission) is
   * logged with its kind, name and reason and returned; the others are applied.
   */
  apply(input: string | KubeObject | KubeObject[]): Promise<Refusal[]> {
    return this.api.apply(input);
  }

  /** Applies manifest files or directories. */
  applyFiles(paths: string[]): Promise<Refusal[]> {
    return this.api.apply(loadManifests(paths));
  }

  /** Deletes objects (YAML text or objects), or one by kind and `namespace/name`. */
  delete(input: string | KubeObject | KubeObject[], key?: string): Promise<void> {
    return this.api.delete(input, key);
  }

  /** Deletes a pod (`namespace/name`) gracefully: endpoints first, then termination, then its network. */
  deletePod(key: string): Promise<void> {
    return this.api.deletePod(key);
  }

  /** Creates a pod through admission; resolves with it once its sandbox is up. */
  async createPod(input: PodObject): Promise<LocalPod | undefined> {
    const r = await this.api.createPod(input);
    return r ? this.kubelet.pod(r.key) : undefined;
  }

  /** Creates a CronJob's Job now (`kubectl create job --from=cronjob/<name>`); its `namespace/name`, or undefined when concurrencyPolicy Forbid skipped it. */
  createJobFromCronJob(key: string): Promise<string | undefined> {
    return this.cron.trigger(key);
  }

  // ---- queries ------------------------------------------------------------------------------

  /** A Service's VIP. */
  serviceIP(namespace: string, name: string): string | undefined {
    return this.ips.get(`${namespace}/${name}`);
  }

  /** The loopback port where the published Service's `servicePort` (e.g. the gateway's 80 or 443) is reachable. */
  hostPort(servicePort: number): number {
    return this.publisher.hostPort(servicePort);
  }

  /** Running pods. */
  pods(): PodInfo[] {
    return this.kubelet.podInfos();
  }

  /** A running pod by `namespace/name`, or the first whose labels include `selector` in `namespace` (Ready and not terminating first). */
  pod(namespace: string, nameOrSelector: string | Record<string, string>): LocalPod | undefined {
    return typeof nameOrSelector === 'string' ? this.kubelet.pod(`${namespace}/${nameOrSelector}`) : this.kubelet.find(namespace, nameOrSelector);
  }

  /**
   * Waits until a Deployment's rollout is complete, as `kubectl rollout status` does: every replica
   * of the current template created and Ready, no pod of an older one left. Throws with the status after `timeoutMs`.
   */
  waitRollout(key: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    return waitRollout(this.store, key, opts.timeoutMs);
  }

  /** Waits until every pod (and every pod still being admitted) is Ready and reachable; throws with the stragglers after `timeoutMs`. */
  waitReady(opts: { timeoutMs?: number; namespace?: string; selector?: Record<string, string> } = {}): Promise<void> {
    return waitPodsReady({ store: this.store, pending: () => this.api.pending.values(), settled: () => this.endpointsSettled(), logDir: join(this.runDir, 'logs') }, opts);
  }

  /**
   * Runs a command inside a pod's network namespace, with the pod's hosts and resolv.conf (as a
   * process in the pod would; not UID 1337, so a sidecar's capture applies to it).
   */
  exec(pod: string | PodInfo | LocalPod, argv: string[], opts: { uid?: number; timeoutMs?: number; input?: string; env?: Record<string, string> } = {}): Promise<ExecResult> {
    return this.kubelet.exec(typeof pod === 'string' ? pod : 'net' in pod ? pod : `${pod.namespace}/${pod.name}`, argv, opts);
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
    await this.localApi?.stop().catch(() => undefined);
    this.jobs?.stop();
    this.deployments?.stop();
    this.sets?.stop();
    this.cron?.stop();
    for (const c of this.cancels) c();
    for (const s of this.api?.pending.values() ?? []) s.cancelled = true;
    // Pods being admitted or set up finish (or give up) first, so none escapes the teardown.
    await this.api?.settle();
    this.publisher?.stop();
    await this.kubelet?.stop();
    this.slices?.stop();
    this.proxy?.stop();
    this.dns?.stop();
    await this.proxy?.idle().catch(() => undefined);
    await this.writer?.flush().catch(() => undefined);
    this.writer?.stop();
    if (this.net) await this.net.close();
    this.log(`run ${this.names.id} stopped`);
  }
}
