/**
 * One downstream request on its way upstream: route resolution result, the upstream request
 * (headers, path, body), the current attempt, retries, timeouts and the response written back.
 * The attempt is an undici dispatch handler (a class with methods, no closures per request).
 */
import type { H1Request, H1Response } from '../http1/server';
import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Stream } from 'node:http2';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Dispatcher, Pool } from 'undici';
import type { ConnInfo, ProxyContext } from '../context';
import type { HttpStats } from '../stats';
import { HashKind, queryParam, type RequestView, type RouteActionConfig, type RouteEntry, type RouteTable, type VirtualHostEntry } from '../config/route';
import type { FormatContext } from '../config/headers';
import type { RetryConfig } from '../config/retry';
import { Outcome, type UpstreamCluster } from '../cluster/cluster';
import type { Host } from '../cluster/host';
import { hash32 } from '../cluster/lb';
import { localReply } from './local-reply';
import { H1Pool, type H1DispatchOptions, type H1Handler } from '../http1/client';
import { onUpstreamPeer, onUpstreamResponseHeaders } from '../telemetry/layer';

/** Downstream request/response, HTTP/1.1 or HTTP/2 (compat API). */
export type DownstreamRequest = H1Request | Http2ServerRequest;
export type DownstreamResponse = H1Response | Http2ServerResponse;
type Headers = Record<string, string | string[] | undefined>;

/** The connection of an Upgrade/CONNECT request (what the codec hands over after the request head). */
export interface UpgradeRequest {
  socket: Socket;
  /** Bytes read after the request head. */
  head: Buffer;
  /** WebSocket upgrades are enabled on the connection manager (a route may override). */
  websocket: boolean;
  /** Set once the upstream switched protocols: the connection is a tunnel from then on. */
  tunnelled: boolean;
}

const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'expect', 'http2-settings']);
export const RESPONSE_HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** Largest request body buffered so it can be retried or mirrored. */
const MAX_REPLAY_BODY = 1024 * 1024;

/** Why an attempt ended without a usable response. */
type FailureKind = 'connect' | 'reset' | 'timeout' | 'refused';

function classify(err: Error & { code?: string }): FailureKind {
  const c = err.code ?? '';
  if (c === 'ECONNREFUSED' || c === 'EHOSTUNREACH' || c === 'ENETUNREACH' || c === 'UND_ERR_CONNECT_TIMEOUT' || c === 'EADDRNOTAVAIL' || c === 'ENOTFOUND') return 'connect';
  if (c === 'ERR_HTTP2_STREAM_ERROR' && /REFUSED_STREAM/.test(err.message)) return 'refused';
  return 'reset';
}

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

/** A downstream request being proxied. */
export class Exchange implements RequestView {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly headers: Headers;
  readonly authority: string;
  readonly scheme: string;
  parsedQuery: URLSearchParams | null = null;
  readonly http2: boolean;
  readonly isGrpc: boolean;
  readonly startedAt: number;

  table: RouteTable | null = null;
  vhost: VirtualHostEntry | null = null;
  route: RouteEntry | null = null;
  action: RouteActionConfig | null = null;
  clusterIndex = -1;
  cluster: UpstreamCluster | null = null;

  upstreamPath = '';
  upstreamHeaders: Headers | null = null;
  body: Buffer | DownstreamRequest | null = null;
  replayable = true;
  hash = -1;
  /** A generated hash-policy cookie to set on the response. */
  setCookie: string | null = null;

  retry: RetryConfig | null = null;
  retriesDone = 0;
  tried: Set<Host> | null = null;
  attempt: UpstreamAttempt | null = null;
  timer: NodeJS.Timeout | null = null;
  retryTimer: NodeJS.Timeout | null = null;
  headersSent = false;
  done = false;
  status = 0;
  private pendingHead: { status: number; headers: Headers } | null = null;

  constructor(
    readonly req: DownstreamRequest,
    readonly res: DownstreamResponse,
    readonly conn: ConnInfo,
    readonly ctx: ProxyContext,
    readonly stats: HttpStats,
    path: string,
  ) {
    this.method = req.method ?? 'GET';
    const h = req.headers as Headers;
    this.headers = h;
    this.http2 = req.httpVersionMajor === 2;
    this.authority = ((this.http2 ? h[':authority'] : h.host) as string | undefined) ?? (h.host as string | undefined) ?? '';
    this.scheme = (this.http2 ? (h[':scheme'] as string) : '') || ((req.socket as { encrypted?: boolean } | null)?.encrypted ? 'https' : 'http');
    const q = path.indexOf('?');
    this.path = q < 0 ? path : path.slice(0, q);
    this.query = q < 0 ? '' : path.slice(q + 1);
    const ct = h['content-type'];
    this.isGrpc = typeof ct === 'string' && ct.startsWith('application/grpc');
    this.startedAt = performance.now();
    ctx.activeRequests++;
    stats.downstream_rq_total++;
    stats.downstream_rq_active++;
  }

  /** The request came from outside the mesh edge (`use_remote_address`): internal x-envoy headers it carries are dropped. */
  stripInternalHeaders = false;
  /** Set for HTTP/1.1 Upgrade and CONNECT requests: the raw connection, handed over once the head is read. */
  upgrade: UpgradeRequest | null = null;

  /**
   * Each field line of a header as received, for matchers that look at values one by one
   * (repeated headers are joined by the codec; here they are read back from the raw headers).
   * Undefined when the header is absent.
   */
  headerLines(name: string): string[] | undefined {
    const v = this.headers[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') return v;
    if (v.indexOf(',') < 0) return [v];
    const raw = this.req.rawHeaders;
    const out: string[] = [];
    for (let i = 0; i < raw.length; i += 2) if (raw[i].length === name.length && raw[i].toLowerCase() === name) out.push(raw[i + 1]);
    // a filter may have replaced the header since: then its current value is the only line
    return out.length > 1 && out.join(', ') === v ? out : [v];
  }

  /** Formatter inputs for header values. */
  formatContext(): FormatContext {
    return { remoteAddress: this.conn.srcIp, remotePort: this.conn.srcPort, localAddress: this.conn.dstIp, localPort: this.conn.dstPort, protocol: this.http2 ? 'HTTP/2' : 'HTTP/1.1' };
  }

  /** True when the request carries no body. */
  bodyless(): boolean {
    if (this.http2) return (this.req as Http2ServerRequest).stream.endAfterHeaders;
    const h = this.headers;
    const cl = h['content-length'];
    return h['transfer-encoding'] === undefined && (cl === undefined || cl === '0');
  }

  /** Builds the upstream request (headers, path) for the chosen route; returns false if a local reply was sent. */
  prepare(action: RouteActionConfig, route: RouteEntry, vhost: VirtualHostEntry, table: RouteTable): void {
    const src = this.headers;
    const h: Headers = {};
    for (const k in src) {
      if (k.charCodeAt(0) === 58 || HOP_BY_HOP.has(k)) continue; // pseudo-headers and hop-by-hop
      h[k] = src[k];
    }
    // x-envoy-original-path is the proxy's own record of a rewrite: one sent by a client is not
    // trusted (CVE-2023-27487), and is set again below only when this proxy rewrites the path
    if (this.stripInternalHeaders) delete h['x-envoy-original-path'];
    if (this.http2 || h.host === undefined) h.host = this.authority;
    if (this.isGrpc || (src.te === 'trailers')) h.te = 'trailers';
    if (h['x-forwarded-proto'] === undefined) h['x-forwarded-proto'] = this.scheme;
    if (h['x-request-id'] === undefined) h['x-request-id'] = randomUUID();
    const wm = this.clusterIndex >= 0 ? action.weightedRequestMutations[this.clusterIndex] : null;
    if ((wm !== null && !wm.empty) || !route.requestMutation.empty || !vhost.requestMutation.empty || !table.requestMutation.empty) {
      const fmt = this.formatContext();
      if (wm !== null && !wm.empty) wm.apply(h, fmt);
      if (!route.requestMutation.empty) route.requestMutation.apply(h, fmt);
      if (!vhost.requestMutation.empty) vhost.requestMutation.apply(h, fmt);
      if (!table.requestMutation.empty) table.requestMutation.apply(h, fmt);
    }
    if (action.hostRewrite !== null) h.host = action.hostRewrite;
    let p = this.path;
    if (action.prefixRewrite !== null) {
      // prefix routes replace the matched prefix; exact and regex routes the whole path
      p = route.pathKind === 0 || route.pathKind === 3 ? action.prefixRewrite + p.slice(route.path.length) : action.prefixRewrite;
    } else if (action.regexRewrite !== null) {
      p = p.replace(action.regexRewrite, action.regexSubstitution);
    }
    if (p !== this.path) h['x-envoy-original-path'] = this.query ? `${this.path}?${this.query}` : this.path;
    this.upstreamPath = this.query ? `${p}?${this.query}` : p;
    this.upstreamHeaders = h;
    if (action.hashPolicies.length) this.hash = this.computeHash(action);
  }

  private computeHash(action: RouteActionConfig): number {
    let key = '';
    for (const hp of action.hashPolicies) {
      let v: string | undefined;
      switch (hp.kind) {
        case HashKind.Header: {
          const x = this.headers[hp.name];
          v = Array.isArray(x) ? x.join(',') : x;
          break;
        }
        case HashKind.Cookie:
          v = cookie(this.headers.cookie, hp.name);
          if (v === undefined && hp.cookieTtlMs > 0) {
            // Envoy generates the cookie when it is missing and a TTL is set, so later requests stick
            v = randomUUID().replace(/-/g, '').slice(0, 16);
            this.setCookie = `${hp.name}=${v}; Max-Age=${Math.floor(hp.cookieTtlMs / 1000)}${hp.cookiePath ? `; Path=${hp.cookiePath}` : ''}; HttpOnly`;
          }
          break;
        case HashKind.SourceIp: v = this.conn.srcIp; break;
        default: v = queryParam(this, hp.name);
      }
      if (v !== undefined) {
        key += v;
        if (hp.terminal) break;
      }
    }
    return key ? hash32(key) : -1;
  }

  /** Writes the response head now, or holds it until the first body byte (so trailers-only gRPC stays trailers-only). */
  writeHead(status: number, headers: Headers, endStream: boolean): void {
    this.headersSent = true;
    this.status = status;
    if (this.ctx.draining && !this.http2) headers.connection = 'close';
    if (endStream && this.http2) {
      const stream = (this.res as Http2ServerResponse).stream as ServerHttp2Stream;
      if (!stream.destroyed && !stream.headersSent) {
        headers[':status'] = String(status);
        stream.respond(headers as never, { endStream: true });
      }
      return;
    }
    if (endStream) {
      (this.res as H1Response).writeHead(status, headers as never);
      this.res.end();
      return;
    }
    this.pendingHead = { status, headers };
  }

  /** Flushes a held response head. */
  flushHead(): void {
    const p = this.pendingHead;
    if (p === null) return;
    this.pendingHead = null;
    try {
      (this.res as H1Response).writeHead(p.status, p.headers as never);
    } catch {
      // header values the downstream codec refuses: drop them rather than the response
      const clean: Headers = {};
      for (const k in p.headers) if (/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(k)) clean[k] = p.headers[k];
      (this.res as H1Response).writeHead(p.status, clean as never);
    }
  }

  /** True when a held head exists. */
  hasPendingHead(): boolean {
    return this.pendingHead !== null;
  }

  /** Response body chunk. Returns false on backpressure. */
  write(chunk: Buffer): boolean {
    if (this.pendingHead !== null) this.flushHead();
    return (this.res as H1Response).write(chunk);
  }

  /** Ends the response, with trailers if any. */
  end(trailers: Record<string, string | string[]> | null): void {
    if (this.pendingHead !== null) {
      const p = this.pendingHead;
      if (this.http2 && trailers === null && p.headers['grpc-status'] !== undefined) {
        // trailers-only gRPC response
        this.pendingHead = null;
        this.writeHead(p.status, p.headers, true);
        this.finish(p.status);
        return;
      }
      this.flushHead();
    }
    if (trailers !== null) {
      let any = false;
      for (const _ in trailers) { any = true; break; }
      if (any) this.res.addTrailers(trailers as never);
    }
    this.res.end();
    this.finish(this.status);
  }

  /** Bookkeeping once the exchange is over (idempotent). */
  finish(status: number): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.timer = null;
    this.ctx.activeRequests--;
    this.stats.downstream_rq_active--;
    this.stats.status(status);
  }

  /** Starts forwarding: global timeout, body buffering when retries or mirrors need it, first attempt. */
  forward(cluster: UpstreamCluster, action: RouteActionConfig): void {
    this.cluster = cluster;
    this.action = action;
    this.retry = action.retry;
    let timeoutMs = action.timeoutMs;
    if (action.grpcTimeoutHeaderMaxMs >= 0) {
      const gt = this.headers['grpc-timeout'];
      if (typeof gt === 'string') {
        const ms = parseGrpcTimeout(gt);
        if (Number.isFinite(ms)) timeoutMs = action.grpcTimeoutHeaderMaxMs > 0 ? Math.min(ms, action.grpcTimeoutHeaderMaxMs) : ms;
      }
    }
    if (timeoutMs > 0) this.timer = setTimeout(onGlobalTimeout, timeoutMs, this);
    if (this.res.on) this.res.on('close', onDownstreamClose);
    (this.res as unknown as { [kExchange]: Exchange })[kExchange] = this;
    if (this.bodyless()) {
      this.body = null;
      this.startAttempt();
      return;
    }
    const needReplay = (this.retry !== null && this.retry.numRetries > 0) || action.mirrors.length > 0;
    const cl = Number(this.headers['content-length'] ?? NaN);
    if (needReplay && cl <= MAX_REPLAY_BODY) {
      const chunks: Buffer[] = [];
      this.req.on('data', (c: Buffer) => chunks.push(c));
      this.req.once('end', () => {
        this.body = Buffer.concat(chunks);
        if (!this.done) this.startAttempt();
      });
      return;
    }
    this.body = this.req;
    this.replayable = false;
    this.startAttempt();
  }

  /** Dispatches one attempt to a host picked by the cluster's load balancer. */
  startAttempt(): void {
    if (this.done) return;
    const cluster = this.cluster!;
    const http2 = cluster.spec.protocol === 'http2' || (cluster.spec.protocol === 'downstream' && this.http2);
    if (cluster.requestOverflow(http2)) {
      cluster.stats.upstream_rq_pending_overflow++;
      localReply(this, 503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow', { 'x-envoy-overloaded': 'true' });
      return;
    }
    let host: Host | null;
    if (cluster.spec.lb === 'original_dst') {
      host = originalDstHost(this, cluster);
    } else {
      const avoid = this.retry !== null && this.retry.previousHosts ? this.tried : null;
      host = cluster.pick(this.hash, this.retriesDone, avoid);
    }
    if (host === null) {
      cluster.stats.upstream_cx_none_healthy++;
      localReply(this, 503, 'no healthy upstream', null);
      return;
    }
    if (this.tried === null && this.retry !== null) this.tried = new Set();
    this.tried?.add(host);
    const headers = this.upstreamHeaders!;
    if (this.action!.autoHostRewrite) headers.host = host.key;
    if (this.vhost!.includeAttemptCount) headers['x-envoy-attempt-count'] = String(this.retriesDone + 1);
    const attempt = new UpstreamAttempt(this, cluster, host);
    this.attempt = attempt;
    cluster.rqActive++;
    host.activeRequests++;
    cluster.stats.upstream_rq_total++;
    const perTry = this.retry !== null ? this.retry.perTryTimeoutMs : 0;
    if (perTry > 0) attempt.timer = setTimeout(onPerTryTimeout, perTry, attempt);
    const opts: Dispatcher.DispatchOptions = {
      path: this.upstreamPath,
      method: this.method as Dispatcher.HttpMethod,
      headers: headers as Record<string, string>,
      body: this.body as never,
    };
    try {
      dispatchTo(cluster.dispatcher(host, http2), opts, attempt);
    } catch (err) {
      attempt.onResponseError(null, err as Error);
    }
    if (this.retriesDone === 0 && this.action!.mirrors.length && (this.body === null || Buffer.isBuffer(this.body))) mirror(this);
  }

  /** Whether another attempt is allowed (retry policy, replayable body, retry circuit breaker). */
  canRetry(): boolean {
    const r = this.retry;
    if (r === null || this.done || this.headersSent || !this.replayable || this.retriesDone >= r.numRetries) return false;
    const c = this.cluster!;
    if (c.retriesActive >= c.spec.limits.maxRetries) {
      c.stats.upstream_rq_retry_overflow++;
      return false;
    }
    return true;
  }

  /** Schedules the next attempt after the retry backoff. */
  scheduleRetry(): void {
    this.retriesDone++;
    const c = this.cluster!;
    c.retriesActive++;
    c.stats.upstream_rq_retry++;
    this.retryTimer = setTimeout(onRetry, this.retry!.backoffMs(this.retriesDone), this);
  }
}

const kExchange = Symbol('tsmesh.exchange');

function onRetry(ex: Exchange): void {
  ex.retryTimer = null;
  ex.cluster!.retriesActive--;
  ex.startAttempt();
}

function onGlobalTimeout(ex: Exchange): void {
  ex.timer = null;
  const c = ex.cluster;
  if (c) c.stats.upstream_rq_timeout++;
  ex.stats.downstream_rq_timeout++;
  ex.attempt?.cancel();
  localReply(ex, 504, 'upstream request timeout', null);
}

function onDownstreamClose(this: DownstreamResponse): void {
  const ex = (this as unknown as { [kExchange]: Exchange })[kExchange];
  if (!ex || ex.done) return;
  // client went away before the response completed
  ex.attempt?.cancel();
  ex.finish(499);
}

function onPerTryTimeout(a: UpstreamAttempt): void {
  a.timer = null;
  if (a.finished) return;
  a.cluster.stats.upstream_rq_per_try_timeout++;
  a.fail('timeout', null);
}

/** The host of an ORIGINAL_DST cluster for this request (the restored destination, or `x-envoy-original-dst-host`). */
export function originalDstHost(ex: Exchange, cluster: UpstreamCluster): Host | null {
  if (cluster.spec.useHttpHeader) {
    const v = ex.headers['x-envoy-original-dst-host'];
    if (typeof v === 'string') {
      const i = v.lastIndexOf(':');
      if (i > 0) return cluster.originalDst(v.slice(0, i).replace(/^\[|\]$/g, ''), Number(v.slice(i + 1)));
    }
  }
  return cluster.originalDst(ex.conn.dstIp, ex.conn.dstPort);
}

/** One upstream attempt: an undici dispatch handler. */
export class UpstreamAttempt implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | null = null;
  timer: NodeJS.Timeout | null = null;
  /** The attempt no longer owns the exchange (cancelled, retried, or finished). */
  finished = false;
  private started = false;
  private paused = false;

  constructor(readonly ex: Exchange, readonly cluster: UpstreamCluster, readonly host: Host) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.finished) controller.abort(new Error('cancelled'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (this.finished || statusCode < 200) return;
    const ex = this.ex;
    const grpc = headers['grpc-status'];
    const grpcStatus = typeof grpc === 'string' ? Number(grpc) : -1;
    this.cluster.report(this.host, statusCode >= 500 ? (statusCode >= 502 && statusCode <= 504 ? Outcome.GatewayFailure : Outcome.Http5xx) : Outcome.Success);
    if (ex.retry !== null && ex.retry.retriableStatus(statusCode, grpcStatus) && ex.canRetry()) {
      this.release();
      this.cluster.stats.status(statusCode);
      controller.abort(new Error('retrying'));
      ex.scheduleRetry();
      return;
    }
    if (ex.retriesDone > 0) this.cluster.stats.upstream_rq_retry_success++;
    this.started = true;
    // copy instead of deleting (keeps the object in fast mode), dropping hop-by-hop headers
    const out: Record<string, string | string[] | undefined> = {};
    for (const k in headers) if (!RESPONSE_HOP_BY_HOP.has(k)) out[k] = headers[k];
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
    if (ex.setCookie !== null) {
      const sc = out['set-cookie'];
      out['set-cookie'] = sc === undefined ? ex.setCookie : Array.isArray(sc) ? [...sc, ex.setCookie] : [sc, ex.setCookie];
    }
    if (ex.ctx.telemetry) {
      // the upstream's workload metadata is for this proxy's telemetry, not for the app
      onUpstreamResponseHeaders(ex, out);
      if (this.host.peerPrincipal) onUpstreamPeer(ex, this.host.peerPrincipal);
    }
    out['x-envoy-upstream-service-time'] = String(Math.round(performance.now() - ex.startedAt));
    ex.writeHead(statusCode, out, false);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.finished || !this.started) return;
    if (!this.ex.write(chunk) && !this.paused) {
      this.paused = true;
      controller.pause();
      this.ex.res.once('drain', this.resume.bind(this));
    }
  }

  private resume(): void {
    this.paused = false;
    this.controller?.resume();
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[]>): void {
    if (this.finished) return;
    this.release();
    if (!this.started) return;
    this.cluster.stats.status(this.ex.status);
    let any = false;
    for (const _ in trailers) { any = true; break; }
    this.ex.end(any ? trailers : null);
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    if (this.finished) return;
    const kind = classify(err as Error & { code?: string });
    this.fail(kind, err);
  }

  /** Ends the attempt with a failure: retry, or a local reply (or a reset when the response had started). */
  fail(kind: FailureKind, err: Error | null): void {
    if (this.finished) return;
    this.release();
    const ex = this.ex;
    const c = this.cluster;
    if (kind === 'connect') c.stats.upstream_cx_connect_fail++;
    else c.stats.upstream_rq_rx_reset++;
    c.report(this.host, Outcome.LocalFailure);
    if (this.controller && !this.controller.aborted) this.controller.abort(err ?? new Error(kind));
    if (this.started) {
      // response already streaming: reset downstream
      ex.finish(ex.status);
      ex.res.destroy();
      return;
    }
    if (ex.retry !== null && ex.retry.retriableFailure(kind) && ex.canRetry()) {
      ex.scheduleRetry();
      return;
    }
    if (kind === 'timeout') {
      localReply(ex, 504, 'upstream request timeout', null);
      return;
    }
    const reason = kind === 'connect' ? 'connection failure' : kind === 'refused' ? 'remote refused stream reset' : 'connection termination';
    localReply(ex, 503, `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`, null);
  }

  /** Stops the attempt because the exchange ended (timeout, client gone). */
  cancel(): void {
    if (this.finished) return;
    this.release();
    if (this.controller && !this.controller.aborted) this.controller.abort(new Error('cancelled'));
  }

  private release(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.cluster.rqActive--;
    this.host.activeRequests--;
  }
}

/** Null sink for mirrored requests. */
class MirrorSink implements Dispatcher.DispatchHandler {
  constructor(private readonly cluster: UpstreamCluster, private readonly host: Host) {}
  onRequestStart(): void {}
  onResponseStart(_c: Dispatcher.DispatchController, status: number): void {
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
      dispatchTo(c.dispatcher(host, c.spec.protocol === 'http2'), { path: ex.upstreamPath, method: ex.method as Dispatcher.HttpMethod, headers: headers as Record<string, string>, body: ex.body as Buffer | null }, new MirrorSink(c, host));
    } catch {
      host.activeRequests--;
    }
  }
}

/** Sends on the proxy's HTTP/1.1 pool or an undici (HTTP/2) pool; both call the handler the same way. */
function dispatchTo(d: Pool | H1Pool, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
  if (d instanceof H1Pool) d.dispatch(opts as unknown as H1DispatchOptions, handler as unknown as H1Handler);
  else d.dispatch(opts, handler);
}

function cookie(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const s = Array.isArray(header) ? header.join('; ') : header;
  let i = 0;
  while (i < s.length) {
    let j = s.indexOf(';', i);
    if (j < 0) j = s.length;
    const eq = s.indexOf('=', i);
    if (eq > 0 && eq < j && s.slice(i, eq).trim() === name) return s.slice(eq + 1, j).trim();
    i = j + 1;
  }
  return undefined;
}
