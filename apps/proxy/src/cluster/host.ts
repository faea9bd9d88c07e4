/** One upstream endpoint: address, weight, health, outlier state, active requests and its pool. */
import { Pool } from 'undici';
import type { ClusterSpec, HostSpec } from '../config/cluster';

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
  private pool: Pool | null = null;
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

  /** The undici pool for this host under the cluster's current protocol settings. */
  dispatcher(spec: ClusterSpec, http2: boolean): Pool {
    const key = `${http2 ? 'h2' : 'h1'}|${spec.connectTimeoutMs}|${spec.limits.maxConnections}|${spec.sourceAddress ?? ''}|${spec.maxRequestsPerConnection}|${spec.idleTimeoutMs}|${spec.transport.kind}`;
    if (this.pool && this.poolKey === key) return this.pool;
    const old = this.pool;
    if (old) old.close().catch(() => {});
    const connect: Record<string, unknown> = { timeout: spec.connectTimeoutMs, noDelay: true, ...(spec.transport.upstreamConnectOptions() ?? {}) };
    if (spec.sourceAddress) connect.localAddress = spec.sourceAddress;
    const keepAlive = Math.max(1000, Math.min(spec.idleTimeoutMs || 60_000, 600_000));
    this.pool = new Pool(`http://${this.key}`, {
      connections: Math.max(1, Math.min(spec.limits.maxConnections, http2 ? 16 : 4096)),
      pipelining: http2 ? 100 : 1,
      keepAliveTimeout: keepAlive,
      keepAliveMaxTimeout: keepAlive,
      headersTimeout: 0,
      bodyTimeout: 0,
      connect,
      ...(spec.maxRequestsPerConnection ? { maxRequestsPerClient: spec.maxRequestsPerConnection } : {}),
      ...(http2 ? { allowH2: true, useH2c: true } : {}),
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
