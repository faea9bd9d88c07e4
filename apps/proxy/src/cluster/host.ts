/** One upstream endpoint: address, weight, health, outlier state, active requests and its pool. */
import { H1Pool, tcpConnector, type H1Connector } from '../http1/client';
import { H2Pool } from '../http2/client';
import type { ClusterSpec, HostSpec } from '../config/cluster';
import { UpstreamTlsFactory } from '../security/transport';
import { PoolLimits, type OverflowCounters } from './limits';

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
  private pool: H1Pool | H2Pool | null = null;
  private poolKey = '';
  /** What the pool was last looked up with: the same spec, transport and protocol skip the key. */
  private poolSpec: ClusterSpec | null = null;
  private poolTransport: unknown = null;
  private poolHttp2 = false;

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

  /** The pool for this host under the cluster's current protocol settings: HTTP/1.1 on the proxy's own codec, or `node:http2` sessions. */
  dispatcher(spec: ClusterSpec, http2: boolean, counters: OverflowCounters | null = null): H1Pool | H2Pool {
    const transport = spec.transport.forHost ? spec.transport.forHost(this.metadata) : spec.transport;
    if (this.pool !== null && this.poolSpec === spec && this.poolTransport === transport && this.poolHttp2 === http2) return this.pool;
    this.poolSpec = spec;
    this.poolTransport = transport;
    this.poolHttp2 = http2;
    const key = `${http2 ? 'h2' : 'h1'}|${spec.connectTimeoutMs}|${spec.limits.maxConnections}|${spec.limits.maxPendingRequests}|${spec.sourceAddress ?? ''}|${spec.maxRequestsPerConnection}|${spec.idleTimeoutMs}|${transportId(transport)}`;
    if (this.pool && this.poolKey === key) return this.pool;
    const old = this.pool;
    if (old) old.close().catch(() => {});
    const tlsFactory = transport instanceof UpstreamTlsFactory ? transport : null;
    let connect: H1Connector;
    if (tlsFactory) {
      const c = tlsFactory.connector({ timeoutMs: spec.connectTimeoutMs, localAddress: spec.sourceAddress ?? undefined, appProtocols: [http2 ? 'h2' : 'http/1.1'], onPeer: setPeer.bind(null, this), sharedReads: !http2 });
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
    const idleTimeoutMs = Math.max(1000, Math.min(spec.idleTimeoutMs || 60_000, 600_000));
    // connections per pool are capped (1,024 sessions, 4,096 HTTP/1.1 connections) below Istio's unlimited default
    const limits = new PoolLimits(Math.min(spec.limits.maxConnections, http2 ? 1024 : 4096), spec.limits.maxPendingRequests, spec.maxRequestsPerConnection ?? 0, idleTimeoutMs, counters);
    this.pool = http2
      ? new H2Pool({ limits, scheme: tlsFactory ? 'https' : 'http', connect }, this.key)
      : new H1Pool({ limits, connect });
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
