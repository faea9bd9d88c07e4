/**
 * The downstream side of the HTTP/1.1 codec: one {@link H1ServerConnection} per accepted
 * socket (plain or TLS) parses requests with {@link Http1Parser} and writes responses. Requests
 * are answered in order (a pipelined request is parsed once the previous response is done), the
 * body streams with backpressure, `Expect: 100-continue` is answered, Upgrade/CONNECT hand the
 * socket to the owner, and malformed input gets a 400 (431/501/505) with the connection closed.
 * Timeouts (request headers, idle, stream idle, request) share one timer per connection that is
 * re-armed, never re-created per request.
 */
import type net from 'node:net';
import { Http1Parser, REQUEST, type ParserEvents } from './parser';
import { COALESCE_MAX, sendResponseHead, sendTrailers, STATUS_TEXT } from './wire';
import { copyOf } from './bytes';
import { headerObject, Repeats } from './header-object';
import { downstreamReads, type DownstreamReads, type ReadTarget } from './reads';

type Headers = Record<string, string | string[] | undefined>;

/** What a connection hands complete request heads to. */
export interface H1Owner {
  onRequest(req: H1Request, res: H1Response): void;
  /** Upgrade or CONNECT: the socket is the owner's from now on; `head` is what followed the request head. */
  onUpgrade(req: H1Request, socket: net.Socket, head: Buffer): void;
}

export interface H1ServerOptions {
  /** Time allowed to receive a complete request head (0: none). */
  headersTimeoutMs: number;
  /** A keep-alive connection with no request in flight is closed after this (0: never). */
  idleTimeoutMs: number;
  /** A request with no activity (bytes in or out) for this long is reset (0: never). */
  streamIdleTimeoutMs: number;
  /** A whole request/response exchange may take at most this (0: no limit). */
  requestTimeoutMs: number;
  maxHeadBytes?: number;
  maxHeaders?: number;
}

type Listener = (this: H1Request, arg?: never) => void;

/**
 * A request as the data path reads it (the subset of `http.IncomingMessage` it uses). A plain
 * class, not a stream: the body is handed to at most one reader per event (`data`, `end`,
 * `error`, registered with `on`/`once` as on a stream, called with the request as `this`), chunk
 * by chunk as the parser slices them from the socket's reads. Backpressure is the socket's own:
 * `pause()` pauses the parser and the socket, `resume()` resumes them. Body bytes that arrive
 * before anyone reads them (the request waits for an upstream connection, a filter) are held,
 * up to {@link HOLD_MAX}, then the socket is paused too.
 */
export class H1Request {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  readonly rawHeaders: string[];
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor: number;
  readonly httpVersion: string;
  /** The whole body was received. */
  complete = false;
  /** Body bytes received so far (after de-chunking). */
  bodyBytes = 0;
  /** The reader paused the body. */
  isPaused = false;
  destroyed = false;
  private onData: Listener | null = null;
  private onEnd: Listener | null = null;
  private onError: Listener | null = null;
  /** Body chunks received while nobody read them (or while paused), in order. */
  private held: Buffer[] | null = null;
  private heldBytes = 0;
  /** `end` was told to the reader. */
  private endTold = false;
  /** A flush of held chunks / the end is scheduled. */
  private flushing = false;

  constructor(readonly conn: H1ServerConnection, p: Http1Parser) {
    this.method = p.method;
    this.url = p.target;
    this.rawHeaders = p.raw;
    this.headers = headerObject(p, Repeats.Request);
    this.httpVersionMinor = p.versionMinor;
    this.httpVersion = p.versionMinor === 1 ? '1.1' : '1.0';
  }

  get socket(): net.Socket {
    return this.conn.socket;
  }

  /** True once the reader was told the body ended. */
  get readableEnded(): boolean {
    return this.endTold;
  }

  /** Registers the reader of `data`, `end` or `error` (one each; other events are not emitted). */
  on(event: string, fn: (...args: never[]) => void): this {
    const f = fn as Listener;
    if (event === 'data') {
      this.onData = f;
      if (this.held !== null || (this.complete && !this.endTold)) this.scheduleFlush();
    } else if (event === 'end') {
      this.onEnd = f;
      if (this.complete && !this.endTold) this.scheduleFlush();
    } else if (event === 'error') this.onError = f;
    return this;
  }

  /** As {@link on}: `end` and `error` happen once anyway. */
  once(event: string, fn: (...args: never[]) => void): this {
    return this.on(event, fn);
  }

  addListener(event: string, fn: (...args: never[]) => void): this {
    return this.on(event, fn);
  }

  removeListener(event: string, fn: (...args: never[]) => void): this {
    const f = fn as Listener;
    if (event === 'data' && this.onData === f) this.onData = null;
    else if (event === 'end' && this.onEnd === f) this.onEnd = null;
    else if (event === 'error' && this.onError === f) this.onError = null;
    return this;
  }

  off(event: string, fn: (...args: never[]) => void): this {
    return this.removeListener(event, fn);
  }

  listenerCount(event: string): number {
    return (event === 'data' ? this.onData : event === 'end' ? this.onEnd : event === 'error' ? this.onError : null) === null ? 0 : 1;
  }

  /** Stops the body (the parser and the socket pause). */
  pause(): this {
    if (!this.isPaused) {
      this.isPaused = true;
      // once the body is complete the parser's pause is the pipelining one, not the reader's
      if (!this.complete) this.conn.pauseBody();
    }
    return this;
  }

  /** Delivers the body again: held chunks first, then the socket's. */
  resume(): this {
    if (!this.isPaused) return this;
    this.isPaused = false;
    if (this.held !== null || (this.complete && !this.endTold)) this.flush();
    if (!this.isPaused && !this.destroyed && !this.complete && this.heldBytes < HOLD_MAX) this.conn.resumeBody();
    return this;
  }

  /** Ends the body for good; the reader hears `err` (after the current call stack) if given. */
  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.held = null;
    this.heldBytes = 0;
    if (err !== undefined && this.onError !== null) process.nextTick(tellError, this, err);
    return this;
  }

  /** @internal a body chunk from the parser */
  push(chunk: Buffer): void {
    if (this.destroyed) return;
    if (this.onData !== null && !this.isPaused && this.held === null) {
      this.onData(chunk as never);
      return;
    }
    if (this.held === null) this.held = [chunk];
    else this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes >= HOLD_MAX) this.conn.pauseBody();
  }

  /** @internal the body is complete */
  pushEnd(): void {
    if (this.destroyed) return;
    if (this.onEnd !== null && this.held === null && !this.isPaused) {
      this.endTold = true;
      this.onEnd();
    }
  }

  /** @internal */
  tellError(err: Error): void {
    const f = this.onError;
    if (f !== null) f.call(this, err as never);
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    process.nextTick(flushHeld, this);
  }

  /** @internal held chunks (and the end) to the reader, while it reads */
  flush(): void {
    this.flushing = false;
    if (this.destroyed) return;
    const held = this.held;
    if (held !== null && this.onData !== null) {
      let i = 0;
      while (i < held.length && !this.isPaused && this.onData !== null) {
        const c = held[i++];
        this.heldBytes -= c.length;
        this.onData(c as never);
      }
      if (i === held.length) this.held = null;
      else held.splice(0, i);
      if (this.held === null && !this.isPaused && !this.complete && !this.destroyed) this.conn.resumeBody();
    }
    if (this.held === null && this.complete && !this.endTold && !this.isPaused && this.onEnd !== null) {
      this.endTold = true;
      this.onEnd();
    }
  }
}

/** Body bytes a request holds for a reader that has not started (or paused) before the socket pauses. */
const HOLD_MAX = 64 * 1024;

function flushHeld(req: H1Request): void {
  req.flush();
}

function tellError(req: H1Request, err: Error): void {
  req.tellError(err);
}

const enum Framing { None, Length, Chunked, Close }

/** The codec's timeouts. */
export const enum Timeout { None, Headers, Request, StreamIdle }

/** What follows a response's life: its close (done or client gone) and socket drains. */
export interface ResponseOwner {
  onResponseClose(): void;
  onResponseDrain(): void;
}

type Hook = (this: H1Response) => void;

/**
 * A response (the subset of `http.ServerResponse` the data path uses). A plain class: the
 * request path's state object hears its close and the socket's drains directly ({@link owner});
 * `close` and `drain` listeners (Upgrade/CONNECT handling) are kept only when added.
 */
export class H1Response {
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  writableEnded = false;
  finished = false;
  /** Keep the connection after this response (false: `Connection: close`). */
  shouldKeepAlive: boolean;
  /** Which of the codec's timeouts ended this response (0: none). */
  timedOut: Timeout = Timeout.None;
  /** Told when the response closes and when the socket drains (the request path's state object). */
  owner: ResponseOwner | null = null;
  private headers: Headers = {};
  /** No header was set yet ({@link writeHeadLowerCase} can take its object over). */
  private headersEmpty = true;
  private framing = Framing.None;
  private trailers: Headers | null = null;
  private readonly noBody: boolean;

  private closeHooks: Hook[] | null = null;
  private drainHooks: Hook[] | null = null;

  constructor(readonly conn: H1ServerConnection, readonly req: H1Request, keepAlive: boolean) {
    this.shouldKeepAlive = keepAlive;
    this.noBody = req.method === 'HEAD';
  }

  get socket(): net.Socket {
    return this.conn.socket;
  }

  /** Calls `fn` (with the response as `this`) on the next `close` or `drain`. */
  once(event: 'close' | 'drain', fn: () => void): this {
    if (event === 'close') (this.closeHooks ??= []).push(fn as Hook);
    else if (event === 'drain') (this.drainHooks ??= []).push(fn as Hook);
    return this;
  }

  /** Tells the `close` or `drain` listeners added with {@link once}. */
  emit(event: 'close' | 'drain'): boolean {
    const hooks = event === 'close' ? this.closeHooks : event === 'drain' ? this.drainHooks : null;
    if (hooks === null) return false;
    if (event === 'close') this.closeHooks = null;
    else this.drainHooks = null;
    for (const h of hooks) h.call(this);
    return true;
  }

  setHeader(name: string, value: string | string[]): this {
    this.headersEmpty = false;
    this.headers[name.toLowerCase()] = value;
    return this;
  }

  getHeader(name: string): string | string[] | undefined {
    return this.headers[name.toLowerCase()];
  }

  removeHeader(name: string): void {
    delete this.headers[name.toLowerCase()];
  }

  /** Records status and headers; the head goes out with the first body bytes or the end. */
  writeHead(status: number, headers?: Headers): this {
    if (this.headersSent) throw new Error('headers already sent');
    this.statusCode = status;
    if (headers) {
      this.headersEmpty = false;
      for (const k in headers) if (headers[k] !== undefined) this.headers[k.toLowerCase()] = headers[k];
    }
    return this;
  }

  /**
   * {@link writeHead} for headers whose names are lower-case already (the request path's own
   * objects): taken over as they are when no header was set before, merged otherwise; the
   * caller does not use `headers` afterwards.
   */
  writeHeadLowerCase(status: number, headers: Headers): void {
    if (this.headersSent) throw new Error('headers already sent');
    this.statusCode = status;
    if (this.headersEmpty) this.headers = headers;
    else for (const k in headers) if (headers[k] !== undefined) this.headers[k] = headers[k];
    this.headersEmpty = false;
  }

  /** Serialises the head and sends it; `bodyLength` ≥ 0 when the whole body is known (end with data). */
  private sendHead(bodyLength: number): void {
    this.prepareHead(bodyLength);
    this.conn.writeHead(this.statusCode, this.statusMessage, this.headers, null, false);
  }

  /** Decides the framing and the connection headers, marking the head sent. */
  private prepareHead(bodyLength: number): void {
    this.headersSent = true;
    const st = this.statusCode;
    const h = this.headers;
    const bodyless = st < 200 || st === 204 || st === 304;
    if (bodyless) this.framing = Framing.None;
    else if (h['content-length'] !== undefined) this.framing = this.noBody ? Framing.None : Framing.Length;
    else if (bodyLength >= 0 && this.trailers === null) {
      h['content-length'] = String(bodyLength);
      this.framing = this.noBody ? Framing.None : Framing.Length;
    } else if (this.req.httpVersionMinor === 1) {
      h['transfer-encoding'] = 'chunked';
      this.framing = this.noBody ? Framing.None : Framing.Chunked;
    } else {
      this.framing = this.noBody ? Framing.None : Framing.Close;
      this.shouldKeepAlive = false;
    }
    const conn = this.conn;
    if (!this.shouldKeepAlive || conn.closing) {
      h.connection = 'close';
      this.shouldKeepAlive = false;
    } else if (this.req.httpVersionMinor === 0) h.connection = 'keep-alive';
    else if (h.connection === 'close') this.shouldKeepAlive = false;
  }

  /**
   * The head and the first body bytes in one buffer and one socket write, when the bytes are few
   * and the framing lets them follow the head directly (the common proxied response: head and
   * body in one upstream read). False when the caller must write them separately.
   */
  private sendHeadWith(b: Buffer, bodyLength: number): boolean {
    if (b.length === 0 || b.length > COALESCE_MAX) return false;
    this.prepareHead(bodyLength);
    this.conn.touch();
    const f = this.framing;
    this.conn.writeHead(this.statusCode, this.statusMessage, this.headers, f === Framing.None ? null : b, f === Framing.Chunked);
    return true;
  }

  /** Sends the head now (chunked framing unless it has a Content-Length): for a body that comes later. */
  flushHeaders(): void {
    if (this.headersSent || this.writableEnded) return;
    this.conn.touch();
    this.sendHead(-1);
  }

  addTrailers(t: Headers): void {
    this.trailers = t;
  }

  /** Writes body bytes; false when the socket's buffer is full (wait for 'drain'). */
  write(chunk: Buffer | string): boolean {
    if (this.writableEnded) return false;
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.headersSent) {
      if (this.sendHeadWith(b, -1)) return !this.conn.socket.writableNeedDrain;
      // head, first bytes and (often, in the same tick) the end go out in one write
      const sock = this.conn.socket;
      sock.cork();
      process.nextTick(uncork, sock);
      this.sendHead(-1);
    }
    this.conn.touch();
    if (b.length === 0) return true;
    switch (this.framing) {
      case Framing.Chunked: return this.conn.writeChunk(b);
      case Framing.None: return true;
      default: return this.conn.write(b);
    }
  }

  /** Ends the response (with trailers on a chunked body). */
  end(chunk?: Buffer | string): this {
    if (this.writableEnded) return this;
    const b = chunk === undefined ? null : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.headersSent && this.trailers === null && (b === null || b.length === 0)) {
      // a bodiless answer (local replies, redirects): the head alone, one write
      this.sendHead(0);
      if (this.framing === Framing.Chunked) this.conn.writeLastChunk(null);
    } else if (!this.headersSent && b !== null && this.trailers === null && this.sendHeadWith(b, b.length)) {
      // a whole small body: framed by Content-Length, in the head's buffer
    } else {
      const s = this.conn.socket;
      s.cork();
      if (!this.headersSent) this.sendHead(b === null ? 0 : b.length);
      if (b !== null && b.length) this.write(b);
      if (this.framing === Framing.Chunked) this.conn.writeLastChunk(this.trailers);
      s.uncork();
    }
    this.writableEnded = true;
    this.finished = true;
    this.conn.responseDone(this);
    return this;
  }

  /** Resets the connection (a response that cannot be completed). */
  destroy(): void {
    if (!this.finished) {
      this.finished = true;
      this.writableEnded = true;
    }
    this.conn.socket.destroy();
  }
}

/**
 * Ends a request body that will not complete: with an error for a reader that listens for one
 * (the upstream request streaming it), quietly otherwise (a body nobody reads yet, or one being
 * buffered for retries: its exchange ends with the connection), so no unheard 'error' escapes.
 */
function abortBody(req: H1Request, message: string, code: string): void {
  // an Error only on this path, and only for a reader that listens for one
  if (req.listenerCount('error') > 0) req.destroy(Object.assign(new Error(message), { code }));
  else req.destroy();
}

function uncork(s: net.Socket): void {
  s.uncork();
}

function emitClose(res: H1Response): void {
  closed(res);
}

/** Tells the owner and listeners that a response closed. */
function closed(res: H1Response): void {
  res.owner?.onResponseClose();
  res.emit('close');
}

function onTimer(c: H1ServerConnection): void {
  c.checkTimeouts();
}

const BAD = (status: number, text: string) => Buffer.from(`HTTP/1.1 ${status} ${text}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`, 'latin1');
const ERRORS: Record<number, Buffer> = { 400: BAD(400, 'Bad Request'), 408: BAD(408, 'Request Timeout'), 431: BAD(431, 'Request Header Fields Too Large'), 501: BAD(501, 'Not Implemented'), 505: BAD(505, 'HTTP Version Not Supported') };
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n');
const DISCARD: ReadTarget = { onRead: noop };
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/** One downstream HTTP/1.1 connection. */
export class H1ServerConnection implements ParserEvents {
  readonly parser: Http1Parser;
  /** The request being read or answered (requests are handled one at a time, in order). */
  req: H1Request | null = null;
  res: H1Response | null = null;
  /** Close after the response in flight (drain, config change, error). */
  closing = false;
  requests = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastActivity = 0;
  private headStartedAt = 0;
  private requestStartedAt = 0;
  private destroyed = false;
  private readonly onDataBound: (b: Buffer) => void;
  /** The socket's shared-buffer reads (an accepted listener socket), or null: reads are 'data' events. */
  private readonly reads: DownstreamReads | null;

  constructor(readonly socket: net.Socket, private readonly owner: H1Owner, private readonly opts: H1ServerOptions) {
    this.parser = new Http1Parser(REQUEST, this, opts.maxHeadBytes, opts.maxHeaders);
    this.onDataBound = this.onData.bind(this);
    const reads = downstreamReads(socket);
    this.reads = reads ?? null;
    if (reads !== undefined) {
      // reads into the shared buffer: what the parser keeps and body chunks are copied
      this.parser.copyRetained = true;
      reads.target = this;
    } else socket.on('data', this.onDataBound);
    socket.on('end', this.onEnd.bind(this));
    socket.on('close', this.onClose.bind(this));
    socket.on('error', noop);
    socket.on('drain', this.onDrain.bind(this));
    const now = Date.now();
    this.lastActivity = now;
    this.headStartedAt = now;
    this.arm();
    // the client's side ended before the connection got here (half-open listener sockets)
    if (socket.readableEnded) process.nextTick(endedEarly, this);
    // what inspection read (or the connection's earlier requests left) is parsed first
    let b: Buffer | null;
    while (reads !== undefined && reads.target === this && (b = socket.read() as Buffer | null) !== null) this.onData(b);
  }

  /** True when no request is in flight. */
  get idle(): boolean {
    return this.req === null && !this.parser.inMessage;
  }

  /** @internal a read into the shared buffer (valid only during the call) */
  onRead(b: Buffer): void {
    this.onData(b);
  }

  private onData(b: Buffer): void {
    this.lastActivity = Date.now();
    if (this.req === null && !this.parser.inMessage) this.headStartedAt = this.lastActivity;
    this.parser.execute(b);
    if (this.parser.upgraded && this.req !== null && !this.destroyed) this.upgrade();
  }

  /** @internal */
  onEnd(): void {
    // half-close: a request in flight is still answered; nothing more will be parsed
    this.closing = true;
    if (this.req === null) this.socket.end();
    else if (!this.req.complete) {
      // the body never completed
      abortBody(this.req, 'aborted', 'ECONNRESET');
    }
  }

  private onClose(): void {
    this.destroyed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.parser.close();
    const res = this.res;
    const req = this.req;
    if (req !== null && !req.complete) req.destroy();
    if (res !== null && !res.finished) {
      res.finished = true;
      closed(res);
    }
  }

  private onDrain(): void {
    const res = this.res;
    if (res === null) return;
    res.owner?.onResponseDrain();
    res.emit('drain');
  }

  onHead(p: Http1Parser): void {
    this.requests++;
    const req = new H1Request(this, p);
    this.req = req;
    this.requestStartedAt = Date.now();
    if (p.upgrade) return; // handed over after execute() returns
    if (!p.hasBody) {
      // most requests: the body is complete with the head (a reader registering `end` hears it)
      req.complete = true;
    } else if (p.expectContinue && p.versionMinor === 1) this.socket.write(CONTINUE);
    const res = new H1Response(this, req, p.keepAlive && !this.closing);
    this.res = res;
    this.owner.onRequest(req, res);
  }

  onBody(chunk: Buffer): void {
    const req = this.req!;
    req.bodyBytes += chunk.length;
    // a 'data' chunk is never reused (its slice is kept as is); the shared read buffer is
    req.push(this.reads !== null ? copyOf(chunk) : chunk);
  }

  onComplete(): void {
    const req = this.req;
    if (req === null) return;
    if (!req.complete) {
      req.complete = true;
      req.pushEnd();
    }
    // the next pipelined request waits for this response
    if (this.res !== null && !this.res.finished) this.parser.pause();
  }

  onError(status: number): void {
    this.closing = true;
    if (this.res !== null && this.res.headersSent) {
      this.socket.destroy();
      return;
    }
    if (this.req !== null && !this.req.complete) abortBody(this.req, 'malformed request body', 'HPE_INVALID');
    this.answerInstead(status);
    this.socket.end(ERRORS[status] ?? ERRORS[400]);
    this.stopReading();
  }

  /** Nothing more is parsed: later bytes are dropped. */
  private stopReading(): void {
    if (this.reads !== null) this.reads.target = DISCARD;
    else this.socket.removeListener('data', this.onDataBound);
  }

  /** @internal the body's reader stops (or is not there yet): the parser and the socket pause */
  pauseBody(): void {
    this.parser.pause();
    this.socket.pause();
  }

  /** @internal the reader wants more body */
  resumeBody(): void {
    if (this.destroyed) return;
    this.socket.resume();
    this.parser.resume();
  }

  private upgrade(): void {
    const req = this.req!;
    const rest = this.parser.takeRest();
    // bytes after the head may be a view of the shared read buffer: the tunnel sends them later
    const head = this.reads !== null && rest.length > 0 ? copyOf(rest) : rest;
    this.socket.pause();
    // the tunnel reads the socket as a stream (shared-buffer reads are copied into it from now on)
    if (this.reads !== null) this.reads.target = null;
    else this.socket.removeListener('data', this.onDataBound);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    req.complete = true;
    this.owner.onUpgrade(req, this.socket, head);
  }

  write(b: Buffer): boolean {
    if (this.destroyed) return false;
    return this.socket.write(b);
  }

  /** @internal a response head, with the first body bytes when given (one chunk when `chunked`), in one write */
  writeHead(status: number, reason: string, h: Headers, body: Buffer | null, chunked: boolean): void {
    if (!this.destroyed) sendResponseHead(this.socket, status, reason || STATUS_TEXT[status] || 'Unknown', h, body, chunked);
  }

  writeChunk(b: Buffer): boolean {
    if (this.destroyed) return false;
    const s = this.socket;
    s.cork();
    s.write(`${b.length.toString(16)}\r\n`);
    s.write(b);
    const ok = s.write(CRLF);
    s.uncork();
    return ok;
  }

  writeLastChunk(trailers: Headers | null): void {
    if (this.destroyed) return;
    if (trailers === null) {
      this.socket.write(LAST_CHUNK);
      return;
    }
    sendTrailers(this.socket, trailers);
  }

  /** Bytes moved for the request in flight (stream idle timeout). */
  touch(): void {
    this.lastActivity = Date.now();
  }

  /** @internal a response ended: next request, or close. */
  responseDone(res: H1Response): void {
    process.nextTick(emitClose, res);
    if (res !== this.res) return;
    const req = this.req!;
    this.res = null;
    this.lastActivity = Date.now();
    if (!res.shouldKeepAlive || this.closing || !req.complete) {
      // an unread request body cannot be skipped safely: close (Envoy resets too)
      this.closing = true;
      this.parser.close();
      this.socket.end();
      return;
    }
    this.req = null;
    this.headStartedAt = this.lastActivity;
    if (this.parser.isPaused) {
      this.socket.resume();
      this.parser.resume();
    }
  }

  /** Closes the connection now if idle, else after the response in flight. */
  closeWhenIdle(): void {
    this.closing = true;
    if (this.req === null && !this.parser.inMessage) this.socket.end();
    else if (this.res !== null) this.res.shouldKeepAlive = false;
  }

  private arm(): void {
    const o = this.opts;
    let ms = 0;
    for (const x of [o.headersTimeoutMs, o.idleTimeoutMs, o.streamIdleTimeoutMs, o.requestTimeoutMs]) if (x > 0 && (ms === 0 || x < ms)) ms = x;
    if (ms === 0) return;
    // coarse, as Envoy's: checked at a fraction of the shortest timeout
    const tick = Math.max(50, Math.min(1000, Math.floor(ms / 4)));
    this.timer = setTimeout(onTimer, tick, this);
    this.timer.unref();
  }

  /** @internal */
  checkTimeouts(): void {
    if (this.destroyed) return;
    const now = Date.now();
    const o = this.opts;
    const inFlight = this.req !== null;
    if (!inFlight) {
      if (this.parser.inMessage) {
        if (o.headersTimeoutMs > 0 && now - this.headStartedAt >= o.headersTimeoutMs) return this.timeout(408, Timeout.Headers);
      } else if (o.idleTimeoutMs > 0 && now - this.lastActivity >= o.idleTimeoutMs) {
        this.socket.end();
        return;
      }
    } else {
      if (o.requestTimeoutMs > 0 && now - this.requestStartedAt >= o.requestTimeoutMs) return this.timeout(408, Timeout.Request);
      if (o.streamIdleTimeoutMs > 0 && now - this.lastActivity >= o.streamIdleTimeoutMs) return this.timeout(408, Timeout.StreamIdle);
    }
    this.timer!.refresh();
  }

  /** The response was not started: the connection answers `status` instead (the handler's late writes are dropped). */
  private answerInstead(status: number): void {
    const res = this.res;
    if (res === null) return;
    res.finished = true;
    res.writableEnded = true;
    res.headersSent = true;
    res.statusCode = status;
    closed(res);
  }

  private timeout(status: number, kind: Timeout): void {
    this.closing = true;
    if (this.res !== null) this.res.timedOut = kind;
    if (this.res !== null && this.res.headersSent) {
      this.socket.destroy();
      return;
    }
    this.answerInstead(status);
    this.parser.close();
    this.socket.end(ERRORS[status]);
    this.socket.destroySoon?.();
  }
}

function noop(): void {}

function endedEarly(c: H1ServerConnection): void {
  c.onEnd();
}
