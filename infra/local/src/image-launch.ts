/**
 * Running a container from its image's file system, as a container runtime does for the kubelet:
 * the image's root file system (image-rootfs.ts) under a writable overlay (read-only with
 * `readOnlyRootFilesystem`), `/proc`, a minimal `/dev`, `/sys`, the pod's volumes and its hosts,
 * resolv.conf and nsswitch.conf mounted in; then chroot and working directory (`unshare --root
 * --wd`) and, inside the new root, the privilege drop: UID/GID and groups from the image's USER
 * or the securityContext, the capability bounding set, no_new_privs (util-linux `setpriv`, the
 * host's binary run through the host's dynamic loader from a read-only directory at
 * `/dev/.tsmesh`, so any image works, with or without a shell or libc of its own).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ContainerSpec } from './kube';
import { readAccounts, type ImageConfig } from './image-rootfs';

/** The capabilities a container gets by default (containerd's and Docker's default set). */
export const DEFAULT_CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE',
];

/** Every capability by number (linux/capability.h), for names in securityContext. */
export const ALL_CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE',
  'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE',
  'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
];

/** The capabilities this kernel knows (`/proc/sys/kernel/cap_last_cap`). */
function kernelCapabilities(): string[] {
  try {
    const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
    return ALL_CAPABILITIES.slice(0, last + 1);
  } catch {
    return ALL_CAPABILITIES;
  }
}

/** The securityContext fields the image launch applies (container-level over pod-level). */
export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
}

/** Pod-level securityContext fields that reach a container. */
export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  supplementalGroups?: number[];
}

/** A container the kubelet would refuse to start (CreateContainerConfigError), or a field it cannot apply. */
export class ContainerConfigError extends Error {
  readonly code = 'LOCAL_CONTAINER_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ContainerConfigError';
  }
}

/** How a container runs from its image. */
export interface ImageLaunch {
  /** The unpacked image (the overlay's lower directory). */
  rootfs: string;
  readOnlyRoot: boolean;
  uid: number;
  gid: number;
  groups: number[];
  /** Capabilities left in the bounding set (upper-case names without `CAP_`). */
  capabilities: string[];
  noNewPrivs: boolean;
  workingDir: string;
  /** The directory with the host's setpriv and dynamic loader (mounted read-only at /dev/.tsmesh). */
  helperDir: string;
  /** Host paths bound read-only at the same path inside (the runtime's stand-ins for the API server: config dir, JWKS). */
  hostPaths: string[];
}

const capName = (s: string, field: string): string => {
  const n = s.toUpperCase().replace(/^CAP_/, '');
  if (n !== 'ALL' && !ALL_CAPABILITIES.includes(n)) throw new ContainerConfigError(`${field}: unknown capability "${s}"`);
  return n;
};

/** The capability set of a container: the default set, less `drop`, plus `add` (`ALL` in either as Kubernetes means it); everything when privileged. */
export function capabilitySet(sc: SecurityContext, where: string): string[] {
  const known = kernelCapabilities();
  if (sc.privileged) return known;
  const drop = (sc.capabilities?.drop ?? []).map((c, i) => capName(c, `${where}: securityContext.capabilities.drop[${i}]`));
  const add = (sc.capabilities?.add ?? []).map((c, i) => capName(c, `${where}: securityContext.capabilities.add[${i}]`));
  let set = drop.includes('ALL') ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c));
  set = add.includes('ALL') ? known : [...new Set([...set, ...add])];
  return set.filter((c) => known.includes(c));
}

/**
 * UID, GID and groups as the kubelet and container runtime pick them: runAsUser / runAsGroup
 * (container over pod) over the image's USER (a number or a name from the image's /etc/passwd,
 * optionally `:group`); with a UID but no GID, the user's primary group in the image's passwd,
 * else 0; fsGroup and supplementalGroups as supplementary groups. runAsNonRoot refuses UID 0 and a
 * non-numeric image USER that no runAsUser overrides, as the kubelet does.
 */
export function resolveUser(image: ImageConfig, rootfs: string, pod: PodSecurityContext, sc: SecurityContext, where: string): { uid: number; gid: number; groups: number[] } {
  const accounts = readAccounts(rootfs);
  const [userPart, groupPart] = image.user ? image.user.split(':') : ['', undefined];
  const runAsUser = sc.runAsUser ?? pod.runAsUser;
  const runAsGroup = sc.runAsGroup ?? pod.runAsGroup;
  const nonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
  let uid: number;
  let gid: number | undefined;
  if (runAsUser !== undefined) uid = runAsUser;
  else if (userPart === '' || userPart === undefined) uid = 0;
  else if (/^\d+$/.test(userPart)) uid = Number(userPart);
  else {
    if (nonRoot) throw new ContainerConfigError(`${where}: container has runAsNonRoot and image has non-numeric user (${userPart}), cannot verify user is non-root`);
    const u = accounts.users.get(userPart);
    if (!u) throw new ContainerConfigError(`${where}: unable to find user ${userPart}: no matching entries in the image's /etc/passwd`);
    uid = u.uid;
    gid = u.gid;
  }
  if (nonRoot && uid === 0) throw new ContainerConfigError(`${where}: container has runAsNonRoot and image will run as root`);
  if (runAsGroup !== undefined) gid = runAsGroup;
  else if (runAsUser === undefined && groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const g = accounts.groups.get(groupPart);
      if (g === undefined) throw new ContainerConfigError(`${where}: unable to find group ${groupPart}: no matching entries in the image's /etc/group`);
      gid = g;
    }
  }
  gid ??= accounts.byUid.get(uid)?.gid ?? 0;
  const groups = [...new Set([...(pod.fsGroup !== undefined ? [pod.fsGroup] : []), ...(pod.supplementalGroups ?? [])])];
  return { uid, gid, groups };
}

/** `KEY=value` entries → a record. */
function envRecord(env: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    const i = e.indexOf('=');
    if (i > 0) out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

/**
 * argv and environment of a container from its image, as a container runtime builds them:
 * `command` replaces the image's ENTRYPOINT (and drops its CMD), `args` replace CMD; the image's
 * ENV under the container's env; HOME from the user's passwd entry when neither sets it.
 */
export function imageProcess(c: Pick<ContainerSpec, 'command' | 'args' | 'workingDir'>, image: ImageConfig, rootfs: string, uid: number, containerEnv: Record<string, string>, where: string): { argv: string[]; env: Record<string, string>; workingDir: string } {
  const argv = c.command ? [...c.command, ...(c.args ?? [])] : [...image.entrypoint, ...(c.args ?? image.cmd)];
  if (argv.length === 0) throw new ContainerConfigError(`${where}: no command specified (the image has no ENTRYPOINT or CMD and the container sets no command)`);
  const env = { ...envRecord(image.env), ...containerEnv };
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  env.HOME ??= readAccounts(rootfs).byUid.get(uid)?.home ?? '/';
  return { argv, env, workingDir: c.workingDir || image.workingDir || '/' };
}

/** The host files the launch needs inside the root: util-linux's setpriv, its libraries and the dynamic loader. */
export function prepareHelperDir(cacheDir: string): string {
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  if (!setpriv) throw new Error("running images needs util-linux's setpriv (apt-get install util-linux)");
  const ldd = execFileSync('ldd', [setpriv], { encoding: 'utf8' });
  const libs = [...ldd.matchAll(/=>\s*(\/\S+)/g)].map((m) => m[1]);
  const loader = /^\s*(\/\S*ld-linux\S*)/m.exec(ldd)?.[1] ?? /^\s*(\/\S*ld\S*\.so\S*)/m.exec(ldd)?.[1];
  if (!loader) throw new Error(`running images: no dynamic loader found in ldd ${setpriv}: ${ldd}`);
  const files = [setpriv, loader, ...libs];
  const hash = createHash('sha256').update(files.map((f) => `${f}:${readFileSync(f).length}`).join('\n')).digest('hex').slice(0, 12);
  const dir = join(cacheDir, `launch-${hash}`);
  if (existsSync(join(dir, 'setpriv'))) return dir;
  const tmp = `${dir}.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true, mode: 0o755 });
  copyFileSync(setpriv, join(tmp, 'setpriv'));
  copyFileSync(loader, join(tmp, 'ld.so'));
  for (const l of libs) copyFileSync(l, join(tmp, l.slice(l.lastIndexOf('/') + 1)));
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** What the launch script needs. */
export interface ImageScriptInput {
  image: ImageLaunch;
  mounts: { source: string; target: string; readOnly?: boolean; isFile: boolean }[];
  hostsFile: string;
  resolvConf: string;
  nsswitchConf?: string;
  scratchDir: string;
}

/**
 * The shell script (host /bin/sh, in the container's new mount namespace) that assembles the root
 * and execs the container's argv (given as "$@") inside it.
 */
export function imageLaunchScript(l: ImageScriptInput): string {
  const img = l.image;
  const R = `${l.scratchDir}/root`;
  const r = (p: string) => q(`${R}${p.startsWith('/') ? p : `/${p}`}`);
  const lines = [
    'set -e',
    `mount -t tmpfs -o mode=755 tsmesh-scratch ${q(l.scratchDir)}`,
    `mkdir -p ${q(`${l.scratchDir}/up`)} ${q(`${l.scratchDir}/work`)} ${q(R)}`,
    // The container's writable layer: an overlay over the unpacked image, gone with the container.
    `mount -t overlay tsmesh-rootfs -o ${q(`lowerdir=${img.rootfs},upperdir=${l.scratchDir}/up,workdir=${l.scratchDir}/work`)} ${q(R)}`,
    `mkdir -p ${r('/proc')} ${r('/dev')} ${r('/sys')} ${r('/etc')} ${r('/tmp')}`,
    `mount -t proc -o nosuid,nodev,noexec tsmesh-proc ${r('/proc')}`,
    `mount -t tmpfs -o nosuid,mode=755,size=65536k tsmesh-dev ${r('/dev')}`,
    `for d in null zero full random urandom tty; do : > ${R}/dev/$d; mount --bind /dev/$d ${R}/dev/$d; done`,
    `mkdir -p ${r('/dev/shm')} ${r('/dev/pts')} ${r('/dev/.tsmesh')}`,
    `mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=65536k tsmesh-shm ${r('/dev/shm')}`,
    `ln -s /proc/self/fd ${r('/dev/fd')}; ln -s /proc/self/fd/0 ${r('/dev/stdin')}; ln -s /proc/self/fd/1 ${r('/dev/stdout')}; ln -s /proc/self/fd/2 ${r('/dev/stderr')}`,
    `mount -t sysfs -o ro,nosuid,nodev,noexec tsmesh-sys ${r('/sys')} || { mount --rbind /sys ${r('/sys')} && mount -o remount,bind,ro ${r('/sys')}; }`,
    `mount --bind ${q(img.helperDir)} ${r('/dev/.tsmesh')} && mount -o remount,bind,ro ${r('/dev/.tsmesh')}`,
  ];
  const bind = (src: string, target: string, ro: boolean, isFile: boolean) => {
    lines.push(isFile ? `mkdir -p "$(dirname ${r(target)})" && { [ -e ${r(target)} ] || : > ${r(target)}; }` : `mkdir -p ${r(target)}`);
    lines.push(`mount --bind ${q(src)} ${r(target)}`);
    if (ro) lines.push(`mount -o remount,bind,ro ${r(target)}`);
  };
  for (const p of img.hostPaths) bind(p, p, true, !isDir(p));
  for (const m of l.mounts) bind(m.source, m.target, m.readOnly === true, m.isFile);
  // The pod's DNS files, as the kubelet manages /etc/hosts and /etc/resolv.conf of every container.
  bind(l.hostsFile, '/etc/hosts', false, true);
  bind(l.resolvConf, '/etc/resolv.conf', false, true);
  if (l.nsswitchConf) lines.push(`if [ -f ${q(l.nsswitchConf)} ]; then ${bindLine(l.nsswitchConf, `${R}/etc/nsswitch.conf`)}; fi`);
  lines.push(`mkdir -p ${r(img.workingDir)}`);
  if (img.readOnlyRoot) lines.push(`mount -o remount,bind,ro ${q(R)}`);
  const known = kernelCapabilities();
  const bounding = ['-all', ...img.capabilities.filter((c) => known.includes(c)).map((c) => `+${c.toLowerCase()}`)].join(',');
  const setpriv = [
    '/dev/.tsmesh/ld.so', '--library-path', '/dev/.tsmesh', '/dev/.tsmesh/setpriv',
    '--reuid', String(img.uid), '--regid', String(img.gid),
    ...(img.groups.length ? ['--groups', img.groups.join(',')] : ['--clear-groups']),
    '--bounding-set', bounding, '--inh-caps', '-all',
    ...(img.noNewPrivs ? ['--no-new-privs'] : []),
    '--pdeathsig', 'SIGKILL', '--',
  ];
  lines.push('unshare_bin="$(command -v unshare)"', 'export PATH="$TSMESH_CONTAINER_PATH"', 'unset TSMESH_CONTAINER_PATH');
  lines.push(`exec "$unshare_bin" --root=${q(R)} --wd=${q(img.workingDir)} -- ${setpriv.map(q).join(' ')} "$@"`);
  return lines.join('\n');
}

function bindLine(src: string, target: string): string {
  return `{ [ -e ${q(target)} ] || : > ${q(target)}; } && mount --bind ${q(src)} ${q(target)}`;
}

function isDir(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
