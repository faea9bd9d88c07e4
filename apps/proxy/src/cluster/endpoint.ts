/**
 * The endpoint level of the request path: one attempt on one host — its pool (the proxy's
 * HTTP/1.1 codec, or `node:http2` sessions), the transport under it, and the response coming back.
 * An attempt is a dispatch handler object (methods, no closures); it tells the route level what
 * happened ({@link AttemptOwner}) and the cluster what the host did (outlier detection).
 */
import type { H1Controller, H1DispatchOptions, H1Handler, H1Pool } from '../http1/client';
import type { H2Pool } from '../http2/client';
import type { Exchange } from '../http/exchange';
import { withoutResponseHopByHop } from '../http/header-copy';
import { RF } from '../http/response-flags';
import { onUpstreamPeer, peerFromUpstreamResponse } from '../telemetry/layer';
import { Outcome, type UpstreamCluster } from './cluster';
import type { Host } from './host';

/** Why an attempt ended without a usable response. */
export type FailureKind = 'connect' | 'reset' | 'timeout' | 'refused' | 'protocol' | 'overflow';

/** The route level, as attempts see it. */
export interface AttemptOwner {
  /** A final response status arrived: true when the route retries instead of forwarding it. */
  retryOnStatus(ex: Exchange, status: number, grpcStatus: number): boolean;
  /** The attempt failed before a response started: retry, or a local reply. */
  attemptFailed(ex: Exchange, kind: FailureKind): void;
}


// abort reasons are made once: no Error per request
const CANCELLED = new Error('cancelled');
const RETRYING = new Error('retrying');
const FAILED: Record<FailureKind, Error> = {
  connect: new Error('connect'), reset: new Error('reset'), timeout: new Error('timeout'), refused: new Error('refused'), protocol: new Error('protocol'), overflow: new Error('overflow'),
};

function classify(err: Error & { code?: string }): FailureKind {
  const c = err.code ?? '';
  if (c === 'ECONNREFUSED' || c === 'EHOSTUNREACH' || c === 'ENETUNREACH' || c === 'UND_ERR_CONNECT_TIMEOUT' || c === 'EADDRNOTAVAIL' || c === 'ENOTFOUND') return 'connect';
  if (c === 'ERR_HTTP2_STREAM_ERROR' && /REFUSED_STREAM/.test(err.message)) return 'refused';
  if (c === 'HPE_INVALID' || c === 'ERR_HTTP2_INVALID_HEADER_VALUE' || c === 'ERR_HTTP2_INVALID_CONNECTION_HEADERS' || c === 'ERR_INVALID_HTTP_TOKEN' || c === 'ERR_INVALID_CHAR' || c === 'ERR_HTTP2_HEADER_SINGLE_VALUE' || c === 'ERR_HTTP2_ERROR') return 'protocol';
  if (c === 'PROXY_OVERFLOW') return 'overflow';
  return 'reset';
}

/** Sends on the proxy's HTTP/1.1 pool or an HTTP/2 pool; both call the handler the same way. */
export function dispatchTo(d: H1Pool | H2Pool, opts: H1DispatchOptions, handler: H1Handler): void {
  d.dispatch(opts, handler);
}

/** Starts an attempt of `ex` on `host`. */
export function startAttempt(ex: Exchange, owner: AttemptOwner, cluster: UpstreamCluster, host: Host, http2: boolean, perTryMs: number): void {
  const attempt = new UpstreamAttempt(ex, owner, cluster, host);
  ex.attempt = attempt;
  cluster.rqActive++;
  host.activeRequests++;
  cluster.stats.upstream_rq_total++;
  if (perTryMs > 0) {
    attempt.deadlineAt = performance.now() + perTryMs;
    ex.rearm();
  }
  const opts: H1DispatchOptions = {
    path: ex.upstreamPath,
    method: ex.method,
    headers: ex.upstreamHeaders!,
    body: ex.body as H1DispatchOptions['body'],
  };
  try {
    dispatchTo(cluster.dispatcher(host, http2), opts, attempt);
  } catch (err) {
    attempt.onResponseError(null, err as Error);
  }
}

/** One upstream attempt: a dispatch handler. */
export class UpstreamAttempt implements H1Handler {
  controller: H1Controller | null = null;
  /** Per-try deadline (performance.now() ms), 0: none. */
  deadlineAt = 0;
  /** The attempt no longer owns the exchange (cancelled, retried, or finished). */
  finished = false;
  private started = false;
  private paused = false;

  constructor(readonly ex: Exchange, private readonly owner: AttemptOwner, readonly cluster: UpstreamCluster, readonly host: Host) {}

  onRequestStart(controller: H1Controller): void {
    this.controller = controller;
    if (this.finished) controller.abort(CANCELLED);
  }

  onResponseStart(controller: H1Controller, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (this.finished || statusCode < 200) return;
    const ex = this.ex;
    const grpc = headers['grpc-status'];
    const grpcStatus = typeof grpc === 'string' ? Number(grpc) : -1;
    if (grpcStatus >= 0) ex.grpcStatus = grpcStatus;
    this.cluster.report(this.host, statusCode >= 500 ? (statusCode >= 502 && statusCode <= 504 ? Outcome.GatewayFailure : Outcome.Http5xx) : Outcome.Success);
    if (this.owner.retryOnStatus(ex, statusCode, grpcStatus)) {
      this.release();
      this.cluster.stats.status(statusCode);
      controller.abort(RETRYING);
      return;
    }
    if (ex.retriesDone > 0) this.cluster.stats.upstream_rq_retry_success++;
    this.started = true;
    // a copy without hop-by-hop headers and, with telemetry, the upstream's workload metadata
    // (for this proxy's telemetry, not for the app)
    const telemetry = !!ex.ctx.telemetry;
    const out = withoutResponseHopByHop(headers, telemetry) as Record<string, string | string[] | undefined>;
    const action = ex.action!;
    const w = ex.clusterIndex >= 0 ? action.weightedResponseMutations[ex.clusterIndex] : null;
    const r = ex.route!.responseMutation;
    const v = ex.vhost!.responseMutation;
    const t = ex.table!.responseMutation;
    if ((w !== null && !w.empty) || !r.empty || !v.empty || !t.empty) {
      const fmt = ex.formatContext();
      if (w !== null && !w.empty) w.apply(out, fmt);
      if (!r.empty) r.apply(out, fmt);
      if (!v.empty) v.apply(out, fmt);
      if (!t.empty) t.apply(out, fmt);
    }
    ex.applyResponseMutations(out);
    if (ex.setCookie !== null) {
      const sc = out['set-cookie'];
      out['set-cookie'] = sc === undefined ? ex.setCookie : Array.isArray(sc) ? [...sc, ex.setCookie] : [sc, ex.setCookie];
    }
    if (telemetry) {
      peerFromUpstreamResponse(ex, headers);
      if (this.host.peerPrincipal) onUpstreamPeer(ex, this.host.peerPrincipal);
    }
    out['x-envoy-upstream-service-time'] = String(Math.round(performance.now() - ex.startedAt));
    ex.writeHead(statusCode, out, false);
    // the HTTP/1.1 pool says when the read that carried the head is handled; others get a tick
    if (controller.tellsReadEnd !== true) ex.flushAfterRead();
  }

  /** The upstream read with the response head is handled: a head still held (no body bytes came with it) goes out. */
  onResponseReadEnd(): void {
    if (!this.finished && this.started) this.ex.flushHeldHead();
  }

  onResponseData(controller: H1Controller, chunk: Buffer): void {
    if (this.finished || !this.started) return;
    if (!this.ex.write(chunk) && !this.paused) {
      this.paused = true;
      controller.pause();
      this.ex.onDrain(this);
    }
  }

  /** Counts a streamed request body (HTTP/2 downstreams; HTTP/1.1 requests count what they receive). */
  onRequestData(n: number): void {
    this.ex.h2RequestBytes += n;
  }

  /** The downstream took the buffered response bytes. */
  resume(): void {
    this.paused = false;
    this.controller?.resume();
  }

  onResponseEnd(_controller: H1Controller, trailers: Record<string, string | string[]>): void {
    if (this.finished) return;
    this.release();
    if (!this.started) return;
    this.cluster.stats.status(this.ex.status);
    let any = false;
    for (const _ in trailers) { any = true; break; }
    this.ex.end(any ? trailers : null);
  }

  onResponseError(_controller: H1Controller | null, err: Error): void {
    if (this.finished) return;
    this.fail(classify(err as Error & { code?: string }));
  }

  /** Ends the attempt with a failure: the route level retries or replies; a started response is reset. */
  fail(kind: FailureKind): void {
    if (this.finished) return;
    this.release();
    const ex = this.ex;
    const c = this.cluster;
    // a pool's overflow was counted by its admission (cluster/limits.ts)
    if (kind !== 'overflow') {
      if (kind === 'connect') c.stats.upstream_cx_connect_fail++;
      else c.stats.upstream_rq_rx_reset++;
      c.report(this.host, Outcome.LocalFailure);
    }
    if (this.controller && !this.controller.aborted) this.controller.abort(FAILED[kind]);
    if (this.started) {
      // response already streaming: reset downstream
      ex.flags |= kind === 'timeout' ? RF.UpstreamRequestTimeout : RF.UpstreamConnectionTermination;
      ex.finish(ex.status);
      ex.res.destroy();
      return;
    }
    this.owner.attemptFailed(ex, kind);
  }

  /** Stops the attempt because the exchange ended (timeout, client gone). */
  cancel(): void {
    if (this.finished) return;
    this.release();
    if (this.controller && !this.controller.aborted) this.controller.abort(CANCELLED);
  }

  private release(): void {
    if (this.finished) return;
    this.finished = true;
    this.deadlineAt = 0;
    this.cluster.rqActive--;
    this.host.activeRequests--;
  }
}

/** Null sink for mirrored requests. */
export class MirrorSink implements H1Handler {
  constructor(private readonly cluster: UpstreamCluster, private readonly host: Host) {}
  onRequestStart(): void {}
  onResponseStart(_c: H1Controller, status: number): void {
    this.cluster.stats.status(status);
  }
  onResponseData(): void {}
  onResponseEnd(): void {
    this.done();
  }
  onResponseError(): void {
    this.done();
  }
  private done(): void {
    this.host.activeRequests--;
  }
}
