/** Test harness: a real ADS server + snapshot cache serving resources built with libs/xds, an in-process proxy, real upstream servers. */
import http from 'node:http';
import net from 'node:net';
import pino from 'pino';
import {
  AdsServer, SnapshotCache, Snapshot, TypeUrl, cluster, clusterLoadAssignment, httpConnectionManager, listener, route, routeConfiguration, virtualHost,
  type Cluster, type ClusterLoadAssignment, type Listener, type RouteConfiguration, type Route, type HttpFilter,
} from '@tsmesh/xds';
import { Proxy } from '../src/agent/proxy';
import { bootstrap } from '../src/agent/bootstrap';
import type { RequestFacts, TelemetryRecorder } from '../src/telemetry/recorder';

export const NODE_ID = 'sidecar~127.0.0.1~test-pod.default~default.svc.cluster.local';

/** A control plane for one node. */
export class ControlPlane {
  readonly cache = new SnapshotCache();
  readonly server = new AdsServer({ cache: this.cache });
  port = 0;
  private version = 0;
  nacks: { typeUrl: string; version: string; message: string }[] = [];
  acks: { typeUrl: string; version: string }[] = [];

  constructor() {
    (this.server as unknown as { hooks: unknown }).hooks = undefined;
  }

  async start(): Promise<void> {
    const s = new AdsServer({
      cache: this.cache,
      hooks: {
        onNack: (_n, typeUrl, version, d) => this.nacks.push({ typeUrl, version, message: d.message }),
        onAck: (_n, typeUrl, version) => this.acks.push({ typeUrl, version }),
      },
    });
    (this as { server: AdsServer }).server = s;
    this.port = await s.listen('127.0.0.1:0');
  }

  /** Pushes a new snapshot (all types at one new version). */
  push(r: { listeners?: Listener[]; routes?: RouteConfiguration[]; clusters?: Cluster[]; endpoints?: ClusterLoadAssignment[] }): string {
    const v = `v${++this.version}`;
    this.cache.setSnapshot(NODE_ID, Snapshot.create(v, {
      [TypeUrl.Listener]: r.listeners ?? [],
      [TypeUrl.RouteConfiguration]: r.routes ?? [],
      [TypeUrl.Cluster]: r.clusters ?? [],
      [TypeUrl.ClusterLoadAssignment]: r.endpoints ?? [],
    }));
    return v;
  }

  async close(): Promise<void> {
    await this.server.close();
  }
}

/** Starts an in-process proxy connected to `cp` (admin/status ports random). */
export async function startProxy(cp: ControlPlane, drainMs = 2000): Promise<Proxy> {
  const boot = bootstrap('sidecar', {
    podName: 'test-pod', podNamespace: 'default', ip: '127.0.0.1', discoveryAddress: `127.0.0.1:${cp.port}`,
    adminPort: '0', statusPort: '0', prometheusPort: '0', mergedMetricsPort: '0', accessLog: 'off', drainDuration: `${drainMs}ms`, labelsFile: '/nonexistent',
  }, {});
  const p = new Proxy(boot, pino({ level: process.env.PROXY_TEST_LOG ?? 'silent' }));
  await p.start();
  return p;
}

/** An upstream HTTP server on 127.0.0.1:0 answering with its name (or a custom handler). */
export interface Upstream {
  name: string;
  port: number;
  server: http.Server;
  hits: number;
  lastHeaders: http.IncomingHttpHeaders;
  lastUrl: string;
  close(): Promise<void>;
}

export async function upstream(name: string, handler?: (req: http.IncomingMessage, res: http.ServerResponse, u: Upstream) => void): Promise<Upstream> {
  const u = { name, port: 0, hits: 0, lastHeaders: {}, lastUrl: '' } as Upstream;
  const server = http.createServer((req, res) => {
    u.hits++;
    u.lastHeaders = req.headers;
    u.lastUrl = req.url ?? '';
    if (handler) return handler(req, res, u);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
      res.end(`${name} ${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`);
    });
  });
  u.server = server;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  u.port = (server.address() as net.AddressInfo).port;
  u.close = () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  return u;
}

/** An HTTP listener `name` on 127.0.0.1:0 with RDS `rds` (or inline routes). */
export function httpListener(name: string, rds: string | RouteConfiguration, filters: HttpFilter[] = [], websocket = false): Listener {
  return listener({
    name,
    address: '127.0.0.1',
    port: 0,
    filterChains: [{ filters: [httpConnectionManager({ statPrefix: name, ...(typeof rds === 'string' ? { rdsName: rds } : { routeConfig: rds }), httpFilters: filters, upgradeWebsocket: websocket })] }],
  });
}

/** A route table with one virtual host for `*`. */
export function routes(name: string, rs: Route[], domains = ['*']): RouteConfiguration {
  return routeConfiguration(name, [virtualHost('vh', domains, rs)]);
}

/** An EDS cluster with its endpoints. */
export function edsCluster(name: string, ports: number[], opts: Parameters<typeof cluster>[0] extends infer O ? Partial<O> : never = {}): { c: Cluster; e: ClusterLoadAssignment } {
  return { c: cluster({ name, ...opts }), e: clusterLoadAssignment(name, ports.map((port) => ({ address: '127.0.0.1', port }))) };
}

export { route };

/** Waits until `cond()` holds (polling). */
/**
 * A port for a proxy listener a test configures by number: free now, and below the kernel's
 * ephemeral range (32768–60999 by default), so no outgoing connection of another test running
 * beside it can take it as its local port before the proxy binds it.
 */
export async function listenerPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const s = net.createServer();
    const ok = await new Promise<boolean>((r) => {
      s.once('error', () => r(false));
      s.listen(port, '0.0.0.0', () => r(true));
    });
    if (ok) {
      await new Promise((r) => s.close(r));
      return port;
    }
  }
}

export async function until(cond: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Waits until the proxy applied version `v` of every type. */
export async function applied(p: Proxy, v: string): Promise<void> {
  await until(() => {
    const d = p.xds.dump();
    const types = [TypeUrl.Cluster, TypeUrl.Listener];
    return types.every((t) => d.get(t)?.version === v);
  }, 5000, `version ${v}`);
  await new Promise((r) => setTimeout(r, 30));
}

/** A simple HTTP request; returns status, headers and body. */
export function request(port: number, path: string, o: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: o.headers, agent: o.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Collects what the telemetry layer records for each finished request, as {@link RequestFacts}. */
export function collectRequestFacts(rec: TelemetryRecorder, facts: RequestFacts[]): void {
  const orig = rec.record.bind(rec);
  rec.record = (base, grpc, responseCode, grpcStatus, flags, flagsText, durationMs, requestBytes, responseBytes) => {
    facts.push({
      side: base.side, peer: base.peer, peerPrincipal: base.peerPrincipal, destinationService: base.destinationService, mtls: base.mtls,
      protocol: grpc ? 'grpc' : 'http', responseCode, grpcStatus: grpcStatus >= 0 ? String(grpcStatus) : '', responseFlags: flagsText, durationMs, requestBytes, responseBytes,
    });
    orig(base, grpc, responseCode, grpcStatus, flags, flagsText, durationMs, requestBytes, responseBytes);
  };
}
