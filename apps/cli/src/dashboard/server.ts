/**
 * `tsmesh dashboard`'s HTTP server: the front end bundled at build time (`dist/apps/dashboard`)
 * and the JSON API it reads.
 *
 *   GET /api/overview                   graph, splits, proxies and config issues at once
 *   GET /api/graph | /api/splits | /api/proxies | /api/issues
 *   GET /api/workload/<ns>/<name>       one workload: inbound/outbound edges, proxies, its proxy's config
 *   GET /api/traces                     the traces received over OTLP, newest first
 *   GET /api/traces/<trace id>          one trace's spans
 *   POST /v1/traces                     OTLP/HTTP receiver (protobuf or JSON), also on `otlp`'s own listener
 *   GET /healthz
 *   GET /*                              the bundle (index.html for unknown paths: the page routes itself)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { buildGraph, buildSplits } from '@tsmesh/telemetry';
import { DashboardApi, NotFoundError, proxyViews, type DashboardApiOptions } from './api';
import { handleOtlp, TraceStore } from './otlp';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json', '.map': 'application/json', '.ico': 'image/x-icon',
};

/** Extra routes mounted on the dashboard's server (the OTLP receiver, the trace API). */
export type ExtraRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> | boolean;

/** Options of {@link startDashboard}. */
export interface DashboardServerOptions extends DashboardApiOptions {
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** The built front end (default: `dist/apps/dashboard` found from this file or the working directory). */
  assetsDir?: string;
  routes?: ExtraRoute[];
  /** Where traces are kept (default: a new store of 200 traces). */
  traces?: TraceStore;
  /** A second listener for OTLP/HTTP only, for proxies that cannot reach the dashboard's address (Istio's port is 4318). */
  otlp?: { host: string; port: number };
}

/** A running dashboard. */
export interface RunningDashboard {
  url: string;
  port: number;
  api: DashboardApi;
  server: Server;
  traces: TraceStore;
  /** `http://host:port/v1/traces` the proxies export to. */
  otlpUrl: string;
  close(): Promise<void>;
}

/** Where the built front end is: beside the CLI's bundle (`dist/apps/cli` → `dist/apps/dashboard`), else under the working directory. */
export function defaultAssetsDir(): string {
  const here = import.meta.dirname ?? process.cwd();
  const candidates = [resolve(here, '../dashboard'), resolve(here, '../../../../dist/apps/dashboard'), resolve(process.cwd(), 'dist/apps/dashboard')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[candidates.length - 1];
}

/** Writes a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function serveStatic(dir: string, path: string, res: ServerResponse): void {
  const root = resolve(dir);
  let file = normalize(join(root, decodeURIComponent(path)));
  if (file !== root && !file.startsWith(root + sep)) {
    res.writeHead(400).end('bad path\n');
    return;
  }
  if (!existsSync(file) || statSync(file).isDirectory()) file = join(root, 'index.html');
  if (!existsSync(file)) {
    res.writeHead(503, { 'content-type': 'text/plain' }).end(`the dashboard's front end is not built (no ${file}): run \`nx run dashboard:build\`\n`);
    return;
  }
  const body = readFileSync(file);
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    // hashed asset names can be cached; the page itself is not
    'cache-control': file.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  res.end(body);
}

/** Starts the dashboard's server; resolves once it listens. */
export async function startDashboard(o: DashboardServerOptions): Promise<RunningDashboard> {
  const api = new DashboardApi(o);
  const assets = o.assetsDir ?? defaultAssetsDir();
  const traces = o.traces ?? new TraceStore();
  let otlpUrl = '';
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    for (const r of o.routes ?? []) if (await r(req, res, url)) return;
    if (await handleOtlp(traces, req, res, url)) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: `${req.method} ${url.pathname}: only GET is served here` });
      return;
    }
    const p = url.pathname;
    if (p === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (!p.startsWith('/api/')) return serveStatic(assets, p, res);
    if (p === '/api/overview') {
      const entries = await api.syncz();
      const [r, w, issues] = await Promise.all([api.rates(entries), api.weights(entries), api.issues().catch((e: Error) => [{ severity: 'warning', code: 'DASHBOARD_ISSUES', file: '', resource: '', field: '', reason: e.message }])]);
      return sendJson(res, 200, {
        at: new Date().toISOString(),
        graph: buildGraph(r.requests, r.buckets, { source: r.source, windowSeconds: r.windowSeconds, note: r.note, workloads: api.workloadsOf(entries) }),
        splits: buildSplits(r.requests, w),
        proxies: proxyViews(entries),
        issues,
      });
    }
    if (p === '/api/graph') return sendJson(res, 200, await api.graph());
    if (p === '/api/splits') return sendJson(res, 200, await api.splits());
    if (p === '/api/proxies') return sendJson(res, 200, await api.proxies());
    if (p === '/api/issues') return sendJson(res, 200, await api.issues());
    if (p === '/api/traces') return sendJson(res, 200, { receiver: otlpUrl, limit: traces.maxTraces, received: traces.received, traces: traces.list() });
    const t = /^\/api\/traces\/([0-9a-f]{32})$/.exec(p);
    if (t) {
      const spans = traces.get(t[1]);
      return spans ? sendJson(res, 200, { traceId: t[1], spans }) : sendJson(res, 404, { error: `no trace ${t[1]} (the receiver keeps the last ${traces.maxTraces})` });
    }
    const m = /^\/api\/workload\/([^/]+)\/([^/]+)$/.exec(p);
    if (m) return sendJson(res, 200, await api.workload(decodeURIComponent(m[1]), decodeURIComponent(m[2])));
    sendJson(res, 404, { error: `no API ${p}` });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (res.headersSent) return void res.end();
      sendJson(res, err instanceof NotFoundError ? 404 : 502, { error: err.message });
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port, o.host ?? '127.0.0.1', () => ok());
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://${o.host && o.host !== '0.0.0.0' ? o.host : '127.0.0.1'}:${port}`;
  otlpUrl = `${url}/v1/traces`;
  let otlpServer: Server | undefined;
  if (o.otlp) {
    const s2 = createServer((req, res) => {
      handleOtlp(traces, req, res, new URL(req.url ?? '/', 'http://otlp')).then((done) => {
        if (!done) res.writeHead(404, { 'content-type': 'text/plain' }).end('OTLP/HTTP: POST /v1/traces\n');
      }, () => res.writeHead(500).end());
    });
    await new Promise<void>((ok, fail) => {
      s2.once('error', (err) => {
        server.close();
        fail(new Error(`OTLP receiver on ${o.otlp!.host}:${o.otlp!.port}: ${err.message}`));
      });
      s2.listen(o.otlp!.port, o.otlp!.host, () => ok());
    });
    otlpServer = s2;
    otlpUrl = `http://${o.otlp.host.includes(':') ? `[${o.otlp.host}]` : o.otlp.host}:${(s2.address() as { port: number }).port}/v1/traces`;
  }
  const closeServer = (s: Server) => new Promise<void>((r) => {
    s.closeAllConnections();
    s.close(() => r());
  });
  return {
    url,
    port,
    api,
    server,
    traces,
    otlpUrl,
    close: async () => {
      if (otlpServer) await closeServer(otlpServer);
      await closeServer(server);
    },
  };
}
