/**
 * Container images as root file systems, for running containers from the images themselves:
 * an image of the local Docker engine is looked up (`docker image inspect`), its pull policy
 * checked as the kubelet does, and its file system exported once per image ID (`docker create`
 * + `docker export`, unpacked as root with numeric owners) into a cache directory shared by runs.
 * A container then runs on an overlay of that directory (see image-launch.ts).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './exec';

/** What the image's config says about running it (OCI image config `config`). */
export interface ImageConfig {
  /** `sha256:…`, the image ID. */
  id: string;
  /** `USER` (`1337:1337`, `node`, or empty for root). */
  user: string;
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
}

/** An image unpacked and ready to run. */
export interface PreparedImage {
  /** The reference the pod named (`tsmesh/proxy:latest`). */
  ref: string;
  config: ImageConfig;
  /** The unpacked root file system (read-only by convention: containers run on an overlay of it). */
  rootfs: string;
}

/** Kubernetes' `imagePullPolicy`. */
export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** An image that cannot be run under its pull policy (the kubelet's ErrImageNeverPull / ErrImagePull). */
export class ImagePullError extends Error {
  readonly code = 'LOCAL_IMAGE_PULL';
  constructor(readonly image: string, readonly reason: 'ErrImageNeverPull' | 'ErrImagePull', message: string) {
    super(message);
    this.name = 'ImagePullError';
  }
}

/** The policy Kubernetes defaults to when the field is unset: `Always` for `:latest` or no tag, else `IfNotPresent`. */
export function defaultPullPolicy(image: string): PullPolicy {
  if (image.includes('@')) return 'IfNotPresent';
  const last = image.slice(image.lastIndexOf('/') + 1);
  const tag = last.includes(':') ? last.slice(last.indexOf(':') + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/**
 * Checks `policy` for `image` given whether the engine has it: `Never` and `IfNotPresent` run the
 * local image and fail when it is missing; `Always` would pull, and there is no registry to pull from.
 */
export function checkPullPolicy(image: string, policy: PullPolicy, present: boolean, where: string): void {
  if (policy === 'Always') {
    throw new ImagePullError(image, 'ErrImagePull', `${where}: imagePullPolicy Always: image "${image}" would be pulled, and the local runtime has no registry to pull from; use IfNotPresent or Never with an image in the local Docker engine`);
  }
  if (!present) {
    const reason = policy === 'Never' ? 'ErrImageNeverPull' : 'ErrImagePull';
    const why = policy === 'Never' ? 'is not present with pull policy of Never' : 'is not present and the local runtime has no registry to pull it from';
    throw new ImagePullError(image, reason, `${where}: ${reason}: image "${image}" ${why} (build it: infra/docker/build-images.sh --host)`);
  }
}

/** Runs `a | b` and rejects naming whichever failed (`a` first). */
export function pipe(a: string[], b: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const pa = spawn(a[0], a.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const pb = spawn(b[0], b.slice(1), { stdio: ['pipe', 'ignore', 'pipe'] });
    pa.stdout.pipe(pb.stdin);
    // `b` gone before reading all of `a`'s output (EPIPE, or its stdin closed when it exited): its
    // exit code says why; the rest of `a`'s output is read and dropped, so `a` is not left
    // blocked on a full pipe
    const drop = () => { pa.stdout.unpipe(pb.stdin); pa.stdout.resume(); };
    pb.stdin.on('error', drop);
    pb.stdin.on('close', drop);
    let errA = '';
    let errB = '';
    pa.stderr.on('data', (d) => (errA += d));
    pb.stderr.on('data', (d) => (errB += d));
    const timer = setTimeout(() => { pa.kill('SIGKILL'); pb.kill('SIGKILL'); }, timeoutMs);
    let codeA: number | null | undefined;
    pa.on('error', reject);
    pb.on('error', reject);
    pa.on('close', (c) => (codeA = c));
    pb.on('close', (codeB) => {
      clearTimeout(timer);
      const done = () => {
        if (codeA !== 0) reject(new Error(`${a.join(' ')}: exit ${codeA}: ${errA.trim()}`));
        else if (codeB !== 0) reject(new Error(`${b.join(' ')}: exit ${codeB}: ${errB.trim()}`));
        else resolve();
      };
      if (codeA !== undefined) done();
      else pa.once('close', (c) => { codeA = c; done(); });
    });
  });
}

/** Options of {@link ImageStore}. */
export interface ImageStoreOptions {
  /** The Docker CLI (default `docker`; `DOCKER_HOST` is honoured by it). */
  docker?: string;
  /** Where unpacked images are kept (default `$TMPDIR/tsmesh-rootfs`), one directory per image ID. */
  cacheDir?: string;
}

/** The local Docker engine's images, unpacked on demand. */
export class ImageStore {
  readonly docker: string;
  readonly cacheDir: string;
  private readonly unpacking = new Map<string, Promise<string>>();

  constructor(opts: ImageStoreOptions = {}) {
    this.docker = opts.docker ?? 'docker';
    this.cacheDir = opts.cacheDir ?? join(process.env.TMPDIR ?? tmpdir(), 'tsmesh-rootfs');
  }

  /** Why images cannot be run from this engine (no CLI, no engine), or null. */
  async unavailable(): Promise<string | null> {
    try {
      await run([this.docker, 'info', '--format', '{{.ServerVersion}}'], { timeoutMs: 20_000 });
      return null;
    } catch (err) {
      return `no Docker engine answers (${this.docker} info: ${(err as Error).message.split('\n')[0]}); infra/docker/engine.sh starts one`;
    }
  }

  /** The image's config, or null when the engine does not have it. */
  async inspect(ref: string): Promise<ImageConfig | null> {
    let out: string;
    try {
      out = await run([this.docker, 'image', 'inspect', '--format', '{{json .}}', ref], { timeoutMs: 30_000 });
    } catch (err) {
      if (/no such image/i.test((err as Error).message)) return null;
      throw err;
    }
    const j = JSON.parse(out) as { Id: string; Config?: { User?: string; Env?: string[] | null; Entrypoint?: string[] | null; Cmd?: string[] | null; WorkingDir?: string } };
    const c = j.Config ?? {};
    return { id: j.Id, user: c.User ?? '', env: c.Env ?? [], entrypoint: c.Entrypoint ?? [], cmd: c.Cmd ?? [], workingDir: c.WorkingDir || '/' };
  }

  /**
   * The image named `ref` under `policy`, unpacked: the pull policy is checked against the local
   * engine (`where` names the container in errors), then the file system of that image ID is
   * exported once and reused.
   */
  async prepare(ref: string, policy: PullPolicy, where: string): Promise<PreparedImage> {
    const config = policy === 'Always' ? null : await this.inspect(ref);
    checkPullPolicy(ref, policy, config !== null, where);
    return { ref, config: config!, rootfs: await this.rootfs(ref, config!.id) };
  }

  /** The unpacked file system of image `id` (exported from `ref` the first time). */
  rootfs(ref: string, id: string): Promise<string> {
    const dir = join(this.cacheDir, id.replace(/^sha256:/, ''));
    let p = this.unpacking.get(dir);
    if (p) {
      // Each use marks it in use for prune() (of this or another runtime).
      const now = new Date();
      void p.then(() => utimes(dir, now, now)).catch(() => undefined);
    } else {
      p = this.unpack(ref, id, dir);
      this.unpacking.set(dir, p);
      p.catch(() => this.unpacking.delete(dir));
    }
    return p;
  }

  private async unpack(ref: string, id: string, dir: string): Promise<string> {
    if (existsSync(join(dir, '.tsmesh-image-id'))) {
      const now = new Date();
      await utimes(dir, now, now).catch(() => undefined);
      return dir;
    }
    await mkdir(this.cacheDir, { recursive: true, mode: 0o755 });
    const tmp = join(this.cacheDir, `.unpack-${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(tmp, { mode: 0o755 });
    const created = (await run([this.docker, 'create', id], { timeoutMs: 60_000 })).trim();
    try {
      await pipe([this.docker, 'export', created], ['tar', '-x', '--numeric-owner', '--same-permissions', '-C', tmp], 600_000);
      await writeFile(join(tmp, '.tsmesh-image-id'), `${id} ${ref}\n`);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw new Error(`unpacking image ${ref} (${id}): ${(err as Error).message}`);
    } finally {
      await run([this.docker, 'rm', '-f', created], { timeoutMs: 60_000 }).catch(() => undefined);
    }
    try {
      await rename(tmp, dir);
    } catch {
      // Another run unpacked the same image first: use its copy.
      await rm(tmp, { recursive: true, force: true });
      if (!existsSync(join(dir, '.tsmesh-image-id'))) throw new Error(`unpacking image ${ref}: ${dir} exists but is incomplete`);
    }
    return dir;
  }

  /**
   * Removes unpacked images that no tag of the engine names any more (a rebuilt `:latest` leaves its
   * old image untagged) once unused for `maxIdleMs` (default an hour; each use refreshes it), and
   * unpacking leftovers older than an hour. Returns the names removed.
   */
  async prune(maxIdleMs = 3600_000): Promise<string[]> {
    if (!existsSync(this.cacheDir)) return [];
    const listed = await run([this.docker, 'images', '--no-trunc', '--format', '{{.ID}} {{.Tag}}'], { timeoutMs: 30_000 });
    const tagged = new Set(listed.split('\n').map((l) => l.trim().split(' ')).filter(([id, t]) => id && t && t !== '<none>').map(([id]) => id.replace(/^sha256:/, '')));
    const removed: string[] = [];
    for (const name of await readdir(this.cacheDir)) {
      if (name.startsWith('launch-')) continue;
      const p = join(this.cacheDir, name);
      const age = Date.now() - (await stat(p)).mtimeMs;
      const inUse = [...this.unpacking.keys()].includes(p);
      const stale = name.startsWith('.unpack-') ? age > 3600_000 : !inUse && !tagged.has(name) && age > maxIdleMs;
      if (stale) {
        await rm(p, { recursive: true, force: true });
        removed.push(name);
      }
    }
    return removed;
  }
}

/** Users and groups of an unpacked image (`/etc/passwd`, `/etc/group`). */
export interface ImageAccounts {
  users: Map<string, { uid: number; gid: number; home: string }>;
  byUid: Map<number, { name: string; gid: number; home: string }>;
  groups: Map<string, number>;
}

/** Reads the image's `/etc/passwd` and `/etc/group` (missing files: no named users or groups). */
export function readAccounts(rootfs: string): ImageAccounts {
  const read = (f: string) => (existsSync(join(rootfs, f)) ? readFileSync(join(rootfs, f), 'utf8') : '');
  const users = new Map<string, { uid: number; gid: number; home: string }>();
  const byUid = new Map<number, { name: string; gid: number; home: string }>();
  for (const line of read('etc/passwd').split('\n')) {
    const [name, , uid, gid, , home] = line.split(':');
    if (!name || uid === undefined || !/^\d+$/.test(uid)) continue;
    users.set(name, { uid: Number(uid), gid: Number(gid), home: home || '/' });
    if (!byUid.has(Number(uid))) byUid.set(Number(uid), { name, gid: Number(gid), home: home || '/' });
  }
  const groups = new Map<string, number>();
  for (const line of read('etc/group').split('\n')) {
    const [name, , gid] = line.split(':');
    if (name && gid && /^\d+$/.test(gid)) groups.set(name, Number(gid));
  }
  return { users, byUid, groups };
}
