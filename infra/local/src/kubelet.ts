/**
 * The node agent (the kubelet's job): watches the Pods bound to this node in the object store and
 * runs them — sandbox (network namespace with the pod's IP, hosts file from cluster DNS), volumes,
 * init containers in order, native sidecars before the apps (`pod.ts`), probes, restarts with
 * back-off, per-container logs, projected tokens re-issued at 80 % of their lifetime, volumes
 * refreshed when their Secret or ConfigMap changes — and writes each pod's status back (phase,
 * IPs, conditions, container statuses). A pod with `deletionTimestamp` is terminated gracefully:
 * it turns not Ready, the endpoints are let settle (so it leaves its EndpointSlices and VIP rules
 * first), its containers get SIGTERM within `terminationGracePeriodSeconds` (apps first, sidecars
 * after), then the sandbox goes and the Pod object is removed. A pod that completes
 * (`restartPolicy` Never / OnFailure) is torn down the same way once its phase is recorded.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backoff } from './container';
import type { DnsClient } from './cluster-dns';
import type { EventRecorder } from './events';
import { nsswitchConf, resolvConf } from './dns';
import type { ImageRunner } from './image-runner';
import type { ImageContext, ImageEntry } from './images';
import { ownerOf } from './api';
import { dataOf, keyOf, type KubeObject, type PodObject } from './kube';
import type { HostNetwork } from './network';
import { LocalPod, podDir } from './pod';
import type { ObjectStore, WatchEvent } from './store';
import type { TokenIssuer } from './tokens';
import { materializeVolumes } from './volumes';

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

/** Result of a command run in a pod ({@link Kubelet.exec}). */
export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** What the kubelet needs from the node and the cluster. */
export interface KubeletHost {
  nodeName: string;
  store: ObjectStore;
  net: HostNetwork;
  tokens: TokenIssuer;
  runDir: string;
  workspaceRoot: string;
  images: Record<string, ImageEntry>;
  imageContext: ImageContext;
  /** Runs containers from their images' file systems (fromImages), else from the workspace's dist/. */
  imageRunner?: ImageRunner;
  backoff: Backoff;
  probePeriodScale: number;
  /** Longest termination grace given to a pod (ms). */
  maxGraceMs: number;
  /** The hosts file cluster DNS gives a pod. */
  hostsFor(pod: { name: string; namespace: string; ip: string }): string;
  /** A sandbox joined or left: cluster DNS refreshes the hosts files. */
  sandboxesChanged(): void;
  /** Resolves once EndpointSlices and VIP rules reflect the pods' current readiness. */
  endpointsSettled(): Promise<void>;
  events: EventRecorder;
  log(line: string): void;
}

function readFileIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The kubelet of the local node. */
export class Kubelet {
  private readonly running = new Map<string, LocalPod>();
  private readonly starting = new Map<string, Promise<LocalPod | undefined>>();
  private readonly terminations = new Map<string, Promise<void>>();
  private readonly gone = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly cancels: (() => void)[];
  private stopped = false;

  constructor(private readonly host: KubeletHost) {
    const { store } = host;
    this.cancels = [
      store.watch('Pod', (e) => this.onPod(e)),
      store.watch('Secret', (e) => (e.type === 'DELETED' ? undefined : this.refreshVolumes(e.object))),
      store.watch('ConfigMap', (e) => (e.type === 'DELETED' ? undefined : this.refreshVolumes(e.object))),
    ];
  }

  /** Pods with a sandbox on this node. */
  pods(): LocalPod[] {
    return [...this.running.values()];
  }

  /** A running pod by `namespace/name`. */
  pod(key: string): LocalPod | undefined {
    return this.running.get(key);
  }

  /** The first running pod of `namespace` whose labels include `selector` (Ready and not terminating first). */
  find(namespace: string, selector: Record<string, string>): LocalPod | undefined {
    const matching = this.pods().filter((p) => p.namespace === namespace && Object.entries(selector).every(([k, v]) => p.object.metadata.labels?.[k] === v));
    const live = (p: LocalPod) => !p.object.metadata.deletionTimestamp;
    return matching.find((p) => live(p) && p.ready) ?? matching.find(live) ?? matching[0];
  }

  /** Running pods with their container statuses (what `kubectl get pods` would show of them). */
  podInfos(): PodInfo[] {
    return this.pods().map((p) => ({
      namespace: p.namespace,
      name: p.name,
      ip: p.ip,
      netns: p.net.netns,
      phase: p.phase,
      ready: p.ready,
      labels: p.object.metadata.labels ?? {},
      owner: ownerOf(p.object),
      containers: p.containerStatuses(),
      object: p.object,
    }));
  }

  /**
   * Runs a command inside a pod's network namespace (`namespace/name` or the pod), with the pod's
   * hosts and resolv.conf (as a process in the pod would; not UID 1337, so a sidecar's capture applies to it).
   */
  exec(pod: string | LocalPod, argv: string[], opts: { uid?: number; timeoutMs?: number; input?: string; env?: Record<string, string> } = {}): Promise<ExecResult> {
    const netns = typeof pod === 'string' ? this.running.get(pod)?.net.netns : pod.net.netns;
    if (!netns) return Promise.reject(new Error(`pod ${typeof pod === 'string' ? pod : pod.key} not found`));
    const uid = opts.uid ?? 0;
    return new Promise((resolveExec, reject) => {
      const child = spawn('ip', ['netns', 'exec', netns, 'setpriv', '--reuid', String(uid), '--regid', String(uid), '--clear-groups', '--', ...argv], {
        cwd: this.host.workspaceRoot,
        env: { ...process.env, ...(opts.env ?? {}) },
        timeout: opts.timeoutMs ?? 30_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolveExec({ code, stdout, stderr }));
      // A command that exits without reading its input (EPIPE): its exit code and stderr say why.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input ?? '');
    });
  }

  /** True while the pod is being terminated. */
  isTerminating(key: string): boolean {
    return this.terminations.has(key);
  }

  /** Sandboxes cluster DNS writes hosts files for. */
  dnsClients(): DnsClient[] {
    return [...this.running.values()].map((p) => ({ name: p.name, namespace: p.namespace, ip: p.ip, net: p.net }));
  }

  /** Resolves with the pod once its sandbox is up and its containers are starting; rejects if it could not be set up. */
  async whenStarted(key: string): Promise<LocalPod | undefined> {
    return this.running.get(key) ?? (await this.starting.get(key));
  }

  /** Resolves once the Pod object `key` is gone from the store (terminated and removed). */
  whenGone(key: string): Promise<void> {
    if (!this.host.store.get('Pod', key)) return Promise.resolve();
    let g = this.gone.get(key);
    if (!g) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.gone.set(key, (g = { promise, resolve }));
    }
    return g.promise;
  }

  private onPod(e: WatchEvent): void | Promise<unknown> {
    const pod = e.object as PodObject;
    const key = keyOf(pod);
    if (e.type === 'DELETED') {
      this.gone.get(key)?.resolve();
      this.gone.delete(key);
      return;
    }
    if (pod.spec.nodeName !== this.host.nodeName || this.stopped) return;
    if (pod.metadata.deletionTimestamp) return this.terminate(key);
    if (!this.running.has(key) && !this.starting.has(key) && !(pod.status as { phase?: string } | undefined)?.phase?.match(/^(Succeeded|Failed)$/)) {
      const p = this.run(pod).finally(() => this.starting.delete(key));
      this.starting.set(key, p);
      p.catch(() => undefined);
      return p;
    }
  }

  private async run(pod: PodObject): Promise<LocalPod | undefined> {
    const ns = pod.metadata.namespace!;
    const name = pod.metadata.name!;
    const key = `${ns}/${name}`;
    const { net: hostNet } = this.host;
    const net = await hostNet.addPod(ns, name, { hosts: '', resolvConf: resolvConf(ns), nsswitch: nsswitchConf(readFileIfExists('/etc/nsswitch.conf')) });
    try {
      await hostNet.updateHosts(net, this.host.hostsFor({ name, namespace: ns, ip: net.ip }));
      this.host.store.status('Pod', key, { phase: 'Pending', hostIP: hostNet.gateway, podIP: net.ip, podIPs: [{ ip: net.ip }] });
      const dir = await podDir(this.host.runDir, ns, name);
      const volumes = await materializeVolumes(join(dir, 'volumes'), pod.spec.volumes, {
        facts: { pod, podIP: net.ip, hostIP: hostNet.gateway, nodeName: this.host.nodeName },
        tokens: this.host.tokens,
        find: (kind, n, nm) => this.host.store.get(kind, `${n}/${nm}`),
      });
      if (this.stopped || !this.host.store.get('Pod', key) || this.host.store.get('Pod', key)?.metadata.deletionTimestamp) {
        await hostNet.removePod(net.netns);
        if (this.host.store.get('Pod', key)) this.host.store.delete('Pod', key);
        return undefined;
      }
      const lp = new LocalPod(pod, net, volumes, {
        runDir: this.host.runDir,
        workspaceRoot: this.host.workspaceRoot,
        imageContext: this.host.imageContext,
        images: this.host.images,
        imageRunner: this.host.imageRunner,
        lookup: (kind, n, nm, k) => {
          const o = this.host.store.get(kind, `${n}/${nm}`);
          return o ? dataOf(o)[k]?.toString('utf8') : undefined;
        },
        backoff: this.host.backoff,
        probePeriodScale: this.host.probePeriodScale,
        onReadyChange: (p) => {
          this.host.log(`pod ${p.key} ${p.ready ? 'ready' : 'not ready'}`);
          this.writeStatus(p);
        },
        onComplete: (p) => void this.completed(p),
        onHookFailed: (p, container, reason) => this.host.events.record(p.object, 'Warning', 'FailedPreStopHook', `PreStopHook failed for container ${container}: ${reason}`),
        log: (m) => this.host.log(m),
      }, this.host.nodeName, hostNet.gateway);
      this.running.set(key, lp);
      this.scheduleTokenRefresh(lp, dir);
      this.writeStatus(lp);
      this.host.sandboxesChanged();
      this.host.log(`pod ${key} ${net.ip} starting`);
      lp.start()
        .then(() => {
          this.writeStatus(lp);
          this.watchContainers(lp);
        })
        .catch((err: Error) => {
          lp.error = err.message;
          this.host.log(`pod ${key}: ${err.message}`);
        });
      return lp;
    } catch (err) {
      await hostNet.removePod(net.netns);
      this.host.events.record(pod, 'Warning', 'FailedCreatePodSandBox', (err as Error).message);
      // The pod cannot run here (a volume's source is missing, …): it is removed with the reason logged.
      if (this.host.store.get('Pod', key)) this.host.store.delete('Pod', key);
      throw err;
    }
  }

  /** Records Started for each container and, on every exit the restart policy answers with a restart, BackOff with the delay. */
  private watchContainers(p: LocalPod): void {
    for (const c of p.containerStatuses()) {
      const proc = p.container(c.name);
      if (!proc) continue;
      this.host.events.record(p.object, 'Normal', 'Started', `Started container ${c.name}`);
      proc.onExit((code) => {
        if (this.running.get(p.key) !== p || this.terminations.has(p.key)) return;
        this.writeStatus(p);
        // The restart (if any) has been scheduled by the time listeners run: state is waiting.
        setImmediate(() => {
          if (proc.state !== 'waiting') return;
          const delay = Math.min(this.host.backoff.maxMs, this.host.backoff.initialMs * 2 ** Math.min(proc.restartCount - 1, 16));
          this.host.events.record(p.object, 'Warning', 'BackOff', `Back-off ${Math.round(delay / 100) / 10}s restarting failed container ${c.name} in pod ${p.name} (exit code ${code ?? 'unknown'})`);
          this.writeStatus(p);
        });
      });
    }
  }

  /** Writes the pod's status subresource from what runs. */
  private writeStatus(p: LocalPod): void {
    if (this.running.get(p.key) !== p || !this.host.store.get('Pod', p.key)) return;
    const prev = (this.host.store.get('Pod', p.key)!.status ?? {}) as Record<string, unknown> & { conditions?: { type: string; status: string; lastTransitionTime?: string }[] };
    const now = new Date().toISOString();
    // lastTransitionTime moves only when the condition's status does (the Deployment controller's minReadySeconds reads it).
    const cond = (type: string, status: string) => {
      const was = prev.conditions?.find((c) => c.type === type);
      return { type, status, lastTransitionTime: was && was.status === status && was.lastTransitionTime ? was.lastTransitionTime : now };
    };
    this.host.store.status('Pod', p.key, {
      ...prev,
      phase: p.phase,
      hostIP: this.host.net.gateway,
      podIP: p.ip,
      podIPs: [{ ip: p.ip }],
      conditions: [
        cond('Initialized', p.phase === 'Pending' ? 'False' : 'True'),
        cond('Ready', p.ready ? 'True' : 'False'),
        cond('ContainersReady', p.ready ? 'True' : 'False'),
      ],
      containerStatuses: p.containerStatuses().map((c) => ({ name: c.name, ready: c.ready, restartCount: c.restartCount, state: c.state, ...(c.sidecar ? { sidecar: true } : {}) })),
    });
    p.object.status = this.host.store.get('Pod', p.key)!.status as PodObject['status'];
  }

  /** Re-issues a pod's projected tokens at 80 % of their lifetime, as the kubelet does. */
  private scheduleTokenRefresh(p: LocalPod, dir: string): void {
    const ttls = (p.object.spec.volumes ?? []).flatMap((v) => v.projected?.sources.flatMap((s) => (s.serviceAccountToken ? [Math.max(600, s.serviceAccountToken.expirationSeconds ?? 3607)] : [])) ?? []);
    if (ttls.length === 0) return;
    const timer = setInterval(() => {
      if (this.stopped || this.running.get(p.key) !== p) return clearInterval(timer);
      materializeVolumes(join(dir, 'volumes'), p.object.spec.volumes, {
        facts: { pod: p.object, podIP: p.ip, hostIP: this.host.net.gateway, nodeName: this.host.nodeName },
        tokens: this.host.tokens,
        find: (kind, n, nm) => this.host.store.get(kind, `${n}/${nm}`),
      }).catch((err: Error) => this.host.log(`pod ${p.key}: refreshing tokens: ${err.message}`));
    }, Math.min(...ttls) * 800);
    timer.unref();
    this.timers.set(p.key, timer);
  }

  private async refreshVolumes(o: KubeObject): Promise<void> {
    for (const p of this.running.values()) {
      if (p.namespace !== o.metadata.namespace) continue;
      const uses = (p.object.spec.volumes ?? []).some((v) =>
        (o.kind === 'Secret' && (v.secret?.secretName === o.metadata.name || v.projected?.sources.some((s) => s.secret?.name === o.metadata.name))) ||
        (o.kind === 'ConfigMap' && (v.configMap?.name === o.metadata.name || v.projected?.sources.some((s) => s.configMap?.name === o.metadata.name))));
      if (!uses) continue;
      await materializeVolumes(join(this.host.runDir, 'pods', `${p.namespace}_${p.name}`, 'volumes'), p.object.spec.volumes, {
        facts: { pod: p.object, podIP: p.ip, hostIP: this.host.net.gateway, nodeName: this.host.nodeName },
        tokens: this.host.tokens,
        find: (kind, n, nm) => this.host.store.get(kind, `${n}/${nm}`),
      }).catch((err: Error) => this.host.log(`pod ${p.key}: refreshing volumes: ${err.message}`));
    }
  }

  /** A pod reached Succeeded or Failed by itself: its phase is recorded, then it is torn down and removed. */
  private async completed(p: LocalPod): Promise<void> {
    this.writeStatus(p);
    await this.terminate(p.key).catch((err: Error) => this.host.log(`pod ${p.key}: teardown: ${err.message}`));
  }

  /** Graceful termination, once per pod: endpoints first, then containers, then the sandbox and the object. */
  private terminate(key: string): Promise<void> {
    let t = this.terminations.get(key);
    if (!t) {
      // Registered before it starts: marking the pod not Ready writes its status, whose MODIFIED
      // event comes back here synchronously and must find this termination (not start a second one).
      t = Promise.resolve().then(() => this.doTerminate(key)).finally(() => this.terminations.delete(key));
      this.terminations.set(key, t);
    }
    return t;
  }

  private async doTerminate(key: string): Promise<void> {
    const p = this.running.get(key) ?? (await this.starting.get(key)?.catch(() => undefined));
    if (p) {
      p.object.spec.terminationGracePeriodSeconds = Math.min(p.object.spec.terminationGracePeriodSeconds ?? 30, this.host.maxGraceMs / 1000);
      if (!p.completed) for (const c of p.containerStatuses()) this.host.events.record(p.object, 'Normal', 'Killing', `Stopping container ${c.name}`);
      p.markTerminating();
      // Endpoints first: the pod leaves its EndpointSlices and VIP rules before its containers get SIGTERM.
      await this.host.endpointsSettled();
      await p.stop();
      clearInterval(this.timers.get(key));
      this.timers.delete(key);
      this.running.delete(key);
      await this.host.net.removePod(p.net.netns);
      this.host.sandboxesChanged();
    }
    if (this.host.store.get('Pod', key)) await this.host.store.remove('Pod', key);
  }

  /** Stops every pod (apps before sidecars) within the grace cap; the objects stay in the store. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const c of this.cancels) c();
    for (const t of this.timers.values()) clearInterval(t);
    await Promise.allSettled([...this.starting.values()]);
    await Promise.all(
      [...this.running.values()].map(async (p) => {
        p.object.spec.terminationGracePeriodSeconds = Math.min(p.object.spec.terminationGracePeriodSeconds ?? 30, this.host.maxGraceMs / 1000);
        await p.stop().catch(() => undefined);
      }),
    );
    this.running.clear();
  }
}
