/** One upstream endpoint: address, weight, health, outlier state, active requests and its pool. */
import { createRequire } from 'node:module';
import type { Pool } from 'undici';
import { H1Pool, tcpConnector, type H1Connector } from '../http1/client';
import type { ClusterSpec, HostSpec } from '../config/cluster';
import { UpstreamTlsFactory, type Connector } from '../security/transport';

/** A host of a cluster. */
export class Host {
  readonly key: string;
  weight: number;
  /** EDS health (HEALTHY/UNKNOWN). */
  healthy: boolean;
  health: string;
  metadata: Readonly<Record<string, string>>;
  activeRequests = 0;
  /** Outlier detection state. */
  consecutive5xx = 0;
  consecutiveGatewayFailure = 0;
  ejectedUntil = 0;
  ejectionCount = 0;
  lastUsed = 0;
  rqTotal = 0;
  rqError = 0;
  /** SPIFFE ID the host presented on the last mTLS connection ('' for plaintext). */
  peerPrincipal = '';
  private pool: Pool | H1Pool | null = null;
  private poolKey = '';

  constructor(readonly address: string, readonly port: number, spec: HostSpec | null) {
    this.key = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
    this.weight = spec?.weight ?? 1;
    this.healthy = spec?.healthy ?? true;
    this.health = spec?.health ?? 'HEALTHY';
    this.metadata = spec?.metadata ?? {};
  }

  /** True while ejected by outlier detection. */
  ejected(now: number): boolean {
    return this.ejectedUntil > now;
  }

  /** The pool for this host under the cluster's current protocol settings: the proxy's own HTTP/1.1 codec, or undici for HTTP/2. */
  dispatcher(spec: ClusterSpec, http2: boolean): Pool | H1Pool {
    const transport = spec.transport.forHost ? spec.transport.forHost(this.metadata) : spec.transport;
    const key = `${http2 ? 'h2' : 'h1'}|${spec.connectTimeoutMs}|${spec.limits.maxConnections}|${spec.sourceAddress ?? ''}|${spec.maxRequestsPerConnection}|${spec.idleTimeoutMs}|${transportId(transport)}`;
    if (this.pool && this.poolKey === key) return this.pool;
    const old = this.pool;
    if (old) old.close().catch(() => {});
    const tlsFactory = transport instanceof UpstreamTlsFactory ? transport : null;
    if (!http2) {
      let connect: H1Connector;
      if (tlsFactory) {
        const c = tlsFactory.connector({ timeoutMs: spec.connectTimeoutMs, localAddress: spec.sourceAddress ?? undefined, appProtocols: ['http/1.1'], onPeer: setPeer.bind(null, this) });
        const target = { hostname: this.address, port: this.port };
        connect = (cb) => c(target, cb);
      } else {
        let extra: Record<string, unknown> | null;
        try {
          extra = transport.upstreamConnectOptions();
        } catch {
          extra = null;
        }
        connect = tcpConnector(this.address, this.port, spec.connectTimeoutMs, spec.sourceAddress ?? null, extra);
      }
      this.pool = new H1Pool({
        maxConnections: Math.max(1, Math.min(spec.limits.maxConnections, 4096)),
        maxRequestsPerConnection: spec.maxRequestsPerConnection ?? 0,
        idleTimeoutMs: Math.max(1000, Math.min(spec.idleTimeoutMs || 60_000, 600_000)),
        connect,
      });
      this.poolKey = key;
      return this.pool;
    }
    let connect: Record<string, unknown> | Connector;
    if (tlsFactory) {
      connect = tlsFactory.connector({ timeoutMs: spec.connectTimeoutMs, localAddress: spec.sourceAddress ?? undefined, appProtocols: [http2 ? 'h2' : 'http/1.1'], onPeer: setPeer.bind(null, this) });
    } else {
      connect = { timeout: spec.connectTimeoutMs, noDelay: true, ...(transport.upstreamConnectOptions() ?? {}) };
      if (spec.sourceAddress) connect.localAddress = spec.sourceAddress;
    }
    const keepAlive = Math.max(1000, Math.min(spec.idleTimeoutMs || 60_000, 600_000));
    this.pool = new (undiciPool())(`${tlsFactory ? 'https' : 'http'}://${this.key}`, {
      connections: Math.max(1, Math.min(spec.limits.maxConnections, http2 ? 16 : 4096)),
      pipelining: http2 ? 100 : 1,
      keepAliveTimeout: keepAlive,
      keepAliveMaxTimeout: keepAlive,
      headersTimeout: 0,
      bodyTimeout: 0,
      connect,
      ...(spec.maxRequestsPerConnection ? { maxRequestsPerClient: spec.maxRequestsPerConnection } : {}),
      ...(http2 ? { allowH2: true, ...(tlsFactory ? {} : { useH2c: true }) } : {}),
    } as Pool.Options);
    this.poolKey = key;
    return this.pool;
  }

  /** Open connections of the pool (for /clusters and circuit breaking). */
  connections(): number {
    return this.pool ? this.pool.stats.connected : 0;
  }

  /** Closes the pool once its requests finish. */
  close(): void {
    const p = this.pool;
    this.pool = null;
    if (p) p.close().catch(() => {});
  }
}

function setPeer(h: Host, principal: string): void {
  h.peerPrincipal = principal;
}

const require = createRequire(import.meta.url);
let PoolClass: typeof Pool | null = null;

/** undici (HTTP/2 upstreams only), loaded with the first HTTP/2 pool: a proxy without one never loads it (~7 MB). */
function undiciPool(): typeof Pool {
  PoolClass ??= (require('undici') as { Pool: typeof Pool }).Pool;
  return PoolClass;
}

const ids = new WeakMap<object, number>();
let nextId = 0;

/** A stable id per compiled transport socket (a changed TLS config makes a new pool; an unchanged one keeps it). */
function transportId(t: object): string {
  let id = ids.get(t);
  if (id === undefined) {
    id = ++nextId;
    ids.set(t, id);
  }
  return String(id);
}
