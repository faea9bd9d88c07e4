/**
 * One pod's lifecycle, as the kubelet runs it: network, volumes, init containers in order (native
 * sidecars — init containers with restartPolicy Always — started and ready before the next one
 * and the app), app containers, probes, readiness, and termination in reverse (apps first,
 * sidecars after them, then the network).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ContainerProcess, logPath, type Backoff, type ContainerLaunch, type Mount } from './container';
import type { ImageRunner } from './image-runner';
import { containerArgv, imageName, type ImageContext, type ImageEntry } from './images';
import { expandVars, resolveEnv, type ContainerSpec, type KeyLookup, type PodFacts, type PodObject } from './kube';
import type { PodNetwork } from './network';
import { runHook } from './lifecycle';
import { Prober } from './probes';

/** Pod phases, as in PodStatus. */
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

/** What a pod needs from the runtime. */
export interface PodHost {
  runDir: string;
  workspaceRoot: string;
  imageContext: ImageContext;
  images: Record<string, ImageEntry>;
  /** Image mode: containers run from their images' file systems (image-runner.ts) instead of from dist/. */
  imageRunner?: ImageRunner;
  lookup: KeyLookup;
  backoff: Backoff;
  probePeriodScale: number;
  /** Called when the pod's Ready condition changes. */
  onReadyChange: (pod: LocalPod) => void;
  /** Called once when a pod whose restartPolicy is Never or OnFailure reaches Succeeded or Failed (its sidecars already stopped). */
  onComplete?: (pod: LocalPod) => void;
  /** A container's preStop hook failed or ran past the grace period (the kubelet records FailedPreStopHook). */
  onHookFailed?: (pod: LocalPod, container: string, reason: string) => void;
  log: (msg: string) => void;
}

interface Running {
  spec: ContainerSpec;
  proc: ContainerProcess;
  readiness?: Prober;
  liveness?: Prober;
  startup?: Prober;
  ready: boolean;
  started: boolean;
  sidecar: boolean;
  /** Exited for good (no restart will follow under the pod's restartPolicy). */
  done?: boolean;
  exitCode?: number | null;
}

/** A pod running on this machine. */
export class LocalPod {
  phase: PodPhase = 'Pending';
  ready = false;
  private readonly running = new Map<string, Running>();
  private stopped = false;
  private completing = false;
  /** Why the pod is not running, if it failed to start. */
  error: string | undefined;

  constructor(
    readonly object: PodObject,
    readonly net: PodNetwork,
    readonly volumes: Map<string, string>,
    private readonly host: PodHost,
    readonly nodeName: string,
    readonly hostIP: string,
  ) {}

  get namespace(): string {
    return this.object.metadata.namespace ?? 'default';
  }
  get name(): string {
    return this.object.metadata.name ?? '';
  }
  get ip(): string {
    return this.net.ip;
  }
  /** `namespace/name`. */
  get key(): string {
    return `${this.namespace}/${this.name}`;
  }

  private facts(): PodFacts {
    return { pod: this.object, podIP: this.net.ip, hostIP: this.hostIP, nodeName: this.nodeName };
  }

  private allContainers(): ContainerSpec[] {
    return [...(this.object.spec.initContainers ?? []), ...this.object.spec.containers];
  }

  /** Runs init containers then the app containers; resolves once they are all started. */
  async start(): Promise<void> {
    for (const c of this.object.spec.initContainers ?? []) {
      if (this.stopped) return;
      if (c.restartPolicy === 'Always') {
        const r = await this.startContainer(c, true);
        await this.waitStarted(r);
      } else {
        await this.runToCompletion(c);
      }
    }
    if (this.stopped) return;
    this.phase = 'Running';
    await Promise.all(this.object.spec.containers.map((c) => this.startContainer(c, false)));
    this.updateReady();
  }

  /** How container `c` starts: from its image in image mode, else as a process of the workspace's build. */
  private async launchFor(c: ContainerSpec): Promise<ContainerLaunch> {
    const base = this.baseLaunch(c);
    if (this.host.imageRunner) return this.host.imageRunner.launch(c, this.object.spec.securityContext ?? {}, base, `pod ${this.key}: container ${c.name}`);
    const argv = containerArgv(c, this.host.imageContext, this.host.images).map((a) => expandVars(a, base.env));
    // Images run the workspace's Node.js (the one running the runtime), whatever `node` is first on PATH.
    if (argv[0] === 'node') argv[0] = process.execPath;
    const bundle = argv[0] === process.execPath ? argv.slice(1).find((a) => !a.startsWith('-')) : undefined; // after any V8 flags
    if (bundle?.startsWith('dist/') && !existsSync(join(this.host.workspaceRoot, bundle))) {
      throw new Error(`pod ${this.key}: container ${c.name}: ${bundle} is not built (run: nx run-many -t build)`);
    }
    // the image's environment (its Dockerfile ENV) under the container's own
    const imageEnv = this.host.images[imageName(c.image ?? '')]?.env;
    return { ...base, argv, env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOSTNAME: this.name, HOME: '/', ...imageEnv, ...base.env } };
  }

  /** What a launch holds whatever runs: netns, resolved env, mounts, the pod's DNS files, UID/GID from the securityContext, log file. */
  private baseLaunch(c: ContainerSpec): ContainerLaunch {
    const env = resolveEnv(c, this.facts(), this.host.lookup);
    const sc = { ...(this.object.spec.securityContext ?? {}), ...(c.securityContext ?? {}) };
    const mounts: Mount[] = [];
    for (const m of c.volumeMounts ?? []) {
      const src = this.volumes.get(m.name);
      if (!src) throw new Error(`pod ${this.key}: container ${c.name}: volumeMount ${m.name} names no volume`);
      mounts.push({ source: m.subPath ? join(src, m.subPath) : src, target: m.mountPath, readOnly: m.readOnly });
    }
    const podDir = join(this.host.runDir, 'pods', `${this.namespace}_${this.name}`);
    return {
      id: `${this.key}/${c.name}`,
      netns: this.net.netns,
      argv: [],
      env: { HOSTNAME: this.name, ...env },
      uid: sc.runAsUser ?? 0,
      gid: sc.runAsGroup ?? sc.runAsUser ?? 0,
      mounts,
      hostsFile: join(this.net.etcDir, 'hosts'),
      resolvConf: join(this.net.etcDir, 'resolv.conf'),
      cwd: c.workingDir ?? this.host.workspaceRoot,
      scratchDir: join(podDir, 'scratch', c.name),
      logFile: logPath(this.host.runDir, this.namespace, this.name, c.name),
    };
  }

  private async runToCompletion(c: ContainerSpec): Promise<void> {
    const policy = this.object.spec.restartPolicy === 'Never' ? 'Never' : 'OnFailure';
    const proc = new ContainerProcess(await this.launchFor(c), 'Never', this.host.backoff);
    for (let attempt = 0; !this.stopped; attempt++) {
      await proc.start();
      this.running.set(c.name, { spec: c, proc, ready: false, started: true, sidecar: false });
      await proc.waitExit();
      this.running.delete(c.name);
      if (proc.lastExitCode === 0) return;
      this.host.log(`pod ${this.key}: init container ${c.name} exited ${proc.lastExitCode}`);
      if (policy === 'Never') {
        void this.complete('Failed');
        throw new Error(`pod ${this.key}: init container ${c.name} failed with exit ${proc.lastExitCode}`);
      }
      await new Promise((r) => setTimeout(r, Math.min(this.host.backoff.maxMs, this.host.backoff.initialMs * 2 ** attempt)));
    }
  }

  private async startContainer(c: ContainerSpec, sidecar: boolean): Promise<Running> {
    const policy = sidecar ? 'Always' : ((this.object.spec.restartPolicy ?? 'Always') as 'Always' | 'OnFailure' | 'Never');
    const proc = new ContainerProcess(await this.launchFor(c), policy, this.host.backoff);
    const r: Running = { spec: c, proc, ready: !c.readinessProbe, started: !c.startupProbe, sidecar };
    this.running.set(c.name, r);
    const target = () => ({ podIP: this.net.ip, containers: this.allContainers(), netns: this.net.netns });
    const scale = this.host.probePeriodScale;
    const startProbes = () => {
      r.readiness?.stop();
      r.liveness?.stop();
      r.startup?.stop();
      r.ready = !c.readinessProbe;
      r.started = !c.startupProbe;
      const afterStartup = () => {
        r.readiness?.start();
        r.liveness?.start();
      };
      if (c.readinessProbe) r.readiness = new Prober(c.readinessProbe, target, (ok) => { r.ready = ok; this.updateReady(); }, scale, true);
      if (c.livenessProbe) {
        r.liveness = new Prober(c.livenessProbe, target, (ok) => {
          if (!ok) {
            this.host.log(`pod ${this.key}: container ${c.name} failed its liveness probe; restarting`);
            proc.signal('SIGKILL');
          }
        }, scale, false);
      }
      if (c.startupProbe) {
        r.startup = new Prober(c.startupProbe, target, (ok) => {
          if (ok && !r.started) {
            r.started = true;
            r.startup?.stop();
            afterStartup();
            this.updateReady();
          } else if (!ok) {
            this.host.log(`pod ${this.key}: container ${c.name} failed its startup probe; restarting`);
            proc.signal('SIGKILL');
          }
        }, scale, true);
        r.startup.start();
      } else afterStartup();
      this.updateReady();
    };
    proc.onStart(startProbes);
    proc.onExit((code) => {
      r.readiness?.stop();
      r.liveness?.stop();
      r.startup?.stop();
      r.ready = false;
      r.started = false;
      const final = !sidecar && (proc.restartPolicy === 'Never' || (proc.restartPolicy === 'OnFailure' && code === 0));
      if (!this.stopped) this.host.log(`pod ${this.key}: container ${c.name} exited ${code}${final ? '' : '; restarting with backoff'}`);
      if (final) {
        r.done = true;
        r.exitCode = code;
      }
      this.updateReady();
      if (final) this.checkCompletion();
    });
    await proc.start();
    return r;
  }

  /**
   * With restartPolicy Never or OnFailure, the pod completes once every app container has exited
   * for good: native sidecars are then stopped (in reverse start order, as the kubelet does since
   * Kubernetes 1.29), and the phase is Succeeded when every app container exited 0, else Failed.
   */
  private checkCompletion(): void {
    if (this.stopped || this.completing || (this.object.spec.restartPolicy ?? 'Always') === 'Always') return;
    const apps = this.object.spec.containers.map((c) => this.running.get(c.name));
    if (!apps.every((r) => r?.done)) return;
    void this.complete(apps.every((r) => r!.exitCode === 0) ? 'Succeeded' : 'Failed');
  }

  private async complete(phase: 'Succeeded' | 'Failed'): Promise<void> {
    if (this.completing) return;
    this.completing = true;
    this.markTerminating();
    const deadline = Date.now() + (this.object.spec.terminationGracePeriodSeconds ?? 30) * 1000;
    const sidecars = [...this.running.values()].filter((r) => r.sidecar).reverse();
    for (const r of sidecars) {
      r.readiness?.stop();
      r.liveness?.stop();
      r.startup?.stop();
      await this.stopContainer(r, deadline);
    }
    this.phase = phase;
    this.host.log(`pod ${this.key} ${phase}`);
    this.host.onComplete?.(this);
  }

  /** True once the pod reached Succeeded or Failed by itself (not by being deleted). */
  get completed(): boolean {
    return this.completing && (this.phase === 'Succeeded' || this.phase === 'Failed');
  }

  /** A native sidecar counts as started once its startup probe passes and, without one, once its readiness probe does. */
  private async waitStarted(r: Running): Promise<void> {
    const done = () => (r.spec.startupProbe ? r.started : r.spec.readinessProbe ? r.ready : r.proc.state === 'running');
    while (!this.stopped && !done()) await new Promise((res) => setTimeout(res, 100));
  }

  private updateReady(): void {
    const all = [...this.running.values()].filter((r) => !(r.proc.restartPolicy === 'Never' && !r.sidecar && this.object.spec.initContainers?.some((i) => i.name === r.spec.name)));
    const ready = !this.stopped && this.phase === 'Running' && all.length > 0 && all.every((r) => r.ready && r.started && r.proc.state === 'running');
    if (ready !== this.ready) {
      this.ready = ready;
      this.host.onReadyChange(this);
    }
  }

  /** Container states, for `pods()`. */
  containerStatuses(): { name: string; state: string; ready: boolean; restartCount: number; pid?: number; sidecar: boolean }[] {
    return [...this.running.values()].map((r) => ({ name: r.spec.name, state: r.proc.state, ready: r.ready, restartCount: r.proc.restartCount, pid: r.proc.pid, sidecar: r.sidecar }));
  }

  /** The process of a container (tests kill it to check restarts). */
  container(name: string): ContainerProcess | undefined {
    return this.running.get(name)?.proc;
  }

  /** Marks the pod terminating: no longer Ready (its endpoints go), containers still running. */
  markTerminating(): void {
    this.stopped = true;
    const wasReady = this.ready;
    this.ready = false;
    if (wasReady) this.host.onReadyChange(this);
  }

  /**
   * Terminates: app containers first (in parallel), then sidecars in reverse start order. Each
   * container's preStop hook runs before its SIGTERM; hooks and SIGTERMs share the pod's
   * `terminationGracePeriodSeconds`, counted from here. A container still running when it is over
   * gets SIGKILL (after a one-time 2 s extension when its hook used the grace up, as the kubelet gives).
   */
  async stop(): Promise<void> {
    this.markTerminating();
    const deadline = Date.now() + (this.object.spec.terminationGracePeriodSeconds ?? 30) * 1000;
    const all = [...this.running.values()];
    for (const r of all) {
      r.readiness?.stop();
      r.liveness?.stop();
      r.startup?.stop();
    }
    await Promise.all(all.filter((r) => !r.sidecar).map((r) => this.stopContainer(r, deadline)));
    for (const r of all.filter((x) => x.sidecar).reverse()) await this.stopContainer(r, deadline);
    if (!this.completing) this.phase = 'Succeeded';
  }

  /** One container's termination: its preStop hook (if any, and if it runs), then SIGTERM, SIGKILL at `deadline`. */
  private async stopContainer(r: Running, deadline: number): Promise<void> {
    const hook = r.spec.lifecycle?.preStop;
    if (hook && r.proc.state === 'running') {
      const result = await runHook(hook, { pid: r.proc.pid, podIP: this.net.ip, containers: this.allContainers(), netns: this.net.netns }, Math.max(0, deadline - Date.now()));
      if (!result.ok) {
        this.host.log(`pod ${this.key}: container ${r.spec.name}: preStop hook: ${result.reason}`);
        this.host.onHookFailed?.(this, r.spec.name, result.reason);
      }
    }
    const left = deadline - Date.now();
    await r.proc.stop(left > 0 ? left : 2000);
  }
}

/** Creates the pod's run directory. */
export async function podDir(runDir: string, namespace: string, name: string): Promise<string> {
  const d = join(runDir, 'pods', `${namespace}_${name}`);
  await mkdir(d, { recursive: true, mode: 0o755 });
  return d;
}
