/**
 * The per-request state of the request path: one class that declares every field the levels
 * use — connection-manager filters (telemetry, authorization), route (timeouts, retries),
 * cluster (tried hosts) and endpoint (the attempt) — and writes the response back. The levels
 * are in their own modules (route-level.ts, cluster/level.ts, cluster/endpoint.ts) and are built
 * once per connection manager; the request path makes no closure, Set, Error or timer per
 * request on its common path (deadlines go to the coarse list in deadlines.ts).
 */
import { Timeout, type H1Request, type H1Response } from '../http1/server';
import type { Http2ServerRequest, Http2ServerResponse, ServerHttp2Stream } from 'node:http2';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { ConnInfo, ProxyContext } from '../context';
import type { HttpStats } from '../stats';
import { HashKind, queryParam, type RequestView, type RouteActionConfig, type RouteEntry, type RouteTable, type VirtualHostEntry } from '../config/route';
import type { FormatContext, HeaderMutation } from '../config/headers';
import type { RetryConfig } from '../config/retry';
import type { UpstreamCluster } from '../cluster/cluster';
import type { Host } from '../cluster/host';
import { hash32 } from '../cluster/lb';
import type { UpstreamAttempt } from '../cluster/endpoint';
import type { AuthzAttributes } from '../authz/attributes';
import type { RequestTelemetry } from '../telemetry/layer';
import { track, type Timed } from './deadlines';
import { RF } from './response-flags';
import { definedOnly, withoutRequestHopByHop } from './header-copy';
import type { RouteLevel } from './route-level';

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
const h2Owners = new WeakMap<object, Exchange>();

function onH2Close(this: object): void {
  h2Owners.get(this)?.onResponseClose();
}

/** Sends a response head still held once the upstream read that carried it has been handled. */
function flushHeld(ex: Exchange): void {
  if (ex.done || !ex.holdingHead()) return;
  ex.flushHead();
  if (!ex.http2) (ex.res as H1Response).flushHeaders();
}

/** A downstream request being proxied. */
export class Exchange implements RequestView, Timed {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  /** The request's headers (the downstream request's own object until a filter takes headers off: then a copy without them). */
  headers: Headers;
  readonly authority: string;
  readonly scheme: string;
  parsedQuery: URLSearchParams | null = null;
  readonly http2: boolean;
  readonly isGrpc: boolean;
  /** performance.now() at the start. */
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

  // route level
  routeLevel: RouteLevel | null = null;
  retry: RetryConfig | null = null;
  retriesDone = 0;
  /** Route deadline (performance.now() ms), 0: none. */
  deadlineAt = 0;
  /** When the next retry starts, 0: none scheduled. */
  retryAt = 0;
  // cluster level: hosts tried (only with the previous_hosts retry predicate)
  triedHosts: Host[] | null = null;
  // endpoint level
  attempt: UpstreamAttempt | null = null;
  // deadlines list (Timed)
  dueAt = 0;
  timed = false;
  // connection-manager filters' state
  telemetry: RequestTelemetry | null = null;
  authz: AuthzAttributes | null = null;
  // response
  headersSent = false;
  done = false;
  status = 0;
  /** Response header mutations of HTTP filters (header_mutation), applied to the upstream response after the route's. */
  responseMutations: (readonly HeaderMutation[])[] | null = null;
  /** Envoy response flags (RF bits). */
  flags = 0;
  /** Bytes of a streamed HTTP/2 request body sent upstream (HTTP/1.1 requests count their own, buffered bodies are their length). */
  h2RequestBytes = 0;
  /** Response body bytes written to the downstream (`istio_response_bytes`, `bytes_sent`). */
  responseBytes = 0;
  /** The response's `grpc-status` (from its headers, a trailers-only response, its trailers or a local reply); -1: none. */
  grpcStatus = -1;
  private pendingStatus = 0;
  private pendingHeaders: Headers | null = null;
  /** The attempt waiting for the downstream to drain (HTTP/1.1 responses call it directly). */
  drainWaiter: UpstreamAttempt | null = null;

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
    if (this.http2) {
      h2Owners.set(res, this);
      res.once('close', onH2Close);
    } else (res as H1Response).owner = this;
  }

  /** The downstream response closed (completed, or the client went away). */
  onResponseClose(): void {
    if (!this.done) {
      this.attempt?.cancel();
      const t = this.http2 ? Timeout.None : (this.res as H1Response).timedOut;
      if (t === Timeout.StreamIdle) {
        // the codec's stream_idle_timeout (408)
        this.flags |= RF.StreamIdleTimeout;
        this.finish(408);
      } else if (t !== Timeout.None) this.finish(408);
      else {
        // client went away before the response completed
        this.flags |= RF.DownstreamConnectionTermination;
        this.finish(499);
      }
    }
    const t = this.telemetry;
    if (t !== null && !t.recorded) t.filter.complete(t);
  }

  /** The downstream can take more response bytes. */
  onResponseDrain(): void {
    const a = this.drainWaiter;
    this.drainWaiter = null;
    a?.resume();
  }

  /** Waits for the downstream to drain before `a` resumes. */
  onDrain(a: UpstreamAttempt): void {
    this.drainWaiter = a;
    if (this.http2) (this.res as Http2ServerResponse).once('drain', onH2Drain);
  }

  /** Puts the exchange on the deadline list for its earliest deadline. */
  rearm(): void {
    let due = this.deadlineAt;
    const a = this.attempt;
    if (a !== null && a.deadlineAt !== 0 && (due === 0 || a.deadlineAt < due)) due = a.deadlineAt;
    if (this.retryAt !== 0 && (due === 0 || this.retryAt < due)) due = this.retryAt;
    this.dueAt = due;
    if (due !== 0) track(this);
  }

  /** A deadline passed. */
  onDue(now: number): void {
    if (this.done) {
      this.dueAt = 0;
      return;
    }
    this.routeLevel?.onDue(this, now);
    if (this.done) this.dueAt = 0;
    else this.rearm();
  }

  /** The request came from outside the mesh edge (`use_remote_address`): internal x-envoy headers it carries are dropped. */
  stripInternalHeaders = false;
  /** Append the peer's address to `x-forwarded-for` upstream (`use_remote_address` without `skip_xff_append`). */
  appendXff = false;
  /** Set for HTTP/1.1 Upgrade and CONNECT requests: the raw connection, handed over once the head is read. */
  upgrade: UpgradeRequest | null = null;
  /** The connection manager's `upgrade_configs` enable CONNECT (a route may override). */
  connectEnabled = false;

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
  /** Adds an HTTP filter's response header mutations (applied to the upstream response). */
  addResponseMutations(list: readonly HeaderMutation[]): void {
    if (this.responseMutations === null) this.responseMutations = [list];
    else this.responseMutations.push(list);
  }

  /** Applies the HTTP filters' response header mutations to upstream response headers. */
  applyResponseMutations(out: Record<string, string | string[] | undefined>): void {
    if (this.responseMutations === null) return;
    const fmt = this.formatContext();
    for (const list of this.responseMutations) for (const m of list) m.apply(out, fmt);
  }

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
    let h: Headers;
    if (!this.http2) h = withoutRequestHopByHop(src) as Headers;
    else {
      h = {};
      for (const k in src) {
        if (k.charCodeAt(0) === 58 || HOP_BY_HOP.has(k)) continue; // pseudo-headers and hop-by-hop
        h[k] = src[k];
      }
    }
    // x-envoy-original-path is the proxy's own record of a rewrite: one sent by a client is not
    // trusted (CVE-2023-27487), and is set again below only when this proxy rewrites the path
    if (this.stripInternalHeaders && h['x-envoy-original-path'] !== undefined) h['x-envoy-original-path'] = undefined;
    if (this.appendXff && this.conn.srcIp) {
      // use_remote_address: this proxy is the edge, so it records the peer it got the request from
      const x = h['x-forwarded-for'];
      const prev = Array.isArray(x) ? x.join(', ') : x;
      h['x-forwarded-for'] = prev ? `${prev}, ${this.conn.srcIp}` : this.conn.srcIp;
    }
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
    this.pendingStatus = status;
    this.pendingHeaders = headers;
  }

  /** Request body bytes received from the downstream so far (`istio_request_bytes`, `bytes_received`). */
  requestBodyBytes(): number {
    if (!this.http2) return (this.req as H1Request).bodyBytes;
    return Buffer.isBuffer(this.body) ? this.body.length : this.h2RequestBytes;
  }

  /** True while a response head waits for its first body byte. */
  holdingHead(): boolean {
    return this.pendingHeaders !== null;
  }

  /**
   * A held head goes out once the upstream read that carried it has been handled: with body bytes
   * in the same read, head and body leave in one write; an upstream that sends its head and then
   * waits (server-sent events, long polls, metadata before messages) does not hold the client.
   */
  flushAfterRead(): void {
    if (this.pendingHeaders !== null) process.nextTick(flushHeld, this);
  }

  /** Sends a response head still held (called once the upstream read that carried it is handled). */
  flushHeldHead(): void {
    flushHeld(this);
  }

  /** Ends a locally generated response with `body` (counted as sent). */
  endWith(body: Buffer | undefined): void {
    if (body !== undefined) this.responseBytes += body.length;
    (this.res as H1Response).end(body);
  }

  /** Records a `grpc-status` header or trailer value. */
  noteGrpcStatus(v: string | string[] | undefined): void {
    if (v === undefined) return;
    const n = Number(Array.isArray(v) ? v[0] : v);
    if (Number.isInteger(n) && n >= 0) this.grpcStatus = n;
  }

  /** Flushes a held response head. */
  flushHead(): void {
    const headers = this.pendingHeaders;
    if (headers === null) return;
    this.pendingHeaders = null;
    const status = this.pendingStatus;
    try {
      if (this.http2) (this.res as Http2ServerResponse).writeHead(status, definedOnly(headers) as never);
      else (this.res as H1Response).writeHeadLowerCase(status, headers);
    } catch {
      // header values the downstream codec refuses: drop them rather than the response
      const clean: Headers = {};
      for (const k in headers) if (/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(k)) clean[k] = headers[k];
      (this.res as H1Response).writeHead(status, clean as never);
    }
  }

  /** Response body chunk. Returns false on backpressure. */
  write(chunk: Buffer): boolean {
    if (this.pendingHeaders !== null) this.flushHead();
    this.responseBytes += chunk.length;
    return (this.res as H1Response).write(chunk);
  }

  /** Ends the response, with trailers if any. */
  end(trailers: Record<string, string | string[]> | null): void {
    const ph = this.pendingHeaders;
    if (ph !== null) {
      if (this.http2 && trailers === null && ph['grpc-status'] !== undefined) {
        // trailers-only gRPC response
        this.pendingHeaders = null;
        this.writeHead(this.pendingStatus, ph, true);
        this.finish(this.pendingStatus);
        return;
      }
      this.flushHead();
    }
    if (trailers !== null) {
      let any = false;
      for (const _ in trailers) { any = true; break; }
      if (any) {
        this.noteGrpcStatus(trailers['grpc-status']);
        this.res.addTrailers(trailers as never);
      }
    }
    this.res.end();
    this.finish(this.status);
  }

  /** Bookkeeping once the exchange is over (idempotent). */
  finish(status: number): void {
    if (this.done) return;
    this.done = true;
    this.dueAt = 0;
    this.drainWaiter = null;
    if (this.retryAt !== 0) {
      this.retryAt = 0;
      this.cluster!.retriesActive--;
    }
    this.ctx.activeRequests--;
    this.stats.downstream_rq_active--;
    this.stats.status(status);
  }

}

function onH2Drain(this: object): void {
  h2Owners.get(this)?.onResponseDrain();
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
