/**
 * The HTTP/2 upstream side: a pool of `node:http2` client sessions per cluster × endpoint ×
 * transport ({@link H2Pool}), each session multiplexing streams up to the peer's
 * `SETTINGS_MAX_CONCURRENT_STREAMS`. Envoy's circuit-breaker limits apply through the admission
 * shared with the HTTP/1.1 pool (`cluster/limits.ts`): `max_connections` sessions (a request no
 * session has room for opens one while the limit allows, else `upstream_cx_overflow`),
 * `max_pending_requests` requests waiting for a session or a free stream (beyond it
 * `upstream_rq_pending_overflow`, and the attempt fails as overflow: 503 UO), and the cluster's
 * `max_requests` before the pool is reached. A session that receives GOAWAY takes no
 * new streams (its open ones finish; streams the peer did not process fail as refused, which is
 * retriable); a session that errors or closes leaves the pool at once; an idle session closes
 * after the pool's idle timeout; `max_requests_per_connection` retires a session once reached.
 * Streams are delivered to the same handler interface as the HTTP/1.1 pool's, so attempts do not
 * care which codec carries them. Request bodies stream with backpressure (no pipeline per call).
 */
import http2 from 'node:http2';
import type net from 'node:net';
import type { Readable } from 'node:stream';
import type { H1Connector, H1Controller, H1DispatchOptions, H1Handler } from '../http1/client';
import { Admit, type PoolLimits } from '../cluster/limits';

type Headers = Record<string, string | string[] | undefined>;

export interface H2PoolOptions {
  /**
   * `max_connections` (sessions), `max_pending_requests` (requests waiting for a session or a
   * free stream), `max_requests_per_connection` (streams per session over its life), idle timeout
   * (a session with no stream for this long closes) — shared with the HTTP/1.1 pool.
   */
  limits: PoolLimits;
  /** `http` or `https` (the `:scheme` sent). */
  scheme: string;
  connect: H1Connector;
}

const {
  HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_AUTHORITY, HTTP2_HEADER_SCHEME, HTTP2_HEADER_STATUS,
  NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM,
} = http2.constants;

/** Headers HTTP/2 forbids (RFC 9113 §8.2.2), dropped on the way up. */
const CONNECTION_HEADERS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings']);

const kOwner = Symbol('h2-stream-owner');
type OwnedStream = http2.ClientHttp2Stream & { [kOwner]?: H2Stream };

function errorWith(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

const OVERFLOW = errorWith('too many pending requests', 'PROXY_OVERFLOW');
const POOL_CLOSED = errorWith('pool closed', 'UND_ERR_DESTROYED');

/** One request on the pool: waiting for a stream, then on one. */
class H2Stream implements H1Controller {
  aborted = false;
  paused = false;
  stream: OwnedStream | null = null;
  session: H2Session | null = null;
  /** Response head delivered (a trailers-only response also ends it). */
  private responded = false;
  private ended = false;
  private trailers: Record<string, string | string[]> | null = null;
  private body: Readable | null = null;

  constructor(readonly pool: H2Pool, readonly opts: H1DispatchOptions, readonly handler: H1Handler) {}

  pause(): void {
    this.paused = true;
    this.stream?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.stream?.resume();
  }

  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.detachBody();
    const s = this.stream;
    if (s !== null) {
      if (!s.destroyed) s.close(NGHTTP2_CANCEL);
    } else this.pool.dequeue(this);
    this.handler.onResponseError?.(this, reason);
  }

  /** Opens the stream on `session`. */
  start(session: H2Session): void {
    this.session = session;
    const o = this.opts;
    const h: Record<string, string | string[]> = {};
    const src = o.headers;
    for (const k in src) {
      const v = src[k];
      if (v === undefined || CONNECTION_HEADERS.has(k)) continue;
      if (k === 'te' && v !== 'trailers') continue;
      h[k] = v;
    }
    h[HTTP2_HEADER_METHOD] = o.method;
    h[HTTP2_HEADER_PATH] = o.path;
    h[HTTP2_HEADER_SCHEME] = this.pool.opts.scheme;
    const host = src.host;
    h[HTTP2_HEADER_AUTHORITY] = typeof host === 'string' ? host : session.defaultAuthority;
    const body = o.body ?? null;
    const noBody = body === null || (Buffer.isBuffer(body) && body.length === 0);
    let s: OwnedStream;
    try {
      s = session.session.request(h, { endStream: noBody }) as OwnedStream;
    } catch (err) {
      // headers the codec refuses, or a session that just went away
      session.streamDone();
      this.fail(err as Error);
      return;
    }
    this.stream = s;
    s[kOwner] = this;
    s.on('response', onStreamResponse);
    s.on('data', onStreamData);
    s.on('trailers', onStreamTrailers);
    s.on('end', onStreamEnd);
    s.on('error', onStreamError);
    s.on('close', onStreamClose);
    if (this.paused) s.pause();
    if (noBody) return;
    if (Buffer.isBuffer(body)) {
      s.end(body);
      return;
    }
    this.body = body;
    s.on('drain', onStreamDrain);
    bodyOwners.set(body, this);
    body.on('data', onBodyData);
    body.once('end', onBodyEnd);
    body.once('error', onBodyError);
  }

  /** @internal a chunk of the streamed request body */
  bodyData(c: Buffer): void {
    const s = this.stream;
    if (s === null || s.destroyed) return;
    this.handler.onRequestData?.(c.length);
    if (!s.write(c)) this.body?.pause();
  }

  /** @internal */
  bodyEnd(): void {
    this.detachBody();
    const s = this.stream;
    if (s !== null && !s.destroyed) s.end();
  }

  /** @internal the downstream body broke off: the upstream request cannot be completed */
  bodyError(): void {
    this.detachBody();
    const s = this.stream;
    if (s !== null && !s.destroyed) s.close(NGHTTP2_CANCEL);
    this.fail(errorWith('request body aborted', 'UND_ERR_ABORTED'));
  }

  /** @internal */
  drained(): void {
    this.body?.resume();
  }

  private detachBody(): void {
    const b = this.body;
    if (b === null) return;
    this.body = null;
    bodyOwners.delete(b);
    b.removeListener('data', onBodyData);
    b.removeListener('end', onBodyEnd);
    b.removeListener('error', onBodyError);
  }

  /** @internal */
  onResponse(headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number): void {
    if (this.aborted || this.responded) return;
    const status = Number(headers[HTTP2_HEADER_STATUS]);
    const out: Headers = {};
    for (const k in headers) if (k.charCodeAt(0) !== 58 /* : */) out[k] = headers[k] as string | string[];
    this.responded = true;
    this.handler.onResponseStart?.(this, status, out);
    // a response that ended with its head (trailers-only gRPC, 204, HEAD) is complete now
    if ((flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 && !this.aborted) this.complete();
  }

  /** @internal */
  onData(chunk: Buffer): void {
    if (!this.aborted && this.responded && !this.ended) this.handler.onResponseData?.(this, chunk);
  }

  /** @internal */
  onTrailers(t: http2.IncomingHttpHeaders): void {
    const out: Record<string, string | string[]> = {};
    for (const k in t) if (k.charCodeAt(0) !== 58) out[k] = t[k] as string | string[];
    this.trailers = out;
  }

  /** @internal */
  complete(): void {
    if (this.ended || this.aborted) return;
    if (!this.responded) {
      this.fail(errorWith('upstream stream ended without a response', 'HPE_INVALID'));
      return;
    }
    this.ended = true;
    this.detachBody();
    this.handler.onResponseEnd?.(this, this.trailers ?? {});
  }

  /** @internal the stream closed: a stream that did not complete failed */
  onClose(s: OwnedStream): void {
    this.detachBody();
    this.session?.streamDone();
    this.session = null;
    if (this.ended || this.aborted) return;
    const code = s.rstCode ?? 0;
    if (code === NGHTTP2_REFUSED_STREAM) this.fail(errorWith('Stream closed with error code NGHTTP2_REFUSED_STREAM', 'ERR_HTTP2_STREAM_ERROR'));
    else this.fail(errorWith(`upstream stream reset (code ${code})`, 'ECONNRESET'));
  }

  /** @internal */
  fail(err: Error): void {
    if (this.ended || this.aborted) return;
    this.aborted = true;
    this.detachBody();
    this.handler.onResponseError?.(this, err);
  }
}

/** The request a streamed body belongs to (module functions as listeners: no closure per request). */
const bodyOwners = new WeakMap<object, H2Stream>();
function onBodyData(this: object, c: Buffer): void {
  bodyOwners.get(this)?.bodyData(c);
}
function onBodyEnd(this: object): void {
  bodyOwners.get(this)?.bodyEnd();
}
function onBodyError(this: object): void {
  bodyOwners.get(this)?.bodyError();
}

function ownerOf(s: object): H2Stream | undefined {
  return (s as OwnedStream)[kOwner];
}

function onStreamResponse(this: OwnedStream, headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number): void {
  ownerOf(this)?.onResponse(headers, flags);
}
function onStreamData(this: OwnedStream, chunk: Buffer): void {
  ownerOf(this)?.onData(chunk);
}
function onStreamTrailers(this: OwnedStream, t: http2.IncomingHttpHeaders): void {
  ownerOf(this)?.onTrailers(t);
}
function onStreamEnd(this: OwnedStream): void {
  ownerOf(this)?.complete();
}
function onStreamDrain(this: OwnedStream): void {
  ownerOf(this)?.drained();
}
function onStreamError(this: OwnedStream, err: Error & { code?: string }): void {
  const o = ownerOf(this);
  if (o === undefined) return;
  // REFUSED_STREAM and GOAWAY'd streams were not processed by the peer: retriable
  if (err.code === 'ERR_HTTP2_STREAM_ERROR' || err.code === 'ERR_HTTP2_GOAWAY_SESSION') {
    if (/REFUSED_STREAM/.test(err.message) || err.code === 'ERR_HTTP2_GOAWAY_SESSION') {
      o.fail(errorWith('Stream closed with error code NGHTTP2_REFUSED_STREAM', 'ERR_HTTP2_STREAM_ERROR'));
      return;
    }
  }
  o.fail(err);
}
function onStreamClose(this: OwnedStream): void {
  ownerOf(this)?.onClose(this);
}

function onIdle(s: H2Session): void {
  if (s.active === 0) s.retire();
}

/** One upstream HTTP/2 session. */
class H2Session {
  /** Streams open on it. */
  active = 0;
  /** Streams opened over its life. */
  opened = 0;
  /** Takes no new streams (GOAWAY received, request limit reached, pool closed). */
  draining = false;
  closed = false;
  /** The peer's SETTINGS arrived: until then one stream, so a burst does not outrun its stream limit. */
  private settled = false;
  private idleTimer: NodeJS.Timeout | null = null;
  readonly defaultAuthority: string;

  constructor(readonly pool: H2Pool, readonly session: http2.ClientHttp2Session, authority: string) {
    this.defaultAuthority = authority;
    session.on('error', this.onError.bind(this));
    session.on('goaway', this.onGoaway.bind(this));
    session.on('close', this.onClose.bind(this));
    session.on('frameError', noop);
    // settings may raise the stream limit: waiting requests can go
    session.on('remoteSettings', this.onSettings.bind(this));
  }

  /** Streams it is expected to take (before the peer's SETTINGS: the common limit of 100). */
  expectedRoom(): number {
    return this.settled ? this.capacity() : Math.max(0, 100 - this.active);
  }

  /** Streams it can take now. */
  capacity(): number {
    if (this.draining || this.closed || this.session.destroyed || this.session.closed) return 0;
    const max = this.settled ? this.session.remoteSettings?.maxConcurrentStreams ?? 100 : 1;
    let room = Math.min(max, 1 << 30) - this.active;
    const limit = this.pool.opts.limits.maxRequestsPerConnection;
    if (limit > 0) room = Math.min(room, limit - this.opened);
    return room;
  }

  take(x: H2Stream): void {
    this.active++;
    this.opened++;
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    if (this.pool.opts.limits.exhausted(this.opened)) this.draining = true;
    x.start(this);
  }

  /** A stream of this session closed. */
  streamDone(): void {
    this.active--;
    if (this.closed) return;
    if (this.draining) {
      if (this.active === 0) this.retire();
      return;
    }
    this.pool.next(this);
    if (this.active === 0) this.parkIdle();
  }

  private parkIdle(): void {
    const ms = this.pool.opts.limits.idleTimeoutMs;
    if (ms <= 0) return;
    if (this.idleTimer === null) {
      this.idleTimer = setTimeout(onIdle, ms, this);
      this.idleTimer.unref();
    } else this.idleTimer.refresh();
  }

  /** Takes no new streams; closes once the open ones are done. */
  retire(): void {
    this.draining = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.pool.gone(this);
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }

  private onGoaway(): void {
    // streams above the peer's last stream id fail (refused); the rest finish
    this.draining = true;
    this.pool.gone(this);
    if (this.active === 0) this.retire();
  }

  private onSettings(): void {
    this.settled = true;
    if (!this.draining && !this.closed) this.pool.next(this);
  }

  private onError(): void {
    // out of the pool at once; its streams fail with their own errors
    this.draining = true;
    this.pool.gone(this);
  }

  private onClose(): void {
    this.closed = true;
    this.draining = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.pool.gone(this);
    this.pool.closedSession(this);
  }

  destroy(): void {
    if (!this.session.destroyed) this.session.destroy();
  }
}

function noop(): void {}

/** A pool of HTTP/2 sessions to one endpoint over one transport. */
export class H2Pool {
  /** Sessions taking streams. */
  private readonly ready: H2Session[] = [];
  /** Every open session (also draining ones). */
  private readonly all = new Set<H2Session>();
  private readonly queue: H2Stream[] = [];
  private qHead = 0;
  /** Sessions being connected. */
  private connecting = 0;
  private closed = false;

  constructor(readonly opts: H2PoolOptions, private readonly authority: string) {}

  get stats(): { connected: number; pending: number } {
    return { connected: this.all.size, pending: this.queue.length - this.qHead };
  }

  /** Sends a request (the same handler interface as the HTTP/1.1 pool). */
  dispatch(opts: H1DispatchOptions, handler: H1Handler): boolean {
    const x = new H2Stream(this, opts, handler);
    handler.onRequestStart?.(x, null);
    if (x.aborted) return true;
    if (this.closed) {
      x.fail(POOL_CLOSED);
      return true;
    }
    const s = this.pick();
    if (s !== null) {
      s.take(x);
      return true;
    }
    // every waiting request counts as pending, also those waiting for a session being opened
    // (Envoy: with multiplexing, max_pending_requests is hit only while no session has room)
    const waiting = this.queue.length - this.qHead;
    switch (this.opts.limits.admit(this.slots(), waiting + 1 > this.expectedRoom(), waiting)) {
      case Admit.Overflow:
        x.fail(OVERFLOW);
        return true;
      case Admit.Open:
        this.queue.push(x);
        this.connect();
        return true;
      default:
        this.queue.push(x);
        return true;
    }
  }

  /** Sessions holding a `max_connections` slot: ready and connecting ones (draining sessions after GOAWAY or their request limit do not). */
  private slots(): number {
    return this.ready.length + this.connecting;
  }

  /** Streams the sessions are expected to take: those connecting or without the peer's settings ~100 each. */
  private expectedRoom(): number {
    let room = this.connecting * 100;
    for (const s of this.ready) room += s.expectedRoom();
    return room;
  }

  private connect(): void {
    this.connecting++;
    this.opts.connect(this.onConnect.bind(this));
  }

  private pick(): H2Session | null {
    const r = this.ready;
    for (let i = 0; i < r.length; i++) if (r[i].capacity() > 0) return r[i];
    return null;
  }

  /** Opens another session when requests wait beyond the sessions' room and the limit allows. */
  private grow(): void {
    const waiting = this.queue.length - this.qHead;
    if (waiting === 0 || this.closed) return;
    if (waiting <= this.expectedRoom() || !this.opts.limits.canConnect(this.slots())) return;
    this.connect();
  }

  private onConnect(err: Error | null, socket: net.Socket | null): void {
    this.connecting--;
    if (err !== null || socket === null) {
      // the first waiting request fails with the connect error (Envoy: one failure per attempt)
      const x = this.shift();
      x?.fail(err ?? errorWith('connect failed', 'ECONNREFUSED'));
      this.grow();
      return;
    }
    if (this.closed) {
      socket.destroy();
      return;
    }
    let session: http2.ClientHttp2Session;
    try {
      session = http2.connect(`${this.opts.scheme}://${this.authority}`, { createConnection: () => socket, settings: { enablePush: false } });
    } catch (e) {
      socket.destroy();
      this.shift()?.fail(e as Error);
      this.grow();
      return;
    }
    const s = new H2Session(this, session, this.authority);
    this.all.add(s);
    this.ready.push(s);
    this.next(s);
  }

  private shift(): H2Stream | null {
    while (this.qHead < this.queue.length) {
      const x = this.queue[this.qHead];
      this.qHead++;
      if (this.qHead > 64 && this.qHead * 2 > this.queue.length) {
        this.queue.splice(0, this.qHead);
        this.qHead = 0;
      }
      if (!x.aborted) return x;
    }
    return null;
  }

  /** @internal hands waiting requests to a session with room. */
  next(s: H2Session): void {
    while (this.qHead < this.queue.length && s.capacity() > 0) {
      const x = this.shift();
      if (x === null) break;
      s.take(x);
    }
    this.grow();
  }

  /** @internal a request gave up while waiting. */
  dequeue(x: H2Stream): void {
    const i = this.queue.indexOf(x, this.qHead);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** @internal the session takes no new streams. */
  gone(s: H2Session): void {
    const i = this.ready.indexOf(s);
    if (i >= 0) this.ready.splice(i, 1);
    // waiting requests need another session
    this.grow();
  }

  /** @internal the session closed. */
  closedSession(s: H2Session): void {
    this.all.delete(s);
    this.grow();
  }

  /** Closes sessions once their streams finish; waiting requests fail. */
  close(): Promise<void> {
    this.closed = true;
    for (let x = this.shift(); x !== null; x = this.shift()) x.fail(POOL_CLOSED);
    for (const s of [...this.all]) s.retire();
    return Promise.resolve();
  }
}
