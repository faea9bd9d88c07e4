/**
 * The route level of the request path: the route's timeouts (route timeout, `grpc-timeout`
 * capped by `max_stream_duration`, per-try timeout), retries (policy, backoff, retry budget of
 * the cluster's circuit breaker), mirroring and request-body buffering for replay. Fault
 * injection is the `fault` HTTP filter before it (filters.ts), as in Envoy. One instance per
 * connection manager; deadlines go to the shared coarse list (deadlines.ts), not per-request timers.
 */
import type { RouteActionConfig } from '../config/route';
import type { UpstreamCluster } from '../cluster/cluster';
import type { ClusterLevel } from '../cluster/level';
import { dispatchTo, MirrorSink, type AttemptOwner, type FailureKind } from '../cluster/endpoint';
import { retryOverflow } from '../cluster/limits';
import type { Exchange } from './exchange';
import { localReply } from './local-reply';
import { RF } from './response-flags';

/** Largest request body buffered so it can be retried or mirrored. */
const MAX_REPLAY_BODY = 1024 * 1024;

/** Parses a gRPC timeout header (`100m`, `5S`, ...) into ms; NaN if malformed. */
export function parseGrpcTimeout(v: string): number {
  const n = Number(v.slice(0, -1));
  if (!Number.isFinite(n) || v.length < 2) return NaN;
  switch (v[v.length - 1]) {
    case 'H': return n * 3_600_000;
    case 'M': return n * 60_000;
    case 'S': return n * 1000;
    case 'm': return n;
    case 'u': return n / 1000;
    case 'n': return n / 1e6;
    default: return NaN;
  }
}

/** Collects a request body to replay it (retries, mirrors); only requests with such bodies pay for it. */
class BodyBuffer {
  private readonly chunks: Buffer[] = [];
  constructor(private readonly route: RouteLevel, private readonly ex: Exchange) {
    const req = ex.req as unknown as { on(e: string, f: (c: Buffer) => void): void; once(e: string, f: () => void): void };
    req.on('data', this.onData.bind(this));
    req.once('end', this.onEnd.bind(this));
  }
  private onData(c: Buffer): void {
    this.chunks.push(c);
  }
  private onEnd(): void {
    this.ex.body = Buffer.concat(this.chunks);
    if (!this.ex.done) this.route.firstAttempt(this.ex);
  }
}

export class RouteLevel implements AttemptOwner {
  constructor(private readonly clusters: ClusterLevel) {}

  /** Starts forwarding: deadline, body buffering when retries or mirrors need it, first attempt. */
  forward(ex: Exchange, cluster: UpstreamCluster, action: RouteActionConfig): void {
    ex.cluster = cluster;
    ex.action = action;
    ex.retry = action.retry;
    ex.routeLevel = this;
    let timeoutMs = action.timeoutMs;
    if (action.grpcTimeoutHeaderMaxMs >= 0) {
      const gt = ex.headers['grpc-timeout'];
      if (typeof gt === 'string') {
        const ms = parseGrpcTimeout(gt);
        if (Number.isFinite(ms)) timeoutMs = action.grpcTimeoutHeaderMaxMs > 0 ? Math.min(ms, action.grpcTimeoutHeaderMaxMs) : ms;
      }
    }
    if (timeoutMs > 0) ex.deadlineAt = ex.startedAt + timeoutMs;
    if (ex.bodyless()) {
      ex.body = null;
      this.firstAttempt(ex);
      return;
    }
    const needReplay = (ex.retry !== null && ex.retry.numRetries > 0) || action.mirrors.length > 0;
    const cl = Number(ex.headers['content-length'] ?? NaN);
    if (needReplay && cl <= MAX_REPLAY_BODY) {
      new BodyBuffer(this, ex);
      ex.rearm();
      return;
    }
    ex.body = ex.req;
    ex.replayable = false;
    this.firstAttempt(ex);
  }

  /** @internal */
  firstAttempt(ex: Exchange): void {
    ex.rearm();
    this.clusters.attempt(ex, this);
    if (ex.action!.mirrors.length && (ex.body === null || Buffer.isBuffer(ex.body))) mirror(ex);
  }

  /** Whether another attempt is allowed (retry policy, replayable body, retry circuit breaker). */
  private canRetry(ex: Exchange): boolean {
    const r = ex.retry;
    if (r === null || ex.done || ex.headersSent || !ex.replayable) return false;
    if (ex.retriesDone >= r.numRetries) {
      if (ex.retriesDone > 0) ex.flags |= RF.UpstreamRetryLimitExceeded;
      return false;
    }
    const c = ex.cluster!;
    if (retryOverflow(c, c.spec.limits)) {
      ex.flags |= RF.UpstreamOverflow;
      return false;
    }
    return true;
  }

  /** Schedules the next attempt after the retry backoff. */
  private scheduleRetry(ex: Exchange): void {
    ex.retriesDone++;
    const c = ex.cluster!;
    c.retriesActive++;
    c.stats.upstream_rq_retry++;
    ex.attempt = null;
    ex.retryAt = performance.now() + ex.retry!.backoffMs(ex.retriesDone);
    ex.rearm();
  }

  retryOnStatus(ex: Exchange, status: number, grpcStatus: number): boolean {
    if (ex.retry === null || !ex.retry.retriableStatus(status, grpcStatus) || !this.canRetry(ex)) return false;
    this.scheduleRetry(ex);
    return true;
  }

  attemptFailed(ex: Exchange, kind: FailureKind): void {
    if (kind === 'overflow') {
      // Envoy's max_pending_requests: too many requests wait for a stream
      ex.flags |= RF.UpstreamOverflow;
      localReply(ex, 503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow', { 'x-envoy-overloaded': 'true' });
      return;
    }
    if (ex.retry !== null && ex.retry.retriableFailure(kind === 'protocol' ? 'reset' : kind) && this.canRetry(ex)) {
      this.scheduleRetry(ex);
      return;
    }
    switch (kind) {
      case 'timeout':
        ex.flags |= RF.UpstreamRequestTimeout;
        localReply(ex, 504, 'upstream request timeout', null);
        return;
      case 'connect': ex.flags |= RF.UpstreamConnectionFailure; break;
      case 'refused': ex.flags |= RF.UpstreamRemoteReset; break;
      case 'protocol': ex.flags |= RF.UpstreamProtocolError; break;
      default: ex.flags |= RF.UpstreamConnectionTermination;
    }
    const reason = kind === 'connect' ? 'connection failure' : kind === 'refused' ? 'remote refused stream reset' : kind === 'protocol' ? 'protocol error' : 'connection termination';
    localReply(ex, 503, `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`, null);
  }

  /** A deadline of `ex` passed (called from the coarse deadline list). */
  onDue(ex: Exchange, now: number): void {
    if (ex.done) return;
    if (ex.deadlineAt !== 0 && ex.deadlineAt <= now) {
      ex.deadlineAt = 0;
      const c = ex.cluster;
      if (c) c.stats.upstream_rq_timeout++;
      ex.stats.downstream_rq_timeout++;
      ex.attempt?.cancel();
      if (ex.retryAt !== 0) {
        ex.retryAt = 0;
        ex.cluster!.retriesActive--;
      }
      ex.flags |= RF.UpstreamRequestTimeout;
      localReply(ex, 504, 'upstream request timeout', null);
      return;
    }
    const a = ex.attempt;
    if (a !== null && a.deadlineAt !== 0 && a.deadlineAt <= now && !a.finished) {
      a.deadlineAt = 0;
      a.cluster.stats.upstream_rq_per_try_timeout++;
      a.fail('timeout');
    }
    if (ex.retryAt !== 0 && ex.retryAt <= now && !ex.done) {
      ex.retryAt = 0;
      ex.cluster!.retriesActive--;
      this.clusters.attempt(ex, this);
    }
  }
}

/** Sends shadow copies (`request_mirror_policies`), authority suffixed with `-shadow`, responses discarded. */
function mirror(ex: Exchange): void {
  for (const m of ex.action!.mirrors) {
    if (m.fraction < 1 && Math.random() >= m.fraction) continue;
    const c = ex.ctx.clusters.get(m.cluster);
    if (!c) continue;
    const host = c.pick(ex.hash, 0, null);
    if (!host) continue;
    const headers = { ...ex.upstreamHeaders! };
    const auth = String(headers.host ?? ex.authority);
    const colon = auth.lastIndexOf(':');
    headers.host = colon > 0 && !auth.endsWith(']') ? `${auth.slice(0, colon)}-shadow${auth.slice(colon)}` : `${auth}-shadow`;
    host.activeRequests++;
    c.stats.upstream_rq_mirrored++;
    c.stats.upstream_rq_total++;
    try {
      dispatchTo(c.dispatcher(host, c.spec.protocol === 'http2'), { path: ex.upstreamPath, method: ex.method, headers, body: ex.body as Buffer | null }, new MirrorSink(c, host));
    } catch {
      host.activeRequests--;
    }
  }
}
