/**
 * Serialising HTTP/1.1 heads. Names must be tokens and values free of CR, LF and NUL (and of
 * characters beyond Latin-1): a field that is not is dropped rather than written, so no header
 * can split a message.
 */
import { STATUS_CODES } from 'node:http';

type Headers = Record<string, string | string[] | number | undefined>;

export const STATUS_TEXT: Readonly<Record<number, string | undefined>> = STATUS_CODES;

const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;

/** True for a character no field value may hold: CR, LF, NUL, other controls (HTAB aside), or one beyond Latin-1. */
function badValueChar(c: number): boolean {
  return (c < 0x20 && c !== 9) || c === 0x7f || c > 0xff;
}

/** True for a field value with none of {@link badValueChar}. */
function validValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) if (badValueChar(v.charCodeAt(i))) return false;
  return true;
}

/**
 * Long values found valid lately (the proxy's own peer metadata and node id go on every request
 * and response of a hop): one of them again is known valid by a string comparison instead of a
 * scan of its characters. Strings are immutable, so a value once valid stays valid.
 */
const recentValid: string[] = ['', '', '', ''];
let recentNext = 0;

/** {@link validValue}, remembering long valid values. */
function validFieldValue(x: string): boolean {
  if (x.length < 64) return validValue(x);
  const r = recentValid;
  if (x === r[0] || x === r[1] || x === r[2] || x === r[3]) return true;
  if (!validValue(x)) return false;
  r[recentNext] = x;
  recentNext = (recentNext + 1) & 3;
  return true;
}

/** What a serialised head is written to: a socket, or any Writable. */
export interface HeadSink {
  write(b: Buffer): boolean;
  readonly writableLength: number;
}

/*
 * Heads of the request path are serialised straight into one buffer, a character at a time with
 * the field checks in the same pass, so no strings are built and the socket gets a Buffer. After
 * the write, the sink's `writableLength` says whether the bytes were taken whole (0: a plaintext
 * socket handed them to the kernel during the call): then the space is used again by the next
 * head. Otherwise a write queue still points at them (a TLS socket's always does until its write
 * completes; so does a corked or congested socket's), so they are left alone and the next head
 * goes after them, or into a new buffer when this one is full (the old one lives as long as the
 * queue that holds it).
 */
const HEAD_BUFFER_BYTES = 64 * 1024;
let headBuf = Buffer.allocUnsafe(HEAD_BUFFER_BYTES);
/** Where the head being serialised starts. */
let headStart = 0;
/** The next free byte; the bytes before `headStart` may be held by write queues. */
let headPos = 0;

/** Room for `n` more bytes of the head being serialised. */
function reserve(n: number): void {
  if (headPos + n <= headBuf.length) return;
  const used = headPos - headStart;
  const next = Buffer.allocUnsafe(Math.max(HEAD_BUFFER_BYTES, 2 * (used + n)));
  headBuf.copy(next, 0, headStart, headPos);
  headBuf = next;
  headStart = 0;
  headPos = used;
}

/** Latin-1 text the path itself produced (method, target, status code): copied as it is. */
function putText(t: string): void {
  const n = t.length;
  reserve(n);
  const b = headBuf;
  let p = headPos;
  if (n > 64) p += b.write(t, p, 'latin1');
  else for (let i = 0; i < n; i++) b[p++] = t.charCodeAt(i);
  headPos = p;
}

/** `k: x\r\n`, or nothing when the name is not a token or the value not a valid field value. */
function putField(k: string, x: string): void {
  const kn = k.length;
  const xn = x.length;
  if (kn === 0) return;
  reserve(kn + xn + 4);
  const b = headBuf;
  let p = headPos;
  for (let i = 0; i < kn; i++) {
    const c = k.charCodeAt(i);
    if (c >= 128 || TOKEN[c] !== 1) return;
    b[p++] = c;
  }
  b[p++] = 0x3a;
  b[p++] = 0x20;
  if (xn >= 64) {
    if (!validFieldValue(x)) return;
    p += b.write(x, p, 'latin1');
  } else {
    for (let i = 0; i < xn; i++) {
      const c = x.charCodeAt(i);
      if (badValueChar(c)) return;
      b[p++] = c;
    }
  }
  b[p++] = 0x0d;
  b[p++] = 0x0a;
  headPos = p;
}

function putFields(h: Headers): void {
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    if (typeof v === 'string') putField(k, v);
    else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        putField(k, typeof x === 'string' ? x : String(x));
      }
    }
    else putField(k, String(v));
  }
  reserve(2);
  headBuf[headPos++] = 0x0d;
  headBuf[headPos++] = 0x0a;
}

/** Appends `body` (and `suffix`), then writes the whole head in one call and frees its space if the sink took it whole. */
function sendHeadBuffer(s: HeadSink, body: Buffer | null, suffix: Buffer | null): boolean {
  if (body !== null) {
    reserve(body.length + (suffix === null ? 0 : suffix.length));
    headPos += body.copy(headBuf, headPos);
    if (suffix !== null) headPos += suffix.copy(headBuf, headPos);
  }
  const buf = headBuf;
  const start = headStart;
  const end = headPos;
  headStart = end;
  // a head at the buffer's start as long as the last one taken whole from there: the same view
  const view = start === 0 && lastWhole !== null && lastWhole.length === end && lastWholeOf === buf ? lastWhole : buf.subarray(start, end);
  const ok = s.write(view);
  // taken whole, and nothing serialised since: the space is free again
  if (s.writableLength === 0 && headBuf === buf && headPos === end) {
    headStart = headPos = start;
    if (start === 0) {
      lastWhole = view;
      lastWholeOf = buf;
    }
  }
  return ok;
}

/**
 * The last head written from the buffer's start and taken whole by its socket: nothing holds it,
 * so a head of the same length there is handed on in the same view object (no typed-array
 * allocation per write). A view a write queue still holds is never handed on again: the space
 * under it is not reused while it is queued, so no later head starts at 0 in that buffer.
 */
let lastWhole: Buffer | null = null;
let lastWholeOf: Buffer | null = null;

/**
 * Writes a response head to `s` in one write, followed by `body` when given (in one chunk of
 * chunked framing when `chunked`). Returns what the sink's `write` returned.
 */
export function sendResponseHead(s: HeadSink, status: number, reason: string, h: Headers, body: Buffer | null, chunked: boolean): boolean {
  headStart = headPos;
  putText('HTTP/1.1 ');
  putText(String(status));
  putText(' ');
  if (validValue(reason)) putText(reason);
  putText('\r\n');
  putFields(h);
  if (body !== null && chunked) {
    putText(`${body.length.toString(16)}\r\n`);
    return sendHeadBuffer(s, body, CRLF_BYTES);
  }
  return sendHeadBuffer(s, body, null);
}

/** Writes the last chunk of a chunked body with its trailer section to `s` in one write. */
export function sendTrailers(s: HeadSink, trailers: Headers): boolean {
  headStart = headPos;
  putText('0\r\n');
  putFields(trailers);
  return sendHeadBuffer(s, null, null);
}

/** Writes a request head to `s` in one write, followed by `body` when given. Returns what the sink's `write` returned. */
export function sendRequestHead(s: HeadSink, method: string, path: string, h: Headers, body: Buffer | null): boolean {
  headStart = headPos;
  putText(method);
  putText(' ');
  putText(path);
  putText(' HTTP/1.1\r\n');
  putFields(h);
  return sendHeadBuffer(s, body, null);
}

const CRLF_BYTES = Buffer.from('\r\n');

/**
 * Bodies up to this size leave in the same buffer as their head: one copy of a few KiB costs
 * less than the socket's cork / writev path (an array of chunks and a request object per write,
 * and a `process.nextTick` to uncork), and the kernel sees one send either way.
 */
export const COALESCE_MAX = 16 * 1024;
