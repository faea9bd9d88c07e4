/**
 * Reaching a port of a pod from the operator's machine, as `kubectl port-forward` does: the pod is
 * found through the control plane (`/debug/syncz` for proxies, `/debug/configz` for any pod), and
 * its port is forwarded to a loopback port.
 *
 * - **local runtime** (a network namespace per pod, `tsm-<run id>-<namespace>-<pod>`): a small
 *   relay runs inside the pod's namespace (`ip netns exec`) and listens on a unix socket in a
 *   private directory of the host (unix sockets cross network namespaces), connecting to
 *   `127.0.0.1:<port>` there; the loopback listener pipes each connection through it. Ports bound
 *   to localhost inside the pod (the proxy's admin, 15000) are reached this way.
 * - **kind** (or any cluster kubectl reaches): `kubectl port-forward pod/<pod> :<port>`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, type ProxyStatusEntry } from './proxy-status';

/** A pod the command names. */
export interface PodRef {
  name: string;
  namespace: string;
  ip?: string;
  /** The proxy's node id when it is connected to the control plane. */
  nodeId?: string;
  labels?: Record<string, string>;
}

/** A pod could not be found or reached. */
export class PodAccessError extends Error {
  readonly code = 'CLI_POD_ACCESS';
}

/** Splits `pod`, `pod.namespace` or `namespace/pod` with a default namespace. */
export function parsePodRef(ref: string, namespace?: string): { name: string; namespace?: string } {
  if (ref.includes('/')) {
    const [ns, name] = ref.split('/', 2);
    return { name, namespace: ns };
  }
  const dot = ref.indexOf('.');
  if (dot > 0 && !namespace) return { name: ref.slice(0, dot), namespace: ref.slice(dot + 1) };
  return { name: ref, namespace };
}

/** A Kubernetes object as `/debug/configz` lists it. */
export interface KubeObjectView {
  apiVersion?: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  status?: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * Finds a pod: a connected proxy by node id, `pod.namespace` or pod name (`/debug/syncz`), else a
 * Pod in the control plane's config (`/debug/configz`) — with `prefix`, the first pod whose name
 * starts with it (`istiod` finds `istiod-7c…`).
 */
export async function resolvePod(controlPlane: string, ref: string, opts: { namespace?: string; prefix?: boolean; requireProxy?: boolean } = {}): Promise<PodRef> {
  const entries = await getJson<ProxyStatusEntry[]>(controlPlane, '/debug/syncz');
  const want = parsePodRef(ref, opts.namespace);
  const byProxy = entries.find((e) => e.proxy === ref) ?? entries.find((e) => e.pod === want.name && (!want.namespace || e.namespace === want.namespace))
    ?? (opts.prefix ? entries.find((e) => e.pod?.startsWith(want.name) && (!want.namespace || e.namespace === want.namespace)) : undefined);
  if (byProxy) return { name: byProxy.pod ?? '', namespace: byProxy.namespace ?? '', ip: byProxy.ip, nodeId: byProxy.proxy };
  if (opts.requireProxy) {
    throw new PodAccessError(`no connected proxy "${ref}"; connected: ${entries.map((e) => `${e.pod}.${e.namespace}`).sort().join(', ') || 'none'}`);
  }
  const objects = await getJson<KubeObjectView[]>(controlPlane, '/debug/configz');
  const pods = objects.filter((o) => o.kind === 'Pod' && (!want.namespace || (o.metadata.namespace ?? 'default') === want.namespace));
  const pod = pods.find((p) => p.metadata.name === want.name) ?? (opts.prefix ? pods.find((p) => p.metadata.name.startsWith(want.name)) : undefined);
  if (!pod) throw new PodAccessError(`no pod "${ref}"${want.namespace ? ` in namespace ${want.namespace}` : ''}; pods: ${pods.map((p) => `${p.metadata.name}.${p.metadata.namespace}`).sort().join(', ') || 'none'}`);
  return { name: pod.metadata.name, namespace: pod.metadata.namespace ?? 'default', ip: pod.status?.podIP, labels: pod.metadata.labels };
}

function run(bin: string, args: string[]): string {
  try {
    return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/** The local runtime's network namespace of a pod (the one holding its IP when runs overlap), or undefined. */
export function localNetns(pod: PodRef): string | undefined {
  const suffix = `-${pod.namespace}-${pod.name}`;
  const names = run('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]).filter((n) => /^tsm-[0-9a-z]+-\d+-/.test(n) && n.endsWith(suffix));
  if (names.length <= 1 || !pod.ip) return names[0];
  return names.find((n) => run('ip', ['-n', n, '-4', '-o', 'addr']).includes(` ${pod.ip}/`)) ?? names[0];
}

/** A forwarded port: `127.0.0.1:<port>` reaches the pod's port until `close()`. */
export interface PortForward {
  port: number;
  url: string;
  /** How it reaches the pod (for messages). */
  via: string;
  close(): void;
}

// Runs inside the pod's network namespace: unix socket (host filesystem) → 127.0.0.1:<port> (pod).
const RELAY = `
const net = require('node:net');
const [sock, port] = process.argv.slice(1);
const server = net.createServer((c) => {
  const u = net.connect(Number(port), '127.0.0.1');
  c.pipe(u).pipe(c);
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
});
server.listen(sock, () => process.stdout.write('ready\\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

function listenLoopback(handler: (c: Socket) => void, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(handler);
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function waitLine(child: ChildProcess, what: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new PodAccessError(`${what}: no answer within ${timeoutMs} ms${err ? `: ${err.trim()}` : ''}`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] ?? m[0]);
      }
    });
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new PodAccessError(`${what} exited (${code})${err ? `: ${err.trim()}` : ''}`));
    });
  });
}

/** Forwards a port of a pod of the local runtime through a relay in its network namespace. */
async function forwardNetns(netns: string, podPort: number, localPort: number): Promise<PortForward> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-pf-'));
  const sock = join(dir, 'relay.sock');
  const relay = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', RELAY, sock, String(podPort)], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    await waitLine(relay, `relay in ${netns}`, /ready/);
  } catch (err) {
    relay.kill();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const sockets = new Set<Socket>();
  const server = await listenLoopback((c) => {
    const u = connect(sock);
    sockets.add(c).add(u);
    c.pipe(u).pipe(c);
    const done = () => {
      c.destroy();
      u.destroy();
      sockets.delete(c);
      sockets.delete(u);
    };
    c.on('error', done).on('close', done);
    u.on('error', done).on('close', done);
  }, localPort);
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    via: `network namespace ${netns}`,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
      relay.stdin?.end();
      relay.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `kubectl port-forward` (kind, or any cluster the current kubeconfig reaches). */
async function forwardKubectl(pod: PodRef, podPort: number, localPort: number, context?: string): Promise<PortForward> {
  const args = [...(context ? ['--context', context] : []), 'port-forward', '-n', pod.namespace, `pod/${pod.name}`, `${localPort || ''}:${podPort}`, '--address', '127.0.0.1'];
  const child = spawn('kubectl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = Number(await waitLine(child, 'kubectl port-forward', /Forwarding from 127\.0\.0\.1:(\d+)/).catch((err) => {
    child.kill();
    throw err;
  }));
  return { port, url: `http://127.0.0.1:${port}`, via: `kubectl port-forward pod/${pod.name}`, close: () => void child.kill() };
}

function hasKubectl(): boolean {
  return run('kubectl', ['version', '--client', '-o', 'json']).includes('clientVersion');
}

/**
 * Forwards `podPort` of a pod to a loopback port (`localPort`, 0 for any free one): through the
 * local runtime's network namespace when the pod is one of its pods, else `kubectl port-forward`.
 */
export async function forwardPodPort(pod: PodRef, podPort: number, opts: { localPort?: number; context?: string } = {}): Promise<PortForward> {
  const netns = localNetns(pod);
  if (netns) {
    if (!existsSync(`/run/netns/${netns}`) && !existsSync(`/var/run/netns/${netns}`)) throw new PodAccessError(`network namespace ${netns} of ${pod.name}.${pod.namespace} is gone`);
    return forwardNetns(netns, podPort, opts.localPort ?? 0);
  }
  if (hasKubectl()) return forwardKubectl(pod, podPort, opts.localPort ?? 0, opts.context);
  throw new PodAccessError(`cannot reach ${pod.name}.${pod.namespace}:${podPort}: it is not a pod of a local runtime on this machine (no network namespace tsm-…-${pod.namespace}-${pod.name}; root is needed to enter one) and kubectl is not installed`);
}

/** Runs `fn` with a forward of the pod's port, closing it afterwards. */
export async function withPodPort<T>(pod: PodRef, podPort: number, fn: (base: string) => Promise<T>, opts: { context?: string } = {}): Promise<T> {
  const f = await forwardPodPort(pod, podPort, opts);
  try {
    return await fn(f.url);
  } finally {
    f.close();
  }
}

/** GETs (or POSTs) text from a forwarded admin port; errors name the path and status. */
export async function fetchText(base: string, path: string, method = 'GET'): Promise<string> {
  const url = new URL(path, base.endsWith('/') ? base : `${base}/`);
  let res: Response;
  try {
    res = await fetch(url, { method, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new PodAccessError(`cannot reach ${url.origin}${url.pathname}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new PodAccessError(`${url.pathname}: HTTP ${res.status}: ${text.trim()}`);
  return text;
}
