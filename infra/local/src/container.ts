/**
 * A container as a process: entered into the pod's network namespace, given its own mount
 * namespace with the pod's volumes at their mountPaths (an overlay keeps the host's directories
 * untouched) and the pod's /etc/hosts and /etc/resolv.conf, run with the container's UID and
 * GID, logged to a file, restarted with backoff, stopped with SIGTERM then SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, realpathSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { imageLaunchScript, type ImageLaunch } from './image-launch';

/** A bind mount into the container. */
export interface Mount {
  source: string;
  target: string;
  readOnly?: boolean;
}

/** Everything needed to start one container process. */
export interface ContainerLaunch {
  /** `namespace/pod/container`, for logs and errors. */
  id: string;
  netns: string;
  argv: string[];
  env: Record<string, string>;
  uid: number;
  gid: number;
  mounts: Mount[];
  /** The pod's hosts and resolv.conf files (bound over /etc/hosts and /etc/resolv.conf). */
  hostsFile: string;
  resolvConf: string;
  /** Where the process starts (the workspace root, so `node dist/…` resolves). */
  cwd: string;
  /** Scratch directory for the container's private mounts. */
  scratchDir: string;
  logFile: string;
  /** Set in image mode: the container runs from its image's file system (image-launch.ts); uid/gid/cwd are then inside the image. */
  image?: ImageLaunch;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The deepest existing directory above `path` (symlinks resolved). */
function existingAncestor(path: string): string {
  let p = path;
  while (!existsSync(p)) p = dirname(p);
  return realpathSync(p);
}

/** The shell script run inside the new mount namespace, before exec'ing the container's argv (given as "$@"). */
export function mountScript(l: Pick<ContainerLaunch, 'mounts' | 'hostsFile' | 'resolvConf' | 'uid' | 'gid' | 'cwd' | 'scratchDir'>): string {
  const lines = ['set -e', `mount -t tmpfs -o mode=755 tsmesh-scratch ${q(l.scratchDir)}`];
  // Overlay each directory a mountPath must be created in, so mount points never touch the host's tree.
  const overlays: string[] = ['/etc'];
  for (const m of l.mounts) {
    if (existsSync(m.target)) continue;
    const anc = existingAncestor(m.target);
    if (anc === '/') throw new Error(`mountPath ${m.target}: a new top-level directory cannot be created locally`);
    if (!overlays.some((o) => anc === o || anc.startsWith(`${o}/`))) overlays.push(anc);
  }
  overlays.sort((a, b) => a.length - b.length);
  overlays.forEach((o, i) => {
    const u = `${l.scratchDir}/o${i}`;
    lines.push(`mkdir -p ${q(`${u}/u`)} ${q(`${u}/w`)}`, `mount -t overlay tsmesh-overlay -o ${q(`lowerdir=${o},upperdir=${u}/u,workdir=${u}/w`)} ${q(o)}`);
  });
  for (const m of l.mounts) {
    const isFile = existsSync(m.source) && statSync(m.source).isFile();
    lines.push(isFile ? `mkdir -p ${q(dirname(m.target))} && { [ -e ${q(m.target)} ] || : > ${q(m.target)}; }` : `mkdir -p ${q(m.target)}`);
    lines.push(`mount --bind ${q(m.source)} ${q(m.target)}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${q(m.target)}`);
  }
  lines.push(
    'rm -f /etc/hosts /etc/resolv.conf && : > /etc/hosts && : > /etc/resolv.conf',
    `mount --bind ${q(l.hostsFile)} /etc/hosts`,
    `mount --bind ${q(l.resolvConf)} /etc/resolv.conf`,
    `if [ -f ${q(join(dirname(l.hostsFile), 'nsswitch.conf'))} ]; then rm -f /etc/nsswitch.conf && : > /etc/nsswitch.conf && mount --bind ${q(join(dirname(l.hostsFile), 'nsswitch.conf'))} /etc/nsswitch.conf; fi`,
    `cd ${q(l.cwd)}`,
    `exec setpriv --reuid ${l.uid} --regid ${l.gid} --clear-groups --pdeathsig SIGKILL -- "$@"`,
  );
  return lines.join('\n');
}

/** Spawns the container's process (not supervised; see {@link ContainerProcess}). */
export async function spawnContainer(l: ContainerLaunch): Promise<ChildProcess> {
  await mkdir(l.scratchDir, { recursive: true });
  await mkdir(dirname(l.logFile), { recursive: true });
  const fd = openSync(l.logFile, 'a');
  try {
    const script = l.image
      ? imageLaunchScript({
          image: l.image,
          mounts: l.mounts.map((m) => ({ ...m, isFile: existsSync(m.source) && statSync(m.source).isFile() })),
          hostsFile: l.hostsFile,
          resolvConf: l.resolvConf,
          nsswitchConf: join(dirname(l.hostsFile), 'nsswitch.conf'),
          scratchDir: l.scratchDir,
        })
      : mountScript(l);
    const child = spawn('nsenter', [`--net=/run/netns/${l.netns}`, '--', 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', ...l.argv], {
      // The host's PATH for the host tools the script runs; the container's own is restored before it execs.
      env: l.image ? { ...l.env, PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', TSMESH_CONTAINER_PATH: l.env.PATH ?? '' } : l.env,
      stdio: ['ignore', fd, fd],
      cwd: l.image ? '/' : l.cwd,
      // Its own process group, as a container is not in the kubelet's: a terminal's Ctrl-C reaches
      // the runtime only, which stops pods in order. --pdeathsig still ends it with the runtime.
      detached: true,
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', reject);
    });
    return child;
  } finally {
    closeSync(fd);
  }
}

/** Restart backoff as the kubelet's (doubling, capped), scaled for a local machine. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** State of a supervised container. */
export type ContainerState = 'waiting' | 'running' | 'terminated';

/** A container process kept running per the pod's restart policy. */
export class ContainerProcess {
  state: ContainerState = 'waiting';
  restartCount = 0;
  lastExitCode: number | null = null;
  pid: number | undefined;
  private child: ChildProcess | undefined;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private exitWaiters: (() => void)[] = [];
  private startListeners: (() => void)[] = [];
  private exitListeners: ((code: number | null) => void)[] = [];
  private runStartedAt = 0;

  constructor(
    readonly launch: ContainerLaunch,
    /** `Always` restarts on any exit, `OnFailure` on a non-zero exit, `Never` never. */
    readonly restartPolicy: 'Always' | 'OnFailure' | 'Never',
    private readonly backoff: Backoff,
  ) {}

  /** Calls `fn` each time the process (re)starts. */
  onStart(fn: () => void): void {
    this.startListeners.push(fn);
  }
  /** Calls `fn` each time the process exits. */
  onExit(fn: (code: number | null) => void): void {
    this.exitListeners.push(fn);
  }

  /** Starts the process. */
  async start(): Promise<void> {
    if (this.stopping) return;
    this.child = await spawnContainer(this.launch);
    if (this.stopping) {
      this.child.kill('SIGKILL');
    }
    this.pid = this.child.pid;
    this.state = 'running';
    this.runStartedAt = Date.now();
    const child = this.child;
    child.once('exit', (code, signal) => this.exited(child, code ?? (signal ? 128 + signalNumber(signal) : null)));
    for (const fn of this.startListeners) fn();
  }

  private exited(child: ChildProcess, code: number | null): void {
    if (child !== this.child) return;
    this.child = undefined;
    this.pid = undefined;
    this.state = 'terminated';
    this.lastExitCode = code;
    for (const fn of this.exitListeners) fn(code);
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const w of waiters) w();
    if (this.stopping) return;
    const again = this.restartPolicy === 'Always' || (this.restartPolicy === 'OnFailure' && code !== 0);
    if (!again) return;
    // A run that lasted long resets the backoff, as the kubelet does after 10 minutes.
    if (Date.now() - this.runStartedAt > 10 * this.backoff.maxMs) this.restartCount = 0;
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(this.restartCount, 16));
    this.restartCount++;
    this.state = 'waiting';
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.start().catch(() => this.exited(child, null));
    }, delay);
  }

  /** Resolves when the current run exits (at once when not running). */
  waitExit(): Promise<void> {
    if (!this.child) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /** Sends `signal` to the process, if running. */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** Stops for good: SIGTERM, SIGKILL after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const child = this.child;
    if (!child) {
      this.state = 'terminated';
      return;
    }
    const exited = this.waitExit();
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  const table: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15, SIGABRT: 6 };
  return table[sig] ?? 0;
}

/** The path of a container's log file under `runDir`. */
export function logPath(runDir: string, namespace: string, pod: string, container: string): string {
  return join(runDir, 'logs', `${namespace}_${pod}_${container}.log`);
}
