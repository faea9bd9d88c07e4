/**
 * Helpers for the security regression suite: everything on the wire. The proxy runs as a real
 * process (the bundled `src/main.ts`) configured over ADS by a real xDS server; the app behind it
 * is a real HTTP server that records every byte it receives; clients write raw bytes on a TCP
 * socket and read what comes back.
 */
import http from 'node:http';
import net from 'node:net';
import { ExtensionTypeUrl, Snapshot, TypeUrl, cluster, clusterLoadAssignment, httpConnectionManagerMessage, listener, pack, type Cluster, type ClusterLoadAssignment, type HttpConnectionManagerOptions, type Listener, type RouteConfiguration } from '@tsmesh/xds';
import { ControlPlane } from '../harness';
import { bundleProxy, removeBundle, run, waitOutput, type Proc } from '../process';

/** A port free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** What the app did when a client asked to upgrade. */
export type UpgradeAnswer = 101 | 200 | 404;

/** The app: a real HTTP/1.1 server recording the raw bytes of every connection and each request line. */
export interface App {
  port: number;
  /** All bytes received, over all connections. */
  raw(): string;
  /** `METHOD target` of every request the app parsed (upgrades included). */
  requests: string[];
  /** Headers of every request, as received. */
  headers: http.IncomingHttpHeaders[];
  /** How the app answers upgrade requests (101 switches to an echo). */
  upgradeAnswer: UpgradeAnswer;
  reset(): void;
  close(): Promise<void>;
}

export async function startApp(): Promise<App> {
  const chunks: Buffer[] = [];
  const app = { port: 0, requests: [] as string[], headers: [] as http.IncomingHttpHeaders[], upgradeAnswer: 101 as UpgradeAnswer } as App;
  const server = http.createServer((req, res) => {
    app.requests.push(`${req.method} ${req.url}`);
    app.headers.push(req.headers);
    req.resume();
    req.on('end', () => {
      res.writeHead(req.url?.startsWith('/created') ? 201 : 200, { 'content-type': 'text/plain' });
      res.end(`app saw ${req.method} ${req.url}`);
    });
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('data', (d: Buffer) => chunks.push(d));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    app.requests.push(`${req.method} ${req.url}`);
    app.headers.push(req.headers);
    if (app.upgradeAnswer !== 101) {
      // Answer the upgrade with a plain response and keep speaking HTTP on the connection.
      const body = `no upgrade for ${req.url}`;
      socket.write(`HTTP/1.1 ${app.upgradeAnswer} ${app.upgradeAnswer === 200 ? 'OK' : 'Not Found'}\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      const again = http.createServer((r2, s2) => {
        app.requests.push(`${r2.method} ${r2.url}`);
        app.headers.push(r2.headers);
        s2.end(`app saw ${r2.method} ${r2.url}`);
      });
      if (head.length) socket.unshift(head);
      again.emit('connection', socket);
      return;
    }
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
    if (head.length) socket.write(head);
    socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  app.port = (server.address() as net.AddressInfo).port;
  app.raw = () => Buffer.concat(chunks).toString('latin1');
  app.reset = () => {
    chunks.length = 0;
    app.requests.length = 0;
    app.headers.length = 0;
    app.upgradeAnswer = 101;
  };
  app.close = () => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.closeAllConnections();
    server.close(() => r());
  });
  return app;
}

/** What a raw exchange saw. */
export interface RawResult {
  /** Everything the proxy sent back. */
  text: string;
  /** The proxy closed the connection. */
  closed: boolean;
  /** Status codes of the responses in `text`, in order. */
  statuses: number[];
}

/** Status codes of the HTTP/1.1 responses in a byte stream. */
export function statusesOf(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

/** Number of complete HTTP/1.1 responses at the start of `text` (content-length or chunked bodies; 1xx and 204/304 have none). */
export function completeResponses(text: string): number {
  let n = 0;
  let i = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', i);
    if (end < 0) return n;
    const head = text.slice(i, end);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    let next = end + 4;
    if (status === 101) return n + 1;
    if (status >= 200 && status !== 204 && status !== 304) {
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (cl) next += Number(cl[1]);
      else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        const z = text.indexOf('0\r\n\r\n', next);
        if (z < 0) return n;
        next = z + 5;
      } else return n;
    }
    if (next > text.length) return n;
    n++;
    i = next;
  }
}

/**
 * Writes `parts` (strings or buffers, with `pauseMs` between them) on a new TCP connection and
 * collects what comes back until the proxy closes, `responses` complete responses arrived, or
 * `idleMs` pass with nothing new.
 */
export function raw(port: number, parts: (string | Buffer)[] | string, o: { pauseMs?: number; idleMs?: number; maxMs?: number; responses?: number } = {}): Promise<RawResult> {
  const list = typeof parts === 'string' ? [parts] : parts;
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let closed = false;
    let idle: NodeJS.Timeout | null = null;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (idle) clearTimeout(idle);
      clearTimeout(max);
      s.destroy();
      const text = Buffer.concat(got).toString('latin1');
      resolve({ text, closed, statuses: statusesOf(text) });
    };
    const max = setTimeout(finish, o.maxMs ?? 10_000);
    const arm = () => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(finish, o.idleMs ?? 400);
    };
    s.on('data', (d: Buffer) => {
      got.push(d);
      if (o.responses !== undefined && completeResponses(Buffer.concat(got).toString('latin1')) >= o.responses) finish();
      else arm();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      closed = true;
      finish();
    });
    s.once('connect', async () => {
      for (const [i, p] of list.entries()) {
        if (s.destroyed) break;
        s.write(p);
        if (i < list.length - 1 && o.pauseMs) await new Promise((r) => setTimeout(r, o.pauseMs));
      }
      arm();
    });
  });
}

/** An RBAC HTTP filter in Envoy's form, as the control plane emits it. */
export function rbacFilter(action: 'ALLOW' | 'DENY', policies: Record<string, { permissions: object[]; principals: object[] }>): { name: string; typed_config: ReturnType<typeof pack> } {
  return { name: 'envoy.filters.http.rbac', typed_config: pack(ExtensionTypeUrl.HttpRbac, { rules: { action, policies } }) };
}

/** An HTTP connection manager filter with extra HCM fields (timeouts, XFF) merged in. */
export function hcm(o: HttpConnectionManagerOptions, extra: Record<string, unknown> = {}): { name: string; typed_config: ReturnType<typeof pack> } {
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: pack(ExtensionTypeUrl.HttpConnectionManager, { ...httpConnectionManagerMessage(o), ...extra }) };
}

/** A listener on 127.0.0.1:`port` with one HTTP connection manager. */
export function httpListenerOn(name: string, port: number, filter: ReturnType<typeof hcm>): Listener {
  return listener({ name, address: '127.0.0.1', port, filterChains: [{ filters: [filter as never] }] });
}

/** The app's cluster (EDS) and its endpoint. */
export function appCluster(name: string, port: number): { c: Cluster; e: ClusterLoadAssignment } {
  return { c: cluster({ name }), e: clusterLoadAssignment(name, [{ address: '127.0.0.1', port }]) };
}

/** A control plane and a proxy process (`proxy sidecar` or `proxy router`) serving the given resources. */
export interface MeshProxy {
  cp: ControlPlane;
  proc: Proc;
  stop(): Promise<void>;
}

export async function startProxyProcess(tag: string, r: { listeners: Listener[]; routes: RouteConfiguration[]; clusters: Cluster[]; endpoints: ClusterLoadAssignment[] }, mode: 'sidecar' | 'router' = 'sidecar'): Promise<MeshProxy> {
  const cp = new ControlPlane();
  await cp.start();
  const pod = `sec-${tag}`;
  const nodeId = `${mode}~127.0.0.1~${pod}.default~default.svc.cluster.local`;
  cp.cache.setSnapshot(nodeId, Snapshot.create('1', {
    [TypeUrl.Listener]: r.listeners,
    [TypeUrl.RouteConfiguration]: r.routes,
    [TypeUrl.Cluster]: r.clusters,
    [TypeUrl.ClusterLoadAssignment]: r.endpoints,
  }));
  const main = await bundleProxy(`security-${tag}-${process.pid}`);
  const proc = run(process.execPath, [main, 'proxy', mode, '--discovery-address', `127.0.0.1:${cp.port}`, '--admin-port', '0', '--status-port', '0', '--prometheus-port', '0', '--merged-metrics-port', 'off', '--access-log', 'off'], { POD_NAME: pod, POD_NAMESPACE: 'default', INSTANCE_IP: '127.0.0.1' });
  try {
    await waitOutput(proc, /first config applied/, 20_000);
  } catch (err) {
    proc.child.kill('SIGKILL');
    await cp.close();
    removeBundle(main);
    throw err;
  }
  return {
    cp,
    proc,
    stop: async () => {
      if (proc.child.exitCode === null) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
      await cp.close();
      removeBundle(main);
    },
  };
}
