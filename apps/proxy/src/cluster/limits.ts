/**
 * Envoy's circuit breakers (`Cluster.circuit_breakers.thresholds`, default priority) and
 * connection-pool limits in one place, shared by the cluster level and both upstream pools (the
 * proxy's HTTP/1.1 codec and `node:http2` sessions):
 *
 * - cluster-wide, checked before a host is picked ({@link requestOverflow}, {@link retryOverflow}):
 *   `max_requests` (requests in flight to all hosts; for HTTP/1.1, where a connection carries one
 *   request, also `max_connections + max_pending_requests`, the most that can be running or
 *   waiting), and `max_retries` (retries in flight);
 * - per pool (cluster × endpoint × transport), when no connection can take a request now
 *   ({@link PoolLimits.admit}): open another connection while `max_connections` allows, else
 *   count `upstream_cx_overflow` and let the request wait while `max_pending_requests` allows,
 *   else count `upstream_rq_pending_overflow` and refuse it (the attempt fails as `overflow`:
 *   503, `x-envoy-overloaded`, response flag UO);
 * - per connection: `max_requests_per_connection` ({@link PoolLimits.exhausted}) and the idle
 *   timeout (`common_http_protocol_options.idle_timeout`).
 */
import type { CircuitBreakerLimits } from '../config/cluster';

/** The counters overflows are reported to (a cluster's `cluster.<name>.*` stats). */
export interface OverflowCounters {
  upstream_cx_overflow: number;
  upstream_rq_pending_overflow: number;
  upstream_rq_retry_overflow: number;
}

/** What a pool does with a request that no open connection can take now. */
export const enum Admit {
  /** Open a connection for it (it waits for that connection). */
  Open,
  /** Wait for a connection or stream to free up. */
  Wait,
  /** Refuse it: `max_pending_requests` reached. */
  Overflow,
}

/** The limits of one pool (and its connections), with the cluster's counters. */
export class PoolLimits {
  /** `max_connections`, at least 1 (a host picked by the load balancer always gets a connection). */
  readonly maxConnections: number;

  constructor(
    maxConnections: number,
    /** `max_pending_requests`: requests waiting for a connection or a stream. */
    readonly maxPendingRequests: number,
    /** `max_requests_per_connection`, 0: unlimited. */
    readonly maxRequestsPerConnection: number,
    /** A connection idle this long closes (ms), 0: never. */
    readonly idleTimeoutMs: number,
    private readonly counters: OverflowCounters | null = null,
  ) {
    this.maxConnections = Math.max(1, maxConnections);
  }

  /** True when another connection may open with `connections` open or opening. */
  canConnect(connections: number): boolean {
    return connections < this.maxConnections;
  }

  /**
   * Admission of a request no open connection can take: `needsConnection` when the connections
   * being opened will not take it, `waiting` the requests already waiting beyond those.
   */
  admit(connections: number, needsConnection: boolean, waiting: number): Admit {
    if (needsConnection) {
      if (connections < this.maxConnections) return Admit.Open;
      if (this.counters !== null) this.counters.upstream_cx_overflow++;
    }
    if (waiting < this.maxPendingRequests) return Admit.Wait;
    if (this.counters !== null) this.counters.upstream_rq_pending_overflow++;
    return Admit.Overflow;
  }

  /** True when a connection that carried `requests` takes no more (`max_requests_per_connection`). */
  exhausted(requests: number): boolean {
    return this.maxRequestsPerConnection > 0 && requests >= this.maxRequestsPerConnection;
  }
}

/** What the cluster-wide checks read of a cluster. */
export interface ClusterLoad {
  rqActive: number;
  retriesActive: number;
  readonly stats: OverflowCounters;
}

/**
 * True when the cluster's circuit breaker refuses a new request; counts
 * `upstream_rq_pending_overflow` (where Envoy counts `max_requests` overflows).
 */
export function requestOverflow(c: ClusterLoad, l: CircuitBreakerLimits, http2: boolean): boolean {
  if (c.rqActive < l.maxRequests && (http2 || c.rqActive < l.maxConnections + l.maxPendingRequests)) return false;
  c.stats.upstream_rq_pending_overflow++;
  return true;
}

/** True when `max_retries` refuses another retry; counts `upstream_rq_retry_overflow`. */
export function retryOverflow(c: ClusterLoad, l: CircuitBreakerLimits): boolean {
  if (c.retriesActive < l.maxRetries) return false;
  c.stats.upstream_rq_retry_overflow++;
  return true;
}
