/**
 * The admin endpoints (Envoy's, on localhost): /ready, /config_dump (Envoy's ConfigDump:
 * bootstrap, clusters, listeners, routes, secrets without keys; `?include_eds`, `?resource=`), /clusters, /listeners,
 * /stats, /stats/prometheus, /memory, /logging, /quitquitquit; and the readiness (`/healthz/ready`)
 * and Prometheus (`/stats/prometheus`) servers on the pod's ports.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Logger } from 'pino';
import type { ProxyContext } from '../context';
import type { XdsConfig } from '../agent/xds-config';
import type { ListenerManager } from '../listener/manager';
import type { SecretStore } from '../security/secrets';
import type { HeapCompaction } from '../agent/heap-compaction';
import { bootstrapJson, configDump, selectResource, type BootstrapView } from './config-dump';

/** What the admin server reads. */
export interface AdminSource {
  ctx: ProxyContext;
  xds: XdsConfig;
  listeners: ListenerManager;
  log: Logger;
  nodeId: string;
  /** The bootstrap the proxy started with (`/config_dump`'s BootstrapConfigDump). */
  bootstrap?: () => BootstrapView;
  /** The SDS secrets (shown without private keys). */
  secrets?: SecretStore | null;
  startedAt?: Date;
  state(): 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING';
  /** Heap compaction after config (`/memory`, `server.heap_compactions`). */
  heap?: HeapCompaction;
  quit(): void;
}

/** Envoy's `server.memory_allocated`, `_heap_size` and `_physical_size`, from V8's heap and the resident set. */
function serverMemory(): { allocated: number; heapSize: number; physical: number } {
  const m = process.memoryUsage();
  return { allocated: m.heapUsed, heapSize: m.heapTotal, physical: m.rss };
}

/**
 * Envoy's `/memory` (`envoy.admin.v3.Memory`, 64-bit integers as JSON strings) from V8's heap:
 * `allocated` is the live JavaScript heap, `heap_size` the heap V8 has committed, and
 * `total_physical_bytes` the process's resident set. `heap_compaction` is the proxy's own: whether
 * compaction after config runs (agent/heap-compaction.ts), how often it ran, its last pause and
 * the committed heap it returned.
 */
export function memoryJson(src: Pick<AdminSource, 'heap'>): Record<string, unknown> {
  const m = serverMemory();
  const h = src.heap?.status();
  return {
    allocated: String(m.allocated),
    heap_size: String(m.heapSize),
    pageheap_unmapped: '0',
    pageheap_free: String(Math.max(0, m.heapSize - m.allocated)),
    total_thread_cache: '0',
    total_physical_bytes: String(m.physical),
    heap_compaction: h ? { mode: h.mode, compactions: String(h.compactions), last_pause_ms: h.lastPauseMs, last_released_bytes: String(h.lastReleasedBytes) } : { mode: 'off' },
  };
}

/** Cluster stats as `[name, value]` pairs. */
function clusterStats(src: AdminSource): [string, string, number][] {
  const out: [string, string, number][] = [];
  for (const c of src.ctx.clusters.all()) {
    for (const [k, v] of Object.entries(c.stats)) out.push([c.spec.name, k, v as number]);
    out.push([c.spec.name, 'upstream_rq_active', c.rqActive]);
    out.push([c.spec.name, 'upstream_cx_active', c.hosts().reduce((a, h) => a + h.connections(), 0) + c.cxActive]);
    out.push([c.spec.name, 'membership_total', c.hosts().length]);
    out.push([c.spec.name, 'membership_healthy', c.hosts().filter((h) => h.healthy && !h.ejected(Date.now())).length]);
    out.push([c.spec.name, 'outlier_detection_ejections_active', c.ejectedCount()]);
  }
  return out;
}

/** Envoy-style `/stats` text. */
export function statsText(src: AdminSource): string {
  const lines: string[] = [];
  for (const [c, k, v] of clusterStats(src)) lines.push(`cluster.${c}.${k}: ${v}`);
  for (const [p, s] of src.ctx.stats.http) for (const [k, v] of Object.entries(s)) lines.push(`http.${p}.${k}: ${v}`);
  for (const [p, s] of src.ctx.stats.listeners) for (const [k, v] of Object.entries(s)) lines.push(`listener.${p}.${k}: ${v}`);
  for (const [p, s] of src.ctx.stats.tcp) for (const [k, v] of Object.entries(s)) lines.push(`tcp.${p}.${k}: ${v}`);
  lines.push(`server.state: ${src.state() === 'LIVE' ? 0 : src.state() === 'DRAINING' ? 1 : 2}`);
  lines.push(`server.total_connections: ${src.listeners.openConnections()}`);
  lines.push(`http.downstream_rq_active_total: ${src.ctx.activeRequests}`);
  const m = serverMemory();
  lines.push(`server.memory_allocated: ${m.allocated}`, `server.memory_heap_size: ${m.heapSize}`, `server.memory_physical_size: ${m.physical}`);
  lines.push(`server.heap_compactions: ${src.heap?.status().compactions ?? 0}`);
  return `${lines.sort().join('\n')}\n`;
}

const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** Prometheus text of the same stats (`envoy_cluster_*{envoy_cluster_name=...}`, ...). */
export function prometheusText(src: AdminSource): string {
  const byMetric = new Map<string, string[]>();
  const add = (name: string, labels: string, v: number) => {
    let l = byMetric.get(name);
    if (!l) byMetric.set(name, (l = []));
    l.push(`${name}{${labels}} ${v}`);
  };
  for (const [c, k, v] of clusterStats(src)) add(`envoy_cluster_${k}`, `envoy_cluster_name="${esc(c)}"`, v);
  for (const [p, s] of src.ctx.stats.http) for (const [k, v] of Object.entries(s)) add(`envoy_http_${k}`, `envoy_http_conn_manager_prefix="${esc(p)}"`, v as number);
  for (const [p, s] of src.ctx.stats.listeners) for (const [k, v] of Object.entries(s)) add(`envoy_listener_${k}`, `envoy_listener_address="${esc(p)}"`, v as number);
  for (const [p, s] of src.ctx.stats.tcp) for (const [k, v] of Object.entries(s)) add(`envoy_tcp_${k}`, `envoy_tcp_prefix="${esc(p)}"`, v as number);
  let out = '';
  for (const [name, lines] of byMetric) {
    const gauge = /_active$|^envoy_cluster_membership/.test(name);
    out += `# TYPE ${name} ${gauge ? 'gauge' : 'counter'}\n${lines.join('\n')}\n`;
  }
  out += `# TYPE envoy_server_state gauge\nenvoy_server_state ${src.state() === 'LIVE' ? 0 : src.state() === 'DRAINING' ? 1 : 2}\n`;
  const m = serverMemory();
  for (const [k, v] of [['allocated', m.allocated], ['heap_size', m.heapSize], ['physical_size', m.physical]] as const) out += `# TYPE envoy_server_memory_${k} gauge\nenvoy_server_memory_${k} ${v}\n`;
  return out;
}

function clustersText(src: AdminSource, json: boolean): string {
  const now = Date.now();
  if (json) {
    return JSON.stringify({
      cluster_statuses: [...src.ctx.clusters.all()].map((c) => ({
        name: c.spec.name,
        type: c.spec.type,
        lb_policy: c.spec.lb,
        endpoints_version: c.endpointsVersion,
        circuit_breakers: c.spec.limits,
        host_statuses: c.hosts().map((h) => ({
          address: h.key,
          weight: h.weight,
          health_status: { eds_health_status: h.health, failed_outlier_check: h.ejected(now) },
          outlier: { consecutive_5xx: h.consecutive5xx, ejection_count: h.ejectionCount, ejected_until: h.ejectedUntil ? new Date(h.ejectedUntil).toISOString() : null },
          stats: { rq_active: h.activeRequests, rq_total: h.rqTotal, rq_error: h.rqError, cx_active: h.connections() },
        })),
      })),
    }, null, 2);
  }
  const lines: string[] = [];
  for (const c of src.ctx.clusters.all()) {
    const n = c.spec.name;
    lines.push(`${n}::default_priority::max_connections::${c.spec.limits.maxConnections}`);
    lines.push(`${n}::default_priority::max_pending_requests::${c.spec.limits.maxPendingRequests}`);
    lines.push(`${n}::default_priority::max_requests::${c.spec.limits.maxRequests}`);
    lines.push(`${n}::default_priority::max_retries::${c.spec.limits.maxRetries}`);
    lines.push(`${n}::outlier::ejections_active::${c.ejectedCount()}`);
    for (const h of c.hosts()) {
      const flags = [h.healthy ? '' : `/eds_${h.health.toLowerCase()}`, h.ejected(now) ? '/failed_outlier_check' : ''].join('') || 'healthy';
      lines.push(`${n}::${h.key}::cx_active::${h.connections()}`);
      lines.push(`${n}::${h.key}::rq_active::${h.activeRequests}`);
      lines.push(`${n}::${h.key}::rq_total::${h.rqTotal}`);
      lines.push(`${n}::${h.key}::rq_error::${h.rqError}`);
      lines.push(`${n}::${h.key}::weight::${h.weight}`);
      lines.push(`${n}::${h.key}::health_flags::${flags}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function dumpOf(src: AdminSource, url: URL): unknown {
  const boot: BootstrapView = src.bootstrap?.() ?? {
    nodeId: src.nodeId, type: (src.nodeId.split('~')[0] ?? 'sidecar') as BootstrapView['type'], podName: '', namespace: '', ip: '', serviceAccount: '', trustDomain: '', labels: {},
    discoveryAddress: '', adminHost: '', adminPort: 0, statusPort: 0, prometheusPort: 0, mergedMetricsPort: null, caAddress: '', clusterId: '', workloadName: '', tracingOtlp: '',
  };
  const dump = configDump({ bootstrap: bootstrapJson(boot), startedAt: src.startedAt ?? new Date(0), types: src.xds.dump(), secrets: src.secrets ?? null }, { includeEds: url.searchParams.has('include_eds') });
  const resource = url.searchParams.get('resource');
  return resource ? selectResource(dump, resource) : dump;
}

/** Envoy's log levels and the pino level each sets. */
const LEVELS: Record<string, string> = { trace: 'trace', debug: 'debug', info: 'info', warning: 'warn', warn: 'warn', error: 'error', critical: 'fatal', fatal: 'fatal', off: 'silent', silent: 'silent' };
const ENVOY_LEVEL: Record<string, string> = { trace: 'trace', debug: 'debug', info: 'info', warn: 'warning', error: 'error', fatal: 'critical', silent: 'off' };

/** The proxy's loggers (one: its whole log goes through `tsmesh`), as Envoy lists them. */
export const LOGGERS = ['tsmesh'];

/** Envoy's `/logging`: `?level=` sets every logger, `?<logger>=<level>` one (POST); lists the loggers. */
function logging(src: AdminSource, req: http.IncomingMessage, url: URL): { status: number; body: string } {
  const params = [...url.searchParams];
  if (params.length > 0) {
    if (req.method !== 'POST') return { status: 405, body: 'this admin command requires POST\n' };
    for (const [name, value] of params) {
      if (name !== 'level' && !LOGGERS.includes(name)) return { status: 404, body: `error: unknown logger "${name}" (loggers: ${LOGGERS.join(', ')})\n` };
      const level = LEVELS[value];
      if (!level) return { status: 400, body: `error: unknown level "${value}" (trace, debug, info, warning, error, critical, off)\n` };
      src.log.level = level;
    }
  }
  return { status: 200, body: `active loggers:\n${LOGGERS.map((l) => `  ${l}: ${ENVOY_LEVEL[src.log.level] ?? src.log.level}`).join('\n')}\n` };
}

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Handles one admin request. */
export function adminHandler(src: AdminSource): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    switch (url.pathname) {
      case '/ready': {
        const s = src.state();
        return send(res, s === 'LIVE' ? 200 : 503, `${s}\n`);
      }
      case '/config_dump': return send(res, 200, JSON.stringify(dumpOf(src, url), (_k, v) => (typeof v === 'bigint' ? String(v) : v), 2), 'application/json');
      case '/clusters': return send(res, 200, clustersText(src, url.searchParams.get('format') === 'json'), url.searchParams.get('format') === 'json' ? 'application/json' : 'text/plain');
      case '/listeners': return send(res, 200, JSON.stringify(src.listeners.listeners(), null, 2), 'application/json');
      case '/stats': return send(res, 200, statsText(src));
      case '/stats/prometheus': return send(res, 200, prometheusText(src), 'text/plain; version=0.0.4');
      case '/memory': return send(res, 200, `${JSON.stringify(memoryJson(src), null, 2)}\n`, 'application/json');
      case '/logging': {
        const r = logging(src, req, url);
        return send(res, r.status, r.body);
      }
      case '/quitquitquit':
        if (req.method !== 'POST') return send(res, 405, 'POST only\n');
        send(res, 200, 'OK\n');
        src.quit();
        return;
      case '/healthz/ready': {
        const ok = src.state() === 'LIVE';
        return send(res, ok ? 200 : 503, ok ? '' : `${src.state()}\n`);
      }
      default:
        // the index, as Envoy's admin page lists its commands
        return send(res, url.pathname === '/' ? 200 : 404, 'admin commands: /ready /config_dump /clusters /listeners /stats /stats/prometheus /memory /logging /quitquitquit\n');
    }
  };
}

/** Starts an HTTP server for the admin handler; resolves with the bound port. */
export function listenAdmin(handler: http.RequestListener, host: string, port: number): Promise<{ server: http.Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = http.createServer(handler);
    server.once('error', reject);
    server.listen(port, host, () => resolve({ server, port: (server.address() as net.AddressInfo).port }));
  });
}

/** Readiness server: `/healthz/ready` (Istio's path on 15021). */
export function readinessHandler(src: AdminSource): http.RequestListener {
  return (req, res) => {
    if (req.url?.startsWith('/healthz/ready')) {
      const ok = src.state() === 'LIVE';
      return send(res, ok ? 200 : 503, ok ? '' : `${src.state()}\n`);
    }
    if (req.url?.startsWith('/stats/prometheus')) return send(res, 200, prometheusText(src), 'text/plain; version=0.0.4');
    send(res, 404, '');
  };
}
