/**
 * The proxy's HTTP/1.1 message parser (RFC 9112), for requests (downstream) and responses
 * (upstream). Heads are parsed straight from the received Buffers into a flat list of raw
 * name/value strings plus the lower-cased names (computed once); bodies are handed on as slices
 * of the received Buffers, chunk by chunk. It is strict where request smuggling lives: any of
 * Content-Length with Transfer-Encoding, a duplicate or malformed Content-Length, obs-fold, a
 * bare CR or LF, NUL or another control character, whitespace before a colon, a non-token
 * character in a name or method, a duplicate Host is an error, and the connection is not reused.
 *
 * The parser makes no closures and no objects per message beyond the head's strings and arrays;
 * events go to one {@link ParserEvents} object per connection.
 */
import { copyOf } from './bytes';
import { HeaderShape } from './header-object';

/** What a connection does with parsed messages (one object per connection, methods only). */
export interface ParserEvents {
  /** A message head is complete; read it from the parser's fields. */
  onHead(p: Http1Parser): void;
  /** A piece of the body (a slice of the received Buffer: copy it to keep it past the call). */
  onBody(chunk: Buffer): void;
  /** The message is complete; `trailers` is the raw flat trailer list of a chunked body, or null. */
  onComplete(trailers: string[] | null): void;
  /** The input is malformed: `status` is the response a server sends (400, 431, 501, 505). */
  onError(status: number, reason: string): void;
}

export const REQUEST = 1;
export const RESPONSE = 2;

/** Envoy's defaults: 60 KiB of request headers, 100 headers. */
export const DEFAULT_MAX_HEAD_BYTES = 60 * 1024;
export const DEFAULT_MAX_HEADERS = 100;
const MAX_CHUNK_LINE = 4096;

const enum S {
  Head,
  BodyLength,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  BodyToEof,
  /** The message switched protocols (Upgrade, CONNECT): what follows is not HTTP. */
  Upgraded,
  /** Connection: close was received (or an error): nothing more is parsed. */
  Closed,
}

// byte classes
const TOKEN = new Uint8Array(256);
const VALUE = new Uint8Array(256);
const TARGET = new Uint8Array(256);
const HEX = new Int8Array(256).fill(-1);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;
VALUE[0x09] = 1;
for (let c = 0x20; c <= 0x7e; c++) VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) VALUE[c] = 1;
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = 10 + c;
  HEX[0x61 + c] = 10 + c;
}

/**
 * Methods accepted (the registered ones llhttp knows, so the proxy never forwards a method the
 * applications' own HTTP stacks would refuse); an unknown method is refused with 400.
 */
const METHODS = new Set(['DELETE', 'GET', 'HEAD', 'POST', 'PUT', 'CONNECT', 'OPTIONS', 'TRACE', 'COPY', 'LOCK', 'MKCOL', 'MOVE', 'PROPFIND', 'PROPPATCH', 'SEARCH', 'UNLOCK', 'BIND', 'REBIND', 'UNBIND', 'ACL', 'REPORT', 'MKACTIVITY', 'CHECKOUT', 'MERGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PATCH', 'PURGE', 'MKCALENDAR', 'LINK', 'UNLINK', 'SOURCE', 'QUERY']);

/**
 * Field names seen on most messages, as string constants: a name on the wire that is one of them
 * (in any case) yields the constant, so no string is made or lower-cased for it and the property
 * lookups keyed by it hit V8's internalized string directly.
 */
const COMMON_NAMES = [
  'host', 'user-agent', 'accept', 'accept-encoding', 'accept-language', 'accept-ranges', 'authorization', 'cache-control', 'connection', 'content-encoding',
  'content-length', 'content-type', 'cookie', 'date', 'etag', 'expect', 'keep-alive', 'last-modified', 'location', 'origin', 'pragma', 'proxy-connection',
  'range', 'referer', 'server', 'set-cookie', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'vary', 'via', 'if-none-match', 'if-modified-since',
  'x-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-client-cert', 'x-envoy-peer-metadata', 'x-envoy-peer-metadata-id',
  'x-envoy-upstream-service-time', 'x-envoy-attempt-count', 'x-envoy-original-path', 'x-envoy-internal', 'x-envoy-decorator-operation',
  'x-envoy-expected-rq-timeout-ms', 'x-envoy-original-dst-host', 'traceparent', 'tracestate', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid',
  'x-b3-sampled', 'b3', 'grpc-status', 'grpc-message', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'sec-websocket-key',
  'sec-websocket-version', 'sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions', 'strict-transport-security',
  'www-authenticate', 'x-content-type-options', 'access-control-allow-origin', 'content-range', 'alt-svc',
];
/** A common field name: the constant, its bytes, its Title-Case spelling (`Content-Type`) and bytes, and its index. */
interface CommonName {
  name: string;
  bytes: Uint8Array;
  title: string;
  titleBytes: Uint8Array;
  id: number;
}
/** COMMON_NAMES by length. */
const NAMES_BY_LENGTH: CommonName[][] = [];
COMMON_NAMES.forEach((name, id) => {
  const title = name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
  (NAMES_BY_LENGTH[name.length] ??= []).push({ name, bytes: Buffer.from(name, 'latin1'), title, titleBytes: Buffer.from(title, 'latin1'), id });
});
const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;

/** The common field name at buf[s, e) (in any case), or null. */
function commonName(buf: Buffer, s: number, e: number): CommonName | null {
  const list = NAMES_BY_LENGTH[e - s];
  if (list === undefined) return null;
  for (let n = 0; n < list.length; n++) {
    const b = list[n].bytes;
    let j = 0;
    while (j < b.length && LOWER[buf[s + j]] === b[j]) j++;
    if (j === b.length) return list[n];
  }
  return null;
}

/** True when buf[s, s + b.length) holds exactly the bytes b. */
function sameBytes(buf: Buffer, s: number, b: Uint8Array): boolean {
  for (let j = 0; j < b.length; j++) if (buf[s + j] !== b[j]) return false;
  return true;
}

/**
 * Texts of a connection's messages kept for reuse ({@link Http1Parser.text}): the method, the
 * target, the reason phrase and the value of each common field. A client or an upstream sends the
 * same values message after message (its host, user agent, accept, server, content type …): the
 * same bytes again give the string made last time, compared in place, instead of a new string.
 */
const TEXT_METHOD = 0;
const TEXT_TARGET = 1;
const TEXT_REASON = 2;
const TEXT_VALUES = 3;
/** Texts up to this length are compared character by character with the string itself. */
const TEXT_INLINE_MAX = 64;
/**
 * Longer ones (peer metadata, cookies, tokens, user agents), up to this length, are compared with
 * a copy of their bytes kept beside the string (one memcmp); longer still are made anew each time.
 */
const TEXT_REUSE_MAX = 8192;

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;
const EMPTY = Buffer.alloc(0);

/** An incremental HTTP/1.1 parser for one connection. */
export class Http1Parser {
  // --- the current message's head ---------------------------------------------------------
  method = '';
  target = '';
  status = 0;
  reason = '';
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor = 1;
  /** Raw names and values, flat: [name0, value0, name1, value1, ...]; values without surrounding OWS. */
  raw: string[] = [];
  /** Lower-cased names, one per header (index i is raw[2i]). */
  names: string[] = [];
  /** The last head's names and shape, for its header object (header-object.ts). */
  readonly shape = new HeaderShape();
  /** The last texts per slot (TEXT_METHOD, TEXT_TARGET, TEXT_REASON, TEXT_VALUES + a common name's index). */
  private readonly texts: string[] = new Array<string>(TEXT_VALUES + COMMON_NAMES.length).fill('');
  /** The bytes of a kept text longer than TEXT_INLINE_MAX (else null). */
  private readonly textBytes: (Buffer | null)[] = new Array<Buffer | null>(TEXT_VALUES + COMMON_NAMES.length).fill(null);
  /** Content-Length, or -1. */
  contentLength = -1;
  chunked = false;
  /** The connection may carry another message after this one. */
  keepAlive = true;
  /** The request asks to switch protocols (Upgrade with `Connection: upgrade`, or CONNECT). */
  upgrade = false;
  /** `Expect: 100-continue`. */
  expectContinue = false;
  /** The message has a body to read (known after the head). */
  hasBody = false;

  // --- set by the client before each response ----------------------------------------------
  /** The request was HEAD: the response has no body whatever it says. */
  noBodyExpected = false;
  /** The request was CONNECT: a 2xx response switches to a tunnel. */
  connectExpected = false;
  /** The request asked for an Upgrade: a 101 switches to a tunnel. */
  upgradeExpected = false;

  /** Messages completed on this connection. */
  messages = 0;

  private state: S = S.Head;
  private remaining = 0;
  /** Bytes kept from an earlier call (an incomplete head or chunk line), or remaining input while paused. */
  private pending: Buffer | null = null;
  /** Where the LF scan resumes inside `pending`. */
  private scanFrom = 0;
  private paused = false;
  private lineStarts = new Int32Array(DEFAULT_MAX_HEADERS + 4);
  private hostSeen = false;
  /** The last field line had whitespace after its value. */
  private trimmedEnd = false;
  private trailers: string[] | null = null;
  /**
   * The input Buffers are reused by the caller after {@link execute} returns (a socket read with
   * `onread` into one buffer): bytes the parser keeps past the call are copied.
   */
  copyRetained = false;

  constructor(
    readonly kind: number,
    private readonly events: ParserEvents,
    readonly maxHeadBytes = DEFAULT_MAX_HEAD_BYTES,
    readonly maxHeaders = DEFAULT_MAX_HEADERS,
  ) {
    if (maxHeaders + 4 > this.lineStarts.length) this.lineStarts = new Int32Array(maxHeaders + 4);
  }

  /** True once nothing more will be parsed (Connection: close received, error, or upgrade). */
  get closed(): boolean {
    return this.state === S.Closed || this.state === S.Upgraded;
  }

  /** True between a message's first byte and its end. */
  get inMessage(): boolean {
    return this.state !== S.Head || (this.pending !== null && this.pending.length > 0);
  }

  /** True after an Upgrade/CONNECT head: the bytes after it are for the tunnel ({@link takeRest}). */
  get upgraded(): boolean {
    return this.state === S.Upgraded;
  }

  /** Stops delivering events (backpressure); input keeps being buffered until {@link resume}. */
  pause(): void {
    this.paused = true;
  }

  /** Delivers buffered input again. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const p = this.pending;
    if (p !== null && this.state !== S.Upgraded && this.state !== S.Closed) {
      this.pending = null;
      this.run(p, 0);
    }
  }

  /** Stops parsing for good (the connection is closing). */
  close(): void {
    this.state = S.Closed;
    this.pending = null;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** The input after an upgrade head (tunnel bytes received with it). */
  takeRest(): Buffer {
    const p = this.pending;
    this.pending = null;
    return p ?? EMPTY;
  }

  /** Feeds received bytes. */
  execute(buf: Buffer): void {
    this.feed(buf);
    // a partial head or chunk line, input held while paused, tunnel bytes: a view into a reused
    // buffer would be overwritten by the next read
    const p = this.pending;
    if (this.copyRetained && p !== null && p.buffer === buf.buffer) this.pending = copyOf(p);
  }

  private feed(buf: Buffer): void {
    if (this.state === S.Closed) return;
    if (this.state === S.Upgraded) {
      this.pending = this.pending === null ? buf : Buffer.concat([this.pending, buf]);
      return;
    }
    if (this.paused) {
      this.pending = this.pending === null ? buf : Buffer.concat([this.pending, buf]);
      return;
    }
    const p = this.pending;
    if (p !== null) {
      // an incomplete head or chunk line: continue it
      this.pending = null;
      this.run(Buffer.concat([p, buf]), 0);
      return;
    }
    this.run(buf, 0);
  }

  /**
   * The peer closed its side. A response read until EOF completes; anything else in progress is
   * an incomplete message (returns false).
   */
  finish(): boolean {
    if (this.state === S.BodyToEof) {
      this.state = S.Closed;
      this.messages++;
      this.events.onComplete(null);
      return true;
    }
    if (this.state === S.Closed || this.state === S.Upgraded) return true;
    if (this.state !== S.Head) return false;
    // only the empty lines a next start line may follow are left
    const p = this.pending;
    if (p !== null) for (let i = 0; i < p.length; i++) if (p[i] !== CR && p[i] !== LF) return false;
    return true;
  }

  /** Resets for the next response on a reused upstream connection. */
  private fail(status: number, reason: string): void {
    this.state = S.Closed;
    this.pending = null;
    this.events.onError(status, reason);
  }

  private run(buf: Buffer, off: number): void {
    const len = buf.length;
    while (off < len) {
      if (this.paused) {
        this.pending = off === 0 ? buf : buf.subarray(off);
        return;
      }
      switch (this.state) {
        case S.Head: {
          const n = this.scanHead(buf, off);
          if (n < 0) return; // incomplete (kept) or failed
          off = n;
          break;
        }
        case S.BodyLength: {
          const take = Math.min(this.remaining, len - off);
          this.remaining -= take;
          const chunk = off === 0 && take === len ? buf : buf.subarray(off, off + take);
          off += take;
          this.events.onBody(chunk);
          if (this.remaining === 0) this.complete(null);
          break;
        }
        case S.ChunkSize: {
          const n = this.chunkLine(buf, off);
          if (n < 0) return;
          off = n;
          break;
        }
        case S.ChunkData: {
          const take = Math.min(this.remaining, len - off);
          this.remaining -= take;
          const chunk = buf.subarray(off, off + take);
          off += take;
          if (this.remaining === 0) this.state = S.ChunkDataEnd;
          this.events.onBody(chunk);
          break;
        }
        case S.ChunkDataEnd: {
          // CRLF after chunk data (may arrive split: `remaining` counts the bytes of it seen)
          const c = buf[off];
          if (this.remaining === 0) {
            if (c !== CR) return this.fail(400, 'expected CRLF after chunk data');
            this.remaining = 1;
          } else {
            if (c !== LF) return this.fail(400, 'expected CRLF after chunk data');
            this.remaining = 0;
            this.state = S.ChunkSize;
          }
          off++;
          break;
        }
        case S.Trailers: {
          const n = this.scanHead(buf, off);
          if (n < 0) return;
          off = n;
          break;
        }
        case S.BodyToEof: {
          const chunk = off === 0 ? buf : buf.subarray(off);
          off = len;
          this.events.onBody(chunk);
          break;
        }
        case S.Upgraded: {
          const rest = buf.subarray(off);
          this.pending = this.pending === null ? rest : Buffer.concat([this.pending, rest]);
          return;
        }
        default:
          return; // Closed: the rest is ignored
      }
    }
  }

  /**
   * Finds the end of a head (or trailer section) starting at `off`, validating line endings as
   * it goes; parses it when complete. Returns the offset after it, or -1 (kept for later / failed).
   */
  private scanHead(buf: Buffer, off: number): number {
    const trailers = this.state === S.Trailers;
    // Leading empty lines before a request/status line are ignored (RFC 9112 §2.2).
    if (!trailers && this.scanFrom === 0) {
      while (off + 1 < buf.length && buf[off] === CR && buf[off + 1] === LF) off += 2;
      if (off < buf.length && buf[off] === LF) {
        this.fail(400, 'bare LF');
        return -1;
      }
      if (off + 1 < buf.length && buf[off] === CR) {
        this.fail(400, 'bare CR');
        return -1;
      }
      if (off === buf.length || (off + 1 === buf.length && buf[off] === CR)) {
        if (off + 1 === buf.length) this.pending = buf.subarray(off);
        return off === buf.length ? buf.length : -1;
      }
    }
    const starts = this.lineStarts;
    let nLines = 0;
    let lineStart = off;
    let i = off + this.scanFrom;
    // lines before scanFrom were checked already; recount their starts
    if (this.scanFrom > 0) {
      let j = off;
      for (;;) {
        const k = buf.indexOf(LF, j);
        if (k < 0 || k >= off + this.scanFrom) break;
        starts[nLines++] = lineStart;
        lineStart = k + 1;
        j = k + 1;
      }
    }
    const limit = off + this.maxHeadBytes;
    for (;;) {
      const k = buf.indexOf(LF, i);
      if (k < 0 || k >= limit) {
        if (buf.length - off > this.maxHeadBytes || (k >= limit)) {
          this.fail(431, trailers ? 'trailers too large' : 'headers too large');
          return -1;
        }
        this.pending = off === 0 ? buf : buf.subarray(off);
        this.scanFrom = buf.length - off;
        // an incomplete line ending in CR is fine; keep scanning from it next time
        if (this.scanFrom > lineStart - off) this.scanFrom = lineStart - off;
        return -1;
      }
      if (k === off || buf[k - 1] !== CR) {
        this.fail(400, 'bare LF');
        return -1;
      }
      if (k - 1 === lineStart) {
        // empty line: end of the head
        this.scanFrom = 0;
        const end = k + 1;
        if (trailers) {
          if (!this.parseTrailers(buf, starts, nLines, lineStart)) return -1;
        } else if (!this.parseHead(buf, starts, nLines, lineStart)) return -1;
        return end;
      }
      if (nLines >= this.maxHeaders + 1) {
        this.fail(431, trailers ? 'too many trailers' : 'too many headers');
        return -1;
      }
      starts[nLines++] = lineStart;
      lineStart = k + 1;
      i = k + 1;
    }
  }

  /** Parses a complete head; lines are [starts[i], starts[i+1]-2), the last ending at `lastEnd`-2. */
  private parseHead(buf: Buffer, starts: Int32Array, n: number, lastEnd: number): boolean {
    const isReq = this.kind === REQUEST;
    // sized once from the line count and filled by index (no growth on push)
    const raw: string[] = new Array<string>(2 * (n - 1));
    const names: string[] = new Array<string>(n - 1);
    this.raw = raw;
    this.names = names;
    this.contentLength = -1;
    this.chunked = false;
    this.upgrade = false;
    this.expectContinue = false;
    this.hostSeen = false;
    let te = false;
    let teOther = false;
    let connClose = false;
    let connKeepAlive = false;
    let connUpgrade = false;
    let upgradeHeader = false;
    const first = starts[0];
    const firstEnd = (n > 1 ? starts[1] : lastEnd) - 2;
    if (!(isReq ? this.requestLine(buf, first, firstEnd) : this.statusLine(buf, first, firstEnd))) return false;
    for (let li = 1; li < n; li++) {
      const s = starts[li];
      const e = (li + 1 < n ? starts[li + 1] : lastEnd) - 2;
      const lower = this.fieldLine(buf, s, e, raw, 2 * (li - 1));
      if (lower === null) return false;
      names[li - 1] = lower;
      const value = raw[2 * li - 1];
      switch (lower) {
        case 'content-length': {
          if (this.contentLength >= 0) return this.bad(400, 'duplicate content-length');
          const v = digits(value);
          if (v < 0) return this.bad(400, 'invalid content-length');
          this.contentLength = v;
          break;
        }
        case 'transfer-encoding': {
          if (te) return this.bad(400, 'duplicate transfer-encoding');
          // llhttp reads `chunked<SP>` as another coding: refuse what parsers disagree on
          if (this.trimmedEnd) return this.bad(400, 'invalid transfer-encoding');
          te = true;
          const codings = value.toLowerCase().split(',');
          for (let c = 0; c < codings.length; c++) {
            const coding = codings[c].trim();
            if (coding === 'chunked') {
              if (c !== codings.length - 1) return this.bad(400, 'chunked is not the final transfer coding');
              this.chunked = true;
            } else if (coding === '' || !isToken(coding)) return this.bad(400, 'invalid transfer-encoding');
            else teOther = true;
          }
          break;
        }
        case 'host':
          if (isReq) {
            if (this.hostSeen) return this.bad(400, 'duplicate host');
            this.hostSeen = true;
            if (!validHost(value)) return this.bad(400, 'invalid host');
          }
          break;
        case 'connection': {
          const v = value.toLowerCase();
          if (v === 'close') connClose = true;
          else if (v === 'keep-alive') connKeepAlive = true;
          else if (v === 'upgrade') connUpgrade = true;
          else {
            for (const t of v.split(',')) {
              const x = t.trim();
              if (x === 'close') connClose = true;
              else if (x === 'keep-alive') connKeepAlive = true;
              else if (x === 'upgrade') connUpgrade = true;
            }
          }
          break;
        }
        case 'upgrade':
          upgradeHeader = true;
          break;
        case 'expect':
          if (isReq && value.toLowerCase() === '100-continue') this.expectContinue = true;
          break;
      }
    }
    if (te && this.contentLength >= 0) return this.bad(400, 'content-length with transfer-encoding');
    if (te && this.versionMinor === 0) return this.bad(400, 'transfer-encoding in an HTTP/1.0 message');
    this.keepAlive = this.versionMinor === 1 ? !connClose : connKeepAlive && !connClose;
    if (isReq) {
      // RFC 9112 §6.1: a request whose final coding is not chunked cannot be delimited
      if (te && (!this.chunked || teOther)) return this.bad(501, 'transfer-encoding other than chunked');
      if (this.versionMinor === 1 && !this.hostSeen) return this.bad(400, 'missing host');
      this.upgrade = this.method === 'CONNECT' || (upgradeHeader && connUpgrade);
      if (this.upgrade && (this.chunked || this.contentLength > 0)) return this.bad(400, 'a body on an upgrade request');
      this.hasBody = this.chunked || this.contentLength > 0;
      this.enterBody();
      this.events.onHead(this);
      if (this.state === S.Closed) return false;
      if (this.upgrade) {
        this.state = S.Upgraded;
        this.messages++;
        return true;
      }
      if (!this.hasBody) this.complete(null);
      return true;
    }
    // response
    const st = this.status;
    if (st < 200) {
      this.hasBody = false;
      if (st === 101 && this.upgradeExpected) {
        this.state = S.Upgraded;
        this.upgrade = true;
        this.events.onHead(this);
        return true;
      }
      // interim response: the final one follows
      this.events.onHead(this);
      if (this.state === S.Closed) return false;
      this.messages++;
      this.state = S.Head;
      this.events.onComplete(null);
      return (this.state as S) !== S.Closed;
    }
    if (this.connectExpected && st < 300) {
      this.hasBody = false;
      this.upgrade = true;
      this.state = S.Upgraded;
      this.events.onHead(this);
      return true;
    }
    if (this.noBodyExpected || st === 204 || st === 304) {
      // a HEAD response whose framing would run to EOF still ends the connection (as llhttp)
      if (st !== 204 && st !== 304 && ((te && !this.chunked) || (!te && this.contentLength < 0))) this.keepAlive = false;
      this.hasBody = false;
      this.chunked = false;
      this.events.onHead(this);
      if (this.state !== S.Closed) this.complete(null);
      return this.state !== S.Closed;
    }
    if (te && !this.chunked) {
      // a final coding other than chunked: the body runs to the end of the connection
      this.hasBody = true;
      this.keepAlive = false;
      this.state = S.BodyToEof;
    } else if (this.chunked) {
      this.hasBody = true;
      this.state = S.ChunkSize;
      this.remaining = 0;
    } else if (this.contentLength >= 0) {
      this.hasBody = this.contentLength > 0;
      this.remaining = this.contentLength;
      this.state = this.contentLength > 0 ? S.BodyLength : S.Head;
    } else {
      this.hasBody = true;
      this.keepAlive = false;
      this.state = S.BodyToEof;
    }
    this.events.onHead(this);
    if (this.state === S.Head) this.complete(null);
    return (this.state as S) !== S.Closed;
  }

  /** After a request head: where the body (if any) starts. */
  private enterBody(): void {
    if (this.chunked) {
      this.state = S.ChunkSize;
      this.remaining = 0;
    } else if (this.contentLength > 0) {
      this.state = S.BodyLength;
      this.remaining = this.contentLength;
    } else {
      this.state = S.Head;
    }
  }

  private bad(status: number, reason: string): boolean {
    this.fail(status, reason);
    return false;
  }

  /** The message is complete: the next head, or nothing more when the connection closes after it. */
  private complete(trailers: string[] | null): void {
    this.messages++;
    if (this.state !== S.Closed && this.state !== S.Upgraded) this.state = this.keepAlive ? S.Head : S.Closed;
    this.events.onComplete(trailers);
  }

  private requestLine(buf: Buffer, s: number, e: number): boolean {
    let i = s;
    while (i < e && TOKEN[buf[i]] === 1) i++;
    if (i === s || i >= e || buf[i] !== SP) return this.bad(400, i === s ? 'invalid method' : 'invalid request line');
    const m = this.text(buf, s, i, TEXT_METHOD);
    if (!METHODS.has(m)) return this.bad(400, 'unknown method');
    this.method = m;
    const ts = ++i;
    while (i < e && TARGET[buf[i]] === 1) i++;
    if (i === ts || i >= e || buf[i] !== SP) return this.bad(400, 'invalid request target');
    this.target = this.text(buf, ts, i, TEXT_TARGET);
    i++;
    if (e - i !== 8 || buf[i] !== 0x48 || buf[i + 1] !== 0x54 || buf[i + 2] !== 0x54 || buf[i + 3] !== 0x50 || buf[i + 4] !== 0x2f || buf[i + 5] !== 0x31 || buf[i + 6] !== 0x2e) {
      return this.bad(e - i === 8 && buf[i + 5] >= 0x30 && buf[i + 5] <= 0x39 ? 505 : 400, 'invalid HTTP version');
    }
    const minor = buf[i + 7];
    if (minor !== 0x30 && minor !== 0x31) return this.bad(505, 'unsupported HTTP version');
    this.versionMinor = minor - 0x30;
    if (this.method === 'CONNECT' ? this.target.charCodeAt(0) === 0x2f : this.target.charCodeAt(0) !== 0x2f && this.target !== '*' && !absoluteForm(this.target)) {
      return this.bad(400, 'invalid request target');
    }
    return true;
  }

  private statusLine(buf: Buffer, s: number, e: number): boolean {
    if (e - s < 12 || buf[s] !== 0x48 || buf[s + 1] !== 0x54 || buf[s + 2] !== 0x54 || buf[s + 3] !== 0x50 || buf[s + 4] !== 0x2f || buf[s + 5] !== 0x31 || buf[s + 6] !== 0x2e || (buf[s + 7] !== 0x30 && buf[s + 7] !== 0x31) || buf[s + 8] !== SP) {
      return this.bad(502, 'invalid status line');
    }
    this.versionMinor = buf[s + 7] - 0x30;
    const a = buf[s + 9] - 0x30;
    const b = buf[s + 10] - 0x30;
    const c = buf[s + 11] - 0x30;
    if (a < 1 || a > 5 || b < 0 || b > 9 || c < 0 || c > 9) return this.bad(502, 'invalid status code');
    this.status = a * 100 + b * 10 + c;
    let i = s + 12;
    if (i < e) {
      if (buf[i] !== SP) return this.bad(502, 'invalid status line');
      i++;
      for (let j = i; j < e; j++) if (VALUE[buf[j]] !== 1) return this.bad(502, 'invalid reason phrase');
    }
    this.reason = i < e ? this.text(buf, i, e, TEXT_REASON) : '';
    return true;
  }

  /** Parses one field line into `out[at]` (name) and `out[at + 1]` (value); returns the lower-cased name, or null on error. */
  private fieldLine(buf: Buffer, s: number, e: number, out: string[], at: number): string | null {
    const c0 = buf[s];
    if (c0 === SP || c0 === HT) {
      this.fail(400, 'obs-fold');
      return null;
    }
    let i = s;
    let upper = false;
    while (i < e) {
      const c = buf[i];
      if (TOKEN[c] !== 1) break;
      if (c >= 0x41 && c <= 0x5a) upper = true;
      i++;
    }
    if (i === e || buf[i] !== 0x3a || i === s) {
      const c = buf[i];
      this.fail(400, c === SP || c === HT ? 'whitespace before colon' : 'invalid header name');
      return null;
    }
    const known = commonName(buf, s, i);
    const name = known === null ? buf.toString('latin1', s, i) : !upper ? known.name : sameBytes(buf, s, known.titleBytes) ? known.title : buf.toString('latin1', s, i);
    i++;
    while (i < e && (buf[i] === SP || buf[i] === HT)) i++;
    let ve = e;
    while (ve > i && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
    this.trimmedEnd = ve !== e;
    out[at] = name;
    if (i === ve) out[at + 1] = '';
    else {
      // the same bytes as this field's last value were valid then: no second scan
      const slot = known !== null ? TEXT_VALUES + known.id : -1;
      const again = slot < 0 ? null : this.same(buf, i, ve, slot);
      if (again !== null) out[at + 1] = again;
      else {
        for (let j = i; j < ve; j++) {
          if (VALUE[buf[j]] !== 1) {
            this.fail(400, buf[j] === 0 ? 'NUL in header value' : buf[j] === CR ? 'bare CR' : 'invalid header value');
            return null;
          }
        }
        out[at + 1] = slot < 0 ? buf.toString('latin1', i, ve) : this.remember(buf, i, ve, slot);
      }
    }
    return known !== null ? known.name : upper ? name.toLowerCase() : name;
  }

  /** The Latin-1 text of buf[s, e): the string made for `slot` last time when the bytes are the same. */
  private text(buf: Buffer, s: number, e: number, slot: number): string {
    return this.same(buf, s, e, slot) ?? this.remember(buf, s, e, slot);
  }

  /** The string kept for `slot` when its bytes are those of buf[s, e), else null. */
  private same(buf: Buffer, s: number, e: number, slot: number): string | null {
    const n = e - s;
    if (n > TEXT_REUSE_MAX) return null;
    const prev = this.texts[slot];
    if (prev.length === n) {
      if (n <= TEXT_INLINE_MAX) {
        let j = 0;
        while (j < n && prev.charCodeAt(j) === buf[s + j]) j++;
        if (j === n) return prev;
      } else if (buf.compare(this.textBytes[slot]!, 0, n, s, e) === 0) return prev;
    }
    return null;
  }

  /** The Latin-1 text of buf[s, e), kept for `slot` (when short enough to be compared next time). */
  private remember(buf: Buffer, s: number, e: number, slot: number): string {
    const n = e - s;
    if (n > TEXT_REUSE_MAX) return buf.toString('latin1', s, e);
    const t = buf.toString('latin1', s, e);
    this.texts[slot] = t;
    // a copy: `buf` may be the shared read buffer
    this.textBytes[slot] = n > TEXT_INLINE_MAX ? copyOf(buf.subarray(s, e)) : null;
    return t;
  }

  private parseTrailers(buf: Buffer, starts: Int32Array, n: number, lastEnd: number): boolean {
    const out: string[] = [];
    for (let li = 0; li < n; li++) {
      const s = starts[li];
      const e = (li + 1 < n ? starts[li + 1] : lastEnd) - 2;
      if (this.fieldLine(buf, s, e, out, out.length) === null) return false;
    }
    this.complete(out.length ? out : null);
    return true;
  }

  /** A chunk-size line: `1*HEXDIG [ chunk-ext ] CRLF`; size 0 starts the trailer section. */
  private chunkLine(buf: Buffer, off: number): number {
    const k = buf.indexOf(LF, off);
    if (k < 0) {
      if (buf.length - off > MAX_CHUNK_LINE) {
        this.fail(400, 'chunk extension too long');
        return -1;
      }
      this.pending = off === 0 ? buf : buf.subarray(off);
      return -1;
    }
    if (k === off || buf[k - 1] !== CR) {
      this.fail(400, 'bare LF in chunk size');
      return -1;
    }
    const e = k - 1;
    let i = off;
    let size = 0;
    while (i < e && HEX[buf[i]] >= 0) {
      size = size * 16 + HEX[buf[i]];
      i++;
    }
    if (i === off || i - off > 12) {
      this.fail(400, 'invalid chunk size');
      return -1;
    }
    if (i < e && !chunkExt(buf, i, e)) {
      this.fail(400, 'invalid chunk extension');
      return -1;
    }
    if (size === 0) {
      this.state = S.Trailers;
      this.scanFrom = 0;
      return k + 1;
    }
    this.remaining = size;
    this.state = S.ChunkData;
    return k + 1;
  }

}

/** chunk-ext = *( ";" token [ "=" ( token / quoted-string ) ] ), without whitespace (as llhttp). */
function chunkExt(buf: Buffer, i: number, e: number): boolean {
  while (i < e) {
    if (buf[i] !== 0x3b) return false;
    i++;
    const ns = i;
    while (i < e && TOKEN[buf[i]] === 1) i++;
    if (i === ns) return false;
    if (i < e && buf[i] === 0x3d) {
      i++;
      if (i < e && buf[i] === 0x22) {
        i++;
        for (;;) {
          if (i >= e) return false;
          const c = buf[i];
          if (c === 0x22) break;
          if (c === 0x5c) i++;
          else if (VALUE[c] !== 1) return false;
          i++;
        }
        i++;
      } else {
        const vs = i;
        while (i < e && TOKEN[buf[i]] === 1) i++;
        if (i === vs) return false;
      }
    }
  }
  return true;
}

function digits(v: string): number {
  const n = v.length;
  if (n === 0 || n > 15) return -1;
  let x = 0;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    x = x * 10 + c;
  }
  return x;
}

function isToken(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (TOKEN[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/** A Host value: no whitespace, controls, or characters that end an authority. */
function validHost(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0x2f || c === 0x3f || c === 0x23 || c === 0x40 || c === 0x5c) return false;
  }
  return true;
}

const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*$/;
const AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]*$/;

function absoluteForm(t: string): boolean {
  const i = t.indexOf('://');
  if (i <= 0 || !SCHEME.test(t.slice(0, i))) return false;
  let e = t.length;
  for (let j = i + 3; j < t.length; j++) {
    const c = t.charCodeAt(j);
    if (c === 0x2f || c === 0x3f || c === 0x23) {
      e = j;
      break;
    }
  }
  return AUTHORITY.test(t.slice(i + 3, e));
}
