// Image mode (`fromImages`): pods whose containers run from a real image of the local Docker engine
// (built here on a base from infra/docker/host-base-image.sh, no registry), with the image's USER and
// WORKDIR, the securityContext's capabilities, readOnlyRootFilesystem and runAsNonRoot, and
// imagePullPolicy checked as the kubelet does. Skipped, saying why, only where no engine answers
// (infra/docker/engine.sh starts one as root on Debian).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../src/kube';
import { ImageStore } from '../src/image-rootfs';
import { LocalRuntime } from '../src/runtime';

const root = resolve(import.meta.dirname, '../../..');
const engine = spawnSync('bash', [join(root, 'infra/docker/engine.sh')], { encoding: 'utf8', timeout: 600_000 });
const skipReason = engine.status === 0 ? null : `no Docker engine (infra/docker/engine.sh exited ${engine.status}: ${engine.stderr.trim().split('\n').pop()})`;
if (skipReason) console.warn(`local-runtime images: skipped: ${skipReason}`);

/** Reports what the container sees of itself: identity, capabilities, cwd, which paths it can write. */
const SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const status = () => Object.fromEntries(fs.readFileSync('/proc/self/status', 'utf8').split('\\n').filter((l) => /^(CapEff|CapBnd|CapPrm|NoNewPrivs):/.test(l)).map((l) => l.split(/:\\s+/)));
const canWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'ok'; } catch (e) { return e.code; } };
http.createServer((req, res) => {
  res.end(JSON.stringify({
    uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), cwd: process.cwd(), home: process.env.HOME,
    fromImage: process.env.FROM_IMAGE, status: status(), root: canWrite('/written'), data: canWrite('/data/written'),
    hostWorkspace: fs.existsSync(${JSON.stringify(join(root, 'package.json'))}), hosts: fs.readFileSync('/etc/hosts', 'utf8').includes('echo-img'),
  }));
}).listen(8080, '0.0.0.0');
`;

const BASE = 'tsmesh-test/node-base:host';
const DOCKERFILE = `FROM ${BASE}
WORKDIR /srv
COPY server.js ./
ENV FROM_IMAGE=yes
USER 1000:1000
ENTRYPOINT ["node", "server.js"]
`;

const tag = `tsmesh-test/echo:${createHash('sha256').update(DOCKERFILE + SERVER).digest('hex').slice(0, 12)}`;

function pod(name: string, container: Record<string, unknown>, podSc: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels: { app: name } },
    spec: {
      securityContext: podSc,
      containers: [{ name: 'main', image: tag, imagePullPolicy: 'Never', ports: [{ containerPort: 8080 }], readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }, volumeMounts: [{ name: 'data', mountPath: '/data' }], ...container }],
      volumes: [{ name: 'data', emptyDir: {} }],
    },
  });
}

interface Seen { uid: number; gid: number; groups: number[]; cwd: string; home: string; fromImage: string; status: Record<string, string>; root: string; data: string; hostWorkspace: boolean; hosts: boolean }

describe.skipIf(skipReason !== null)('LocalRuntime fromImages (real image, Docker engine)', () => {
  let rt: LocalRuntime;
  const logs: string[] = [];
  const seen = async (name: string): Promise<Seen> => {
    const ip = rt.pods().find((p) => p.name === name)!.ip;
    return (await (await fetch(`http://${ip}:8080/`)).json()) as Seen;
  };

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-test-image-'));
    try {
      // A base of this test's own (imported only when the host's node changed), so it never waits for
      // the image builds that use tsmesh/node-base:host (infra's image tests run beside this one).
      const base = spawnSync('bash', [join(root, 'infra/docker/host-base-image.sh'), BASE], { encoding: 'utf8', timeout: 300_000 });
      if (base.status !== 0) throw new Error(`host-base-image.sh exited ${base.status ?? base.signal}: ${base.stderr}`);
      writeFileSync(join(dir, 'Dockerfile'), DOCKERFILE);
      writeFileSync(join(dir, 'server.js'), SERVER);
      // The classic builder: three plain steps, and no buildx needed.
      const b = spawnSync('docker', ['build', '-q', '-t', tag, dir], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DOCKER_BUILDKIT: '0' } });
      if (b.status !== 0) throw new Error(`docker build exited ${b.status ?? b.signal}: ${b.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    rt = await LocalRuntime.start({ meshPki: false, fromImages: true, backoff: { initialMs: 200, maxMs: 1000 }, log: (l) => logs.push(l) });
    await rt.apply([
      // The image's USER and WORKDIR; read-only root with a writable emptyDir; no capabilities, no privilege escalation.
      pod('echo-img', { securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }, { fsGroup: 2000 }),
      // Root with NET_ADMIN only (istio-init's shape); writable root.
      pod('echo-root', { securityContext: { runAsUser: 0, capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] } } }),
      // The default capability set for root.
      pod('echo-default', { securityContext: { runAsUser: 0 } }),
      // Refused as the kubelet refuses them.
      pod('nonroot-root', { securityContext: { runAsUser: 0 } }, { runAsNonRoot: true }),
      pod('never-missing', { image: 'tsmesh-test/absent:v1', imagePullPolicy: 'Never' }),
      pod('always', { imagePullPolicy: 'Always' }),
    ].map((j) => JSON.parse(j) as KubeObject));
    await rt.waitReady({ timeoutMs: 60_000, namespace: 'default', selector: { app: 'echo-img' } });
    await rt.waitReady({ timeoutMs: 30_000, namespace: 'default', selector: { app: 'echo-root' } });
    await rt.waitReady({ timeoutMs: 30_000, namespace: 'default', selector: { app: 'echo-default' } });
  }, 600_000);

  afterAll(async () => {
    await rt?.stop();
    if (rt) rmSync(rt.runDir, { recursive: true, force: true });
  }, 60_000);

  it("runs the image's entrypoint from its WORKDIR as its USER, with the image's ENV, and none of the host's files", async () => {
    const s = await seen('echo-img');
    expect(s.uid).toBe(1000);
    expect(s.gid).toBe(1000);
    expect(s.groups).toContain(2000); // fsGroup
    expect(s.cwd).toBe('/srv');
    expect(s.fromImage).toBe('yes');
    expect(s.home).toBe('/home/node'); // from the image's /etc/passwd
    expect(s.hostWorkspace).toBe(false);
    expect(s.hosts).toBe(true); // the pod's /etc/hosts
  });

  it('readOnlyRootFilesystem: the root is read-only, the emptyDir volume writable; drop ALL leaves no capability; no_new_privs is set', async () => {
    const s = await seen('echo-img');
    expect(s.root).toBe('EROFS');
    expect(s.data).toBe('ok');
    expect(s.status.CapEff).toBe('0000000000000000');
    expect(s.status.CapBnd).toBe('0000000000000000');
    expect(s.status.NoNewPrivs).toBe('1');
  });

  it('drop ALL + add NET_ADMIN gives root exactly NET_ADMIN; a writable root without readOnlyRootFilesystem', async () => {
    const s = await seen('echo-root');
    expect(s.uid).toBe(0);
    expect(BigInt(`0x${s.status.CapEff}`)).toBe(1n << 12n); // CAP_NET_ADMIN
    expect(BigInt(`0x${s.status.CapBnd}`)).toBe(1n << 12n);
    expect(s.root).toBe('ok');
    expect(s.status.NoNewPrivs).toBe('0');
  });

  it("root without capabilities set gets the container runtime's default set (no NET_ADMIN, no SYS_ADMIN)", async () => {
    const eff = BigInt(`0x${(await seen('echo-default')).status.CapEff}`);
    expect(eff & (1n << 13n)).toBe(1n << 13n); // NET_RAW
    expect(eff & (1n << 0n)).toBe(1n); // CHOWN
    expect(eff & (1n << 12n)).toBe(0n); // NET_ADMIN
    expect(eff & (1n << 21n)).toBe(0n); // SYS_ADMIN
  });

  it('prune() removes unpacked images no tag names once idle, and keeps the ones in use', async () => {
    const store = new ImageStore();
    const dir = await store.rootfs(tag, (await store.inspect(tag))!.id);
    const old = join(store.cacheDir, 'f'.repeat(64));
    mkdirSync(old, { recursive: true });
    const past = new Date(Date.now() - 2 * 3600_000);
    utimesSync(old, past, past);
    const removed = await store.prune();
    expect(removed).toContain('f'.repeat(64));
    expect(existsSync(old)).toBe(false);
    expect(existsSync(join(dir, 'srv/server.js'))).toBe(true);
  });

  it('refuses runAsNonRoot with UID 0, a missing image under Never, and Always (no registry), naming the pod and container', () => {
    const text = logs.join('\n');
    expect(text).toMatch(/pod default\/nonroot-root: container main: container has runAsNonRoot and image will run as root/);
    expect(text).toMatch(/pod default\/never-missing: container main: ErrImageNeverPull: image "tsmesh-test\/absent:v1" is not present with pull policy of Never/);
    expect(text).toMatch(/pod default\/always: container main: imagePullPolicy Always: .*no registry to pull from/);
    for (const name of ['nonroot-root', 'never-missing', 'always']) expect(rt.pods().find((p) => p.name === name)?.ready).toBe(false);
  });
});
