/**
 * The upstream side of the HTTP/1.1 codec: a connection pool per cluster × endpoint × transport
 * ({@link H1Pool}) and its connections ({@link H1ClientConnection}). A request is written with
 * Content-Length or chunked framing (a streamed body with backpressure), the response is parsed
 * with {@link Http1Parser} and delivered to a handler ({@link H1Handler}, shared with the HTTP/2 pool) so attempts do not
 * care which codec carries them. A connection goes back to
 * the pool only after a complete response to a completely sent request, unless the response said
 * `Connection: close` or the connection reached its request limit; idle connections close after
 * the pool's idle timeout. A reused connection that fails before any response byte is retried
 * once on a new connection when the body can be replayed (the server closed it while idle).
 */
import net from 'node:net';
import type { Readable } from 'node:stream';
import { Http1Parser, RESPONSE, type ParserEvents } from './parser';
import { COALESCE_MAX, sendRequestHead } from './wire';
import { Admit, type PoolLimits } from '../cluster/limits';
import { copyOf } from './bytes';
import { headerObject, Repeats } from './header-object';
import { sharedReadBuffer, SocketReads } from './reads';

export { SocketReads };

type Headers = Record<string, string | string[] | undefined>;

/** The controller handed to handlers (pause, resume, abort one response). */
export interface H1Controller {
  readonly aborted: boolean;
  readonly paused: boolean;
  /** The pool tells {@link H1Handler.onResponseReadEnd} once each read that carried a response head is handled. */
  readonly tellsReadEnd?: boolean;
  pause(): void;
  resume(): void;
  abort(reason: Error): void;
}

/** Receives one response (the HTTP/1.1 and HTTP/2 pools call it the same way). */
export interface H1Handler {
  onRequestStart?(controller: H1Controller, context: unknown): void;
  onResponseStart?(controller: H1Controller, statusCode: number, headers: Headers, statusMessage?: string): void;
  onResponseData?(controller: H1Controller, chunk: Buffer): void;
  onResponseEnd?(controller: H1Controller, trailers: Record<string, string | string[]>): void;
  onResponseError?(controller: H1Controller | null, err: Error): void;
  /** The socket read that carried the response head has been handled (pools whose controller `tellsReadEnd`). */
  onResponseReadEnd?(controller: H1Controller): void;
  /** `n` bytes of a streamed request body were written upstream. */
  onRequestData?(n: number): void;
}

export interface H1DispatchOptions {
  method: string;
  path: string;
  headers: Headers;
  body?: Buffer | Readable | null;
}

/**
 * Opens a transport connection; calls back with the connected socket or an error, and for a socket
 * opened with `onread` the {@link SocketReads} its reads go to.
 */
export type H1Connector = (cb: (err: Error | null, socket: net.Socket | null, reads?: SocketReads | null) => void) => void;

export interface H1PoolOptions {
  /** `max_connections`, `max_pending_requests`, `max_requests_per_connection`, idle timeout (shared with the HTTP/2 pool). */
  limits: PoolLimits;
  connect: H1Connector;
}

const OVERFLOW = Object.assign(new Error('too many pending requests'), { code: 'PROXY_OVERFLOW' });

/** Plain TCP connector with a connect timeout; the socket is read with `onread` (see {@link SocketReads}). */
export function tcpConnector(host: string, port: number, timeoutMs: number, localAddress: string | null, extra: Record<string, unknown> | null): H1Connector {
  return (cb) => {
    const reads = new SocketReads();
    const s = net.connect({ host, port, ...(localAddress ? { localAddress } : {}), ...(extra ?? {}), onread: { buffer: sharedReadBuffer(), callback: reads.callback } } as net.NetConnectOpts);
    reads.socket = s;
    s.setNoDelay(true);
    const c = new PendingConnect(s, cb, reads);
    if (timeoutMs > 0) c.timer = setTimeout(connectTimedOut, timeoutMs, c);
  };
}

class PendingConnect {
  timer: NodeJS.Timeout | null = null;
  done = false;
  constructor(readonly s: net.Socket, readonly cb: (err: Error | null, socket: net.Socket | null, reads: SocketReads | null) => void, readonly reads: SocketReads | null = null) {
    s.once('connect', this.onConnect.bind(this));
    s.once('error', this.onError.bind(this));
  }
  onConnect(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.s.removeAllListeners('error');
    this.cb(null, this.s, this.reads);
  }
  onError(err: Error): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.cb(err, null, null);
  }
}

function connectTimedOut(c: PendingConnect): void {
  c.s.destroy();
  c.onError(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' }));
}

/** One queued or running request. */
class Exchange1 implements H1Controller {
  aborted = false;
  paused = false;
  readonly tellsReadEnd = true;
  conn: H1ClientConnection | null = null;
  /** A retry on a fresh connection was already used. */
  retried = false;
  constructor(readonly pool: H1Pool, readonly opts: H1DispatchOptions, readonly handler: H1Handler) {}

  pause(): void {
    this.paused = true;
    this.conn?.pauseResponse();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.conn?.resumeResponse();
  }

  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    const c = this.conn;
    this.conn = null;
    if (c !== null) c.destroy();
    else this.pool.dequeue(this);
    this.handler.onResponseError?.(this, reason);
  }
}

/** A pool of HTTP/1.1 connections to one endpoint over one transport. */
export class H1Pool {
  private readonly idle: H1ClientConnection[] = [];
  private readonly queue: Exchange1[] = [];
  /** Open or opening connections. */
  size = 0;
  /** Connections being opened (each takes the first waiting request). */
  private opening = 0;
  /** Connected ones. */
  connected = 0;
  private closed = false;

  constructor(readonly opts: H1PoolOptions) {}

  get stats(): { connected: number; pending: number } {
    return { connected: this.connected, pending: this.queue.length };
  }

  /** Sends a request; the handler hears about its response. */
  dispatch(opts: H1DispatchOptions, handler: H1Handler): boolean {
    const x = new Exchange1(this, opts, handler);
    handler.onRequestStart?.(x, null);
    if (x.aborted) return true;
    this.run(x);
    return true;
  }

  private run(x: Exchange1): void {
    if (this.closed) {
      x.handler.onResponseError?.(x, Object.assign(new Error('pool closed'), { code: 'UND_ERR_DESTROYED' }));
      return;
    }
    while (this.idle.length) {
      const c = this.idle.pop()!;
      if (c.usable()) {
        c.start(x);
        return;
      }
    }
    // a connection carries one request: those being opened take the first waiting ones
    const waiting = this.queue.length - this.opening;
    switch (this.opts.limits.admit(this.size, waiting >= 0, waiting)) {
      case Admit.Overflow:
        x.aborted = true;
        x.handler.onResponseError?.(x, OVERFLOW);
        return;
      case Admit.Open:
        this.queue.push(x);
        this.open();
        return;
      default:
        this.queue.push(x);
    }
  }

  private open(): void {
    this.size++;
    this.opening++;
    this.opts.connect(this.onConnect.bind(this));
  }

  private onConnect(err: Error | null, socket: net.Socket | null, reads?: SocketReads | null): void {
    this.opening--;
    if (err !== null || socket === null) {
      this.size--;
      // the first waiting request fails with the connect error (Envoy: one failure per attempt)
      const x = this.queue.shift();
      if (x) {
        x.aborted = true;
        x.handler.onResponseError?.(x, err ?? new Error('connect failed'));
      }
      if (this.queue.length > this.opening && this.opts.limits.canConnect(this.size) && !this.closed) this.open();
      return;
    }
    this.connected++;
    const c = new H1ClientConnection(this, socket, reads ?? null);
    if (this.closed) {
      c.destroy();
      return;
    }
    this.next(c);
  }

  /** @internal hands the connection the next request, or parks it. */
  next(c: H1ClientConnection): void {
    const x = this.queue.shift();
    if (x) {
      c.start(x);
      return;
    }
    if (this.closed) {
      c.destroy();
      return;
    }
    c.parkIdle(this.opts.limits.idleTimeoutMs);
    this.idle.push(c);
  }

  /** @internal */
  dequeue(x: Exchange1): void {
    const i = this.queue.indexOf(x);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** @internal a connection closed */
  gone(c: H1ClientConnection, wasConnected: boolean): void {
    this.size--;
    if (wasConnected) this.connected--;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.queue.length > this.opening && this.opts.limits.canConnect(this.size) && !this.closed) this.open();
  }

  /** @internal retry a request on a new connection (already admitted: no pending check) */
  retry(x: Exchange1): void {
    x.retried = true;
    x.conn = null;
    this.queue.unshift(x);
    if (this.opts.limits.canConnect(this.size)) this.open();
  }

  /** Closes idle connections now and busy ones after their response. */
  close(): Promise<void> {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.destroy();
    return Promise.resolve();
  }
}

function onIdleTimeout(c: H1ClientConnection): void {
  c.destroy();
}

/** The trailers of a response that has none (shared, never written to). */
const NO_TRAILERS: Record<string, string | string[]> = Object.freeze({}) as Record<string, string | string[]>;

/** One upstream HTTP/1.1 connection. */
export class H1ClientConnection implements ParserEvents {
  private readonly parser: Http1Parser;
  private x: Exchange1 | null = null;
  /** The exchange whose response head the read being handled carried. */
  private headIn: Exchange1 | null = null;
  private requests = 0;
  private destroyed = false;
  private gotBytes = false;
  private requestDone = false;
  private responseDoneFlag = false;
  private keepAlive = true;
  private idleTimer: NodeJS.Timeout | null = null;
  private body: Readable | null = null;
  private bodyChunked = false;
  private readonly onBodyData: (c: Buffer) => void;
  private readonly onBodyEnd: () => void;
  private readonly onBodyError: (e: Error) => void;

  /** Reads land in a reused buffer: body slices handed on are copied (see {@link SocketReads}). */
  private readonly copyBody: boolean;

  constructor(readonly pool: H1Pool, readonly socket: net.Socket, reads: SocketReads | null = null) {
    this.parser = new Http1Parser(RESPONSE, this, 64 * 1024, 1000);
    this.onBodyData = this.bodyData.bind(this);
    this.onBodyEnd = this.bodyEnd.bind(this);
    this.onBodyError = this.bodyError.bind(this);
    this.copyBody = reads !== null;
    if (reads !== null) {
      this.parser.copyRetained = true;
      reads.target = this;
    } else socket.on('data', this.onData.bind(this));
    socket.on('end', this.onEnd.bind(this));
    socket.on('error', this.onSocketError.bind(this));
    socket.on('close', this.onClose.bind(this));
    socket.on('drain', this.onDrain.bind(this));
  }

  usable(): boolean {
    if (this.destroyed || this.socket.destroyed || !this.socket.writable) return false;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    return true;
  }

  parkIdle(ms: number): void {
    if (ms <= 0) return;
    if (this.idleTimer === null) {
      this.idleTimer = setTimeout(onIdleTimeout, ms, this);
      this.idleTimer.unref();
    } else this.idleTimer.refresh();
  }

  start(x: Exchange1): void {
    this.x = x;
    x.conn = this;
    this.requests++;
    this.gotBytes = false;
    this.requestDone = false;
    this.responseDoneFlag = false;
    const o = x.opts;
    const p = this.parser;
    p.noBodyExpected = o.method === 'HEAD';
    p.connectExpected = o.method === 'CONNECT';
    const h = o.headers;
    const body = o.body ?? null;
    const s = this.socket;
    // a head with no body or a small buffered one: one buffer, one write (no cork / writev)
    if (body === null) {
      if (h['content-length'] === undefined && (o.method === 'POST' || o.method === 'PUT' || o.method === 'PATCH')) h['content-length'] = '0';
      sendRequestHead(s, o.method, o.path, h, null);
      this.requestDone = true;
    } else if (Buffer.isBuffer(body)) {
      h['content-length'] = String(body.length);
      if (body.length <= COALESCE_MAX) sendRequestHead(s, o.method, o.path, h, body.length === 0 ? null : body);
      else {
        s.cork();
        sendRequestHead(s, o.method, o.path, h, null);
        s.write(body);
        s.uncork();
      }
      this.requestDone = true;
    } else {
      this.bodyChunked = h['content-length'] === undefined;
      if (this.bodyChunked) h['transfer-encoding'] = 'chunked';
      sendRequestHead(s, o.method, o.path, h, null);
      this.body = body;
      body.on('data', this.onBodyData);
      body.once('end', this.onBodyEnd);
      body.once('error', this.onBodyError);
    }
  }

  private bodyData(c: Buffer): void {
    const s = this.socket;
    this.x?.handler.onRequestData?.(c.length);
    let ok: boolean;
    if (this.bodyChunked) {
      if (c.length === 0) return;
      s.cork();
      s.write(`${c.length.toString(16)}\r\n`);
      s.write(c);
      ok = s.write('\r\n');
      s.uncork();
    } else ok = s.write(c);
    if (!ok) this.body?.pause();
  }

  private bodyEnd(): void {
    if (this.bodyChunked) this.socket.write('0\r\n\r\n');
    this.detachBody();
    this.requestDone = true;
    if (this.responseDoneFlag) this.release();
  }

  private bodyError(): void {
    // the downstream body broke off: the upstream request cannot be completed
    this.detachBody();
    this.fail(Object.assign(new Error('request body aborted'), { code: 'UND_ERR_ABORTED' }));
  }

  private detachBody(): void {
    const b = this.body;
    if (b === null) return;
    this.body = null;
    b.removeListener('data', this.onBodyData);
    b.removeListener('end', this.onBodyEnd);
    b.removeListener('error', this.onBodyError);
  }

  private onDrain(): void {
    this.body?.resume();
  }

  /** A read of a socket opened with `onread` (the buffer is reused once this returns). */
  onRead(b: Buffer): void {
    this.onData(b);
  }

  private onData(b: Buffer): void {
    if (this.x === null) {
      // bytes while idle: the server is not speaking HTTP/1.1 to us
      this.destroy();
      return;
    }
    this.gotBytes = true;
    this.parser.execute(b);
    // a head parsed in this read: its handler hears once the read is handled (no tick per response)
    const h = this.headIn;
    if (h !== null) {
      this.headIn = null;
      if (!h.aborted) h.handler.onResponseReadEnd?.(h);
    }
  }

  pauseResponse(): void {
    this.parser.pause();
    this.socket.pause();
  }

  resumeResponse(): void {
    this.socket.resume();
    this.parser.resume();
  }

  onHead(p: Http1Parser): void {
    const x = this.x;
    if (x === null || p.status < 200) return; // interim responses are not forwarded
    this.keepAlive = p.keepAlive;
    const h = headerObject(p, Repeats.Response);
    this.headIn = x;
    x.handler.onResponseStart?.(x, p.status, h, p.reason);
  }

  onBody(chunk: Buffer): void {
    const x = this.x;
    // the downstream may queue it (a paused reader, a held head): it must outlive the read
    if (x !== null && !x.aborted) x.handler.onResponseData?.(x, this.copyBody ? copyOf(chunk) : chunk);
  }

  onComplete(trailers: string[] | null): void {
    const x = this.x;
    if (x === null || this.parser.status < 200) return;
    let t: Record<string, string | string[]> = NO_TRAILERS;
    if (trailers !== null) {
      t = {};
      for (let i = 0; i < trailers.length; i += 2) t[trailers[i].toLowerCase()] = trailers[i + 1];
    }
    this.responseDoneFlag = true;
    if (!this.requestDone) {
      // answered before the request body was sent: the connection cannot be reused
      this.keepAlive = false;
      this.detachBody();
    }
    x.handler.onResponseEnd?.(x, t);
    if (!this.requestDone) {
      this.x = null;
      x.conn = null;
      this.destroy();
      return;
    }
    this.release();
  }

  onError(_status: number, reason: string): void {
    this.fail(Object.assign(new Error(`invalid upstream response: ${reason}`), { code: 'HPE_INVALID' }));
  }

  private onSocketError(err: Error): void {
    this.fail(err);
  }

  private onEnd(): void {
    if (this.x !== null && this.parser.finish() && this.responseDoneFlag) return;
    if (this.x !== null) this.fail(Object.assign(new Error('upstream closed the connection'), { code: 'UND_ERR_SOCKET' }));
    else this.destroy();
  }

  private onClose(): void {
    if (this.x !== null) this.fail(Object.assign(new Error('upstream connection reset'), { code: 'ECONNRESET' }));
    if (!this.destroyed) {
      this.destroyed = true;
      this.pool.gone(this, true);
    }
  }

  private fail(err: Error): void {
    const x = this.x;
    this.x = null;
    this.detachBody();
    this.destroy();
    if (x === null || x.aborted) return;
    x.conn = null;
    const replayable = x.opts.body === null || x.opts.body === undefined || Buffer.isBuffer(x.opts.body);
    if (!this.gotBytes && this.requests > 1 && replayable && !x.retried) {
      this.pool.retry(x);
      return;
    }
    x.aborted = true;
    x.handler.onResponseError?.(x, err);
  }

  private release(): void {
    if (!this.requestDone) return;
    const x = this.x;
    this.x = null;
    if (x !== null) x.conn = null;
    if (!this.keepAlive || this.pool.opts.limits.exhausted(this.requests) || this.destroyed) {
      this.destroy();
      return;
    }
    this.pool.next(this);
  }

  destroy(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.destroyed) return;
    this.destroyed = true;
    this.parser.close();
    this.socket.destroy();
    this.pool.gone(this, true);
  }
}

/** What an upgrade request's answer goes to. */
export interface H1UpgradeHandler {
  /** 101: the socket is a tunnel from now on; `head` is what the upstream sent after its head. */
  onSwitched(status: number, headers: Headers, reason: string, socket: net.Socket, head: Buffer): void;
  /** Any other final answer: an ordinary response, followed by its body and end. */
  onResponse(status: number, headers: Headers, reason: string): void;
  onData(chunk: Buffer): void;
  onEnd(): void;
  onError(err: Error): void;
}

/**
 * Sends an Upgrade request on a connected socket (not pooled) and tells `handler` whether the
 * upstream switched protocols (101 only) or answered with an ordinary response; in that case the
 * connection is closed after it.
 */
export class H1UpgradeRequest implements ParserEvents {
  private readonly parser = new Http1Parser(RESPONSE, this, 64 * 1024, 1000);
  private state: 0 | 1 | 2 = 0; // waiting, response streaming, done
  private readonly onDataBound = this.onSocketData.bind(this);

  constructor(readonly socket: net.Socket, method: string, path: string, headers: Headers, private readonly handler: H1UpgradeHandler) {
    this.parser.upgradeExpected = true;
    this.parser.noBodyExpected = method === 'HEAD';
    // a CONNECT answered 2xx is a tunnel from the end of its head
    this.parser.connectExpected = method === 'CONNECT';
    socket.on('data', this.onDataBound);
    socket.on('error', this.onSocketError.bind(this));
    socket.on('close', this.onSocketClose.bind(this));
    sendRequestHead(socket, method, path, headers, null);
  }

  /** The downstream went away: drop the upstream side. */
  destroy(): void {
    this.state = 2;
    this.socket.destroy();
  }

  /** Backpressure on a relayed (non-101) response. */
  pause(): void {
    this.parser.pause();
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
    this.parser.resume();
  }

  private onSocketData(b: Buffer): void {
    this.parser.execute(b);
    if (this.parser.upgraded && this.state === 0) {
      this.state = 2;
      this.socket.removeListener('data', this.onDataBound);
      this.socket.removeAllListeners('error');
      this.socket.removeAllListeners('close');
      this.socket.pause();
      const p = this.parser;
      this.handler.onSwitched(p.status, headerObject(p, Repeats.Response), p.reason, this.socket, p.takeRest());
    }
  }

  onHead(p: Http1Parser): void {
    if (p.status < 200 || p.upgrade) return;
    this.state = 1;
    this.handler.onResponse(p.status, headerObject(p, Repeats.Response), p.reason);
  }

  onBody(chunk: Buffer): void {
    if (this.state === 1) this.handler.onData(chunk);
  }

  onComplete(): void {
    if (this.state !== 1) return;
    this.state = 2;
    this.socket.destroy();
    this.handler.onEnd();
  }

  onError(_status: number, reason: string): void {
    this.fail(Object.assign(new Error(`invalid upstream response: ${reason}`), { code: 'HPE_INVALID' }));
  }

  private onSocketError(err: Error): void {
    this.fail(err);
  }

  private onSocketClose(): void {
    if (this.state === 1 && this.parser.finish()) return;
    this.fail(Object.assign(new Error('upstream connection reset'), { code: 'ECONNRESET' }));
  }

  private fail(err: Error): void {
    if (this.state === 2) return;
    this.state = 2;
    this.socket.destroy();
    this.handler.onError(err);
  }
}
