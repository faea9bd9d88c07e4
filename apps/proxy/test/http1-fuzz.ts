/**
 * The differential fuzz of the HTTP/1.1 parser against Node's own llhttp (the parser behind
 * node:http, reached through `_http_common`'s HTTPParser, as node:http itself uses it).
 * Generated and mutated requests and responses, split into chunks at random offsets, go to both;
 * where both accept they must agree on method, target, version, headers, body and trailers;
 * where llhttp rejects, the codec must reject; where only the codec rejects, the reason must be one
 * of the deliberate differences (README, "HTTP/1.1 codec").
 */
import { createRequire } from 'node:module';
import { Http1Parser, REQUEST, RESPONSE, type ParserEvents } from '../src/http1/parser';

const require = createRequire(import.meta.url);

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(b: Buffer): number | Error;
  finish(): number | Error | undefined;
  close?(): void;
  [k: number]: unknown;
}
interface LlhttpCtor {
  new (): LlhttpParser;
  REQUEST: number;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}
const common = require('_http_common') as { HTTPParser: LlhttpCtor; methods: string[] };
const { HTTPParser, methods } = common;

/** One parsed message, as both parsers report it. */
export interface Msg {
  method: string;
  target: string;
  status: number;
  versionMinor: number;
  headers: string[];
  body: string;
  trailers: string[];
  keepAlive: boolean;
  upgrade: boolean;
}

export interface Outcome {
  msgs: Msg[];
  /** Error code or reason, or null when the input was accepted. */
  error: string | null;
  /** HTTP status the codec answers an error with (codec only). */
  status?: number;
}

/** Runs Node's llhttp over the chunks. */
export function runLlhttp(kind: 'request' | 'response', chunks: Buffer[], noBody: boolean): Outcome {
  const p = new HTTPParser();
  p.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 60 * 1024, 0);
  const msgs: Msg[] = [];
  let headers: string[] = [];
  let url = '';
  let cur: Msg | null = null;
  let body: Buffer[] = [];
  let stop = false;
  p[HTTPParser.kOnHeaders] = (h: string[], u: string) => {
    headers.push(...h);
    url += u;
  };
  p[HTTPParser.kOnHeadersComplete] = (_maj: number, minor: number, h: string[] | undefined, method: number | undefined, u: string | undefined, status: number | undefined, _msg: string, upgrade: boolean, keepAlive: boolean) => {
    const hs = h ?? headers;
    headers = [];
    const target = u ?? url;
    url = '';
    cur = { method: method === undefined ? '' : methods[method], target, status: status ?? 0, versionMinor: minor, headers: [...hs], body: '', trailers: [], keepAlive, upgrade };
    body = [];
    if (upgrade) {
      msgs.push(cur);
      stop = true;
      return 2;
    }
    return kind === 'response' && noBody ? 1 : 0;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    body.push(Buffer.from(b));
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    if (!cur) return;
    cur.body = Buffer.concat(body).toString('latin1');
    cur.trailers = headers;
    headers = [];
    url = '';
    msgs.push(cur);
    if (!cur.keepAlive) stop = true;
    cur = null;
  };
  p[HTTPParser.kOnExecute] = () => {};
  let error: string | null = null;
  for (const c of chunks) {
    if (stop) break;
    const r = p.execute(c);
    if (r instanceof Error) {
      error = (r as Error & { code?: string }).code ?? r.message;
      break;
    }
  }
  if (error === null && !stop) {
    const r = p.finish();
    if (r instanceof Error) error = (r as Error & { code?: string }).code ?? r.message;
  }
  if (stop) error = null;
  return { msgs, error };
}

class Collect implements ParserEvents {
  msgs: Msg[] = [];
  cur: Msg | null = null;
  body: Buffer[] = [];
  error: string | null = null;
  status = 0;
  stop = false;
  constructor(private readonly noBody: boolean) {}
  onHead(p: Http1Parser): void {
    this.cur = { method: p.method, target: p.target, status: p.status, versionMinor: p.versionMinor, headers: p.raw.slice(), body: '', trailers: [], keepAlive: p.keepAlive, upgrade: p.upgrade };
    this.body = [];
    if (p.upgrade) {
      this.msgs.push(this.cur);
      this.stop = true;
    }
  }
  onBody(chunk: Buffer): void {
    this.body.push(Buffer.from(chunk));
  }
  onComplete(trailers: string[] | null): void {
    const m = this.cur!;
    m.body = Buffer.concat(this.body).toString('latin1');
    m.trailers = trailers ?? [];
    this.msgs.push(m);
    if (!m.keepAlive) this.stop = true;
    this.cur = null;
  }
  onError(status: number, reason: string): void {
    this.error = reason;
    this.status = status;
  }
}

/** Runs the codec's parser over the chunks. */
export function runCodec(kind: 'request' | 'response', chunks: Buffer[], noBody: boolean): Outcome {
  const c = new Collect(noBody);
  const p = new Http1Parser(kind === 'request' ? REQUEST : RESPONSE, c);
  p.noBodyExpected = noBody;
  for (const ch of chunks) {
    p.execute(ch);
    if (c.error !== null || c.stop || p.closed) break;
  }
  if (c.error === null && !c.stop && !p.closed) {
    if (!p.finish() && c.error === null) c.error = 'incomplete';
  }
  return { msgs: c.msgs, error: c.error, status: c.status };
}

// --- generation ---------------------------------------------------------------------------

/** mulberry32 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type R = () => number;
const pick = <T>(r: R, a: readonly T[]): T => a[Math.floor(r() * a.length)];
const int = (r: R, n: number) => Math.floor(r() * n);

const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'];
const NAMES = ['User-Agent', 'accept', 'Accept-Encoding', 'cookie', 'X-Request-Id', 'x-b3-traceid', 'Content-Type', 'authorization', 'x-forwarded-for', 'Cache-Control', 'via', 'X-Custom'];
const VALUE_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!#$%&\'*+^`|=;,/?:@[]()<>"{} ';
const PATH_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-._~%!$&\'()*+,;=:@/?';
const INTERESTING = [0, 9, 10, 13, 32, 0x7f, 0x80, 0xff, 0x3a, 0x2c, 0x3b, 0x41, 0x61, 0x30, 0x01, 0x0b, 0x22, 0x5c];

function str(r: R, chars: string, max: number): string {
  let s = '';
  const n = int(r, max + 1);
  for (let i = 0; i < n; i++) s += chars[int(r, chars.length)];
  return s;
}

function caseMix(r: R, s: string): string {
  const m = int(r, 4);
  if (m === 0) return s.toLowerCase();
  if (m === 1) return s.toUpperCase();
  return s;
}

function header(r: R): string {
  const name = r() < 0.2 ? `X-${str(r, 'abcdefghijklmnopqrstuvwxyz0123456789-!#$%&\'*+.^_`|~', 12) || 'a'}` : caseMix(r, pick(r, NAMES));
  let value = str(r, VALUE_CHARS, 40);
  if (r() < 0.1) value = ` ${value}`;
  if (r() < 0.1) value = `${value}\t`;
  if (r() < 0.05) value += '\u00e9';
  return `${name}: ${value}\r\n`;
}

function chunkedBody(r: R): { text: string; body: string } {
  let text = '';
  let body = '';
  const n = int(r, 4);
  for (let i = 0; i < n; i++) {
    const data = str(r, VALUE_CHARS, 60) + (r() < 0.2 ? '\r\n' : '');
    if (!data.length) continue;
    const size = r() < 0.3 ? data.length.toString(16).toUpperCase() : data.length.toString(16);
    const ext = r() < 0.15 ? pick(r, [';a=b', ';x', '; q="1"', ' ;k=v', ';a=b;c']) : '';
    text += `${size}${ext}\r\n${data}\r\n`;
    body += data;
  }
  text += '0\r\n';
  if (r() < 0.25) text += header(r);
  text += '\r\n';
  return { text, body };
}

function framing(r: R, body: string, canChunk: boolean): { head: string; text: string } {
  const f = int(r, 10);
  if (f < 4 || !canChunk) return { head: body.length || r() < 0.3 ? `Content-Length: ${body.length}\r\n` : '', text: body };
  if (f < 7) {
    const c = chunkedBody(r);
    return { head: `${caseMix(r, 'Transfer-Encoding')}: ${pick(r, ['chunked', 'chunked', 'Chunked', 'gzip, chunked', 'chunked, gzip', 'identity'])}\r\n`, text: c.text };
  }
  switch (f) {
    case 7: return { head: `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`, text: body };
    case 8: return { head: `Content-Length: ${body.length}\r\nContent-Length: ${pick(r, [String(body.length), String(body.length + 1)])}\r\n`, text: body };
    default: return { head: `Content-Length: ${pick(r, [`${body.length}a`, `-${body.length}`, `+${body.length}`, `${body.length} ${body.length}`, `0x${body.length}`, `${body.length}, ${body.length}`, ''])}\r\n`, text: body };
  }
}

/** A generated request (not yet mutated). */
export function genRequest(r: R): string {
  const method = r() < 0.03 ? pick(r, ['get', 'PROPFIND', 'M-SEARCH', 'G(T', 'BREW']) : pick(r, METHODS);
  let target = `/${str(r, PATH_CHARS, 30)}`;
  if (r() < 0.03) target = pick(r, ['*', 'http://example.com/a?b', 'example.com:443', 'a/b', '/\u00e9']);
  const version = r() < 0.1 ? pick(r, ['HTTP/1.0', 'HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'http/1.1', 'HTTP/1.1 ']) : 'HTTP/1.1';
  let s = `${method} ${target} ${version}\r\n`;
  const hosts = r() < 0.05 ? pick(r, [0, 2]) : 1;
  for (let i = 0; i < hosts; i++) s += `${caseMix(r, 'Host')}: ${pick(r, ['example.com', 'svc.ns.svc.cluster.local:8080', '10.0.0.1', '[::1]:80', 'a b'])}\r\n`;
  const n = int(r, 8);
  for (let i = 0; i < n; i++) s += header(r);
  if (r() < 0.1) s += `Connection: ${pick(r, ['close', 'keep-alive', 'Keep-Alive, foo', 'close, x'])}\r\n`;
  const hasBody = method === 'POST' || method === 'PUT' || method === 'PATCH' || r() < 0.05;
  if (hasBody) {
    const body = str(r, VALUE_CHARS, 100);
    const f = framing(r, body, true);
    s += f.head;
    s += '\r\n';
    s += f.text;
  } else s += '\r\n';
  return s;
}

const STATUSES = [200, 200, 200, 201, 204, 206, 301, 302, 304, 400, 404, 500, 502, 503, 100, 103];

/** A generated response (not yet mutated); `noBody` when it answers a HEAD. */
export function genResponse(r: R): { text: string; noBody: boolean } {
  const status = pick(r, STATUSES);
  const noBody = r() < 0.08;
  const version = r() < 0.08 ? pick(r, ['HTTP/1.0', 'HTTP/1.2', 'HTTP/2', 'HTTP/1.1  ']) : 'HTTP/1.1';
  const reason = r() < 0.1 ? '' : ` ${pick(r, ['OK', 'Not Found', 'Whatever you like', 'Sehr gut \u00e9'])}`;
  let s = `${version} ${status}${reason}\r\n`;
  const n = int(r, 8);
  for (let i = 0; i < n; i++) s += header(r);
  if (r() < 0.1) s += `Connection: ${pick(r, ['close', 'keep-alive'])}\r\n`;
  if (status < 200) return { text: `${s}\r\n`, noBody };
  const body = status === 204 || status === 304 ? '' : str(r, VALUE_CHARS, 100);
  const f = int(r, 10);
  if (f === 0) {
    // no framing: until the connection closes
    s += `\r\n${body}`;
  } else {
    const fr = framing(r, body, true);
    s += `${fr.head}\r\n`;
    if (!noBody && status !== 204 && status !== 304) s += fr.text;
  }
  return { text: s, noBody };
}

/** Applies 0..3 byte-level mutations aimed at framing. */
export function mutate(r: R, input: Buffer): Buffer {
  let b = input;
  const n = 1 + int(r, 3);
  for (let i = 0; i < n; i++) {
    const op = int(r, 7);
    const at = int(r, b.length + 1);
    switch (op) {
      case 0: if (at < b.length) { b = Buffer.from(b); b[at] = pick(r, INTERESTING); } break;
      case 1: b = Buffer.concat([b.subarray(0, at), Buffer.from([pick(r, INTERESTING)]), b.subarray(at)]); break;
      case 2: if (at < b.length) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]); break;
      case 3: {
        // duplicate a line
        const s = b.lastIndexOf(10, at);
        const e = b.indexOf(10, at);
        if (s >= 0 && e > s) b = Buffer.concat([b.subarray(0, e + 1), b.subarray(s + 1, e + 1), b.subarray(e + 1)]);
        break;
      }
      case 4: {
        // CRLF -> LF or CR
        const k = b.indexOf('\r\n', at);
        if (k >= 0) b = Buffer.concat([b.subarray(0, k), r() < 0.5 ? Buffer.from('\n') : Buffer.from('\r'), b.subarray(k + 2)]);
        break;
      }
      case 5: {
        // whitespace before a colon
        const k = b.indexOf(':', at);
        if (k >= 0) b = Buffer.concat([b.subarray(0, k), Buffer.from(pick(r, [' ', '\t'])), b.subarray(k)]);
        break;
      }
      default: {
        // a line starting with whitespace (obs-fold)
        const k = b.indexOf('\r\n', at);
        if (k >= 0) b = Buffer.concat([b.subarray(0, k + 2), Buffer.from(pick(r, [' x', '\tx'])), b.subarray(k)]);
      }
    }
  }
  return b;
}

/** Splits at random offsets. */
export function split(r: R, b: Buffer): Buffer[] {
  const n = int(r, 5);
  const cuts: number[] = [];
  for (let i = 0; i < n; i++) cuts.push(int(r, b.length + 1));
  cuts.sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    if (c > prev) out.push(b.subarray(prev, c));
    prev = Math.max(prev, c);
  }
  if (prev < b.length) out.push(b.subarray(prev));
  return out.length ? out : [b];
}

/**
 * Rejections the codec makes where llhttp accepts, each on purpose (RFC 9112 / 9110):
 * reason → why.
 */
export const DELIBERATE: Readonly<Record<string, string>> = {
  'missing host': 'RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request without Host',
  'duplicate host': 'RFC 9112 §3.2: ... or with more than one Host field line',
  'invalid host': 'RFC 9112 §3.2: ... or with an invalid Host value (whitespace, userinfo, path characters)',
  'transfer-encoding other than chunked': 'RFC 9112 §6.1/§6.3: a request whose final coding is not chunked cannot be delimited; a server SHOULD answer 501 (Envoy does) — codings before chunked are refused too',
  'transfer-encoding in an HTTP/1.0 message': 'RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding MUST be treated as having faulty framing',
  'invalid HTTP version': 'RFC 9112 §2.3: HTTP-version is case-sensitive `HTTP/` DIGIT "." DIGIT; only 1.0 and 1.1 are spoken on this codec',
  'unsupported HTTP version': 'RFC 9112 §2.3: only HTTP/1.0 and HTTP/1.1 (505 for other versions)',
  'invalid request target': 'RFC 9112 §3.2: origin-form starts with "/", CONNECT takes authority-form, `*` and absolute-form otherwise',
  'invalid status line': 'RFC 9112 §4: status-line = HTTP-version SP 3DIGIT SP [reason-phrase]; only HTTP/1.0 and HTTP/1.1',
  'invalid header value': 'RFC 9110 §5.5: field-vchar excludes DEL (0x7F) and other controls',
  'invalid reason phrase': 'RFC 9112 §4: reason-phrase excludes DEL and controls other than HTAB',
  'chunked is not the final transfer coding': 'RFC 9112 §6.1: chunked MUST be the final coding and applied once',
  'duplicate transfer-encoding': 'RFC 9112 §6.1: two Transfer-Encoding field lines are refused rather than combined (smuggling)',
  'invalid transfer-encoding': 'RFC 9110 §10.1.4: a transfer coding is a token',
  'a body on an upgrade request': 'RFC 9110 §7.8: the switched protocol starts right after the head; a body would be ambiguous',
  'invalid status code': 'RFC 9110 §15: a status code is three digits from 100 to 599',
  'bare LF': 'RFC 9112 §2.2: a recipient MAY accept a bare LF as a line terminator; this codec does not, anywhere (also not in the empty lines before a start line)',
  'bare CR': 'RFC 9112 §2.2: a bare CR MUST be rejected or replaced; it is rejected',
  'invalid chunk extension': 'RFC 9112 §7.1.1: chunk-ext values are tokens or quoted strings (no controls)',
  'invalid content-length': 'RFC 9110 §8.6: Content-Length = 1*DIGIT (at most 15 digits here)',
  'duplicate content-length': 'RFC 9112 §6.3: differing or repeated Content-Length is unrecoverable; even identical repeats are refused',
  'invalid chunk size': 'RFC 9112 §7.1: chunk-size = 1*HEXDIG (at most 12 digits here), then BWS before chunk-ext',
};

export interface FuzzReport {
  cases: number;
  bothAccepted: number;
  bothRejected: number;
  stricter: Record<string, number>;
  failures: { input: string; why: string }[];
}

function same(a: Msg, b: Msg): string | null {
  if (a.method !== b.method) return `method ${JSON.stringify(a.method)} vs ${JSON.stringify(b.method)}`;
  if (a.target !== b.target) return `target ${JSON.stringify(a.target)} vs ${JSON.stringify(b.target)}`;
  if (a.status !== b.status) return `status ${a.status} vs ${b.status}`;
  if (a.versionMinor !== b.versionMinor) return `version ${a.versionMinor} vs ${b.versionMinor}`;
  if (JSON.stringify(a.headers) !== JSON.stringify(b.headers)) return `headers ${JSON.stringify(a.headers)} vs ${JSON.stringify(b.headers)}`;
  if (a.body !== b.body) return `body ${JSON.stringify(a.body)} vs ${JSON.stringify(b.body)}`;
  if (JSON.stringify(a.trailers) !== JSON.stringify(b.trailers)) return `trailers ${JSON.stringify(a.trailers)} vs ${JSON.stringify(b.trailers)}`;
  if (a.keepAlive !== b.keepAlive) return `keepAlive ${a.keepAlive} vs ${b.keepAlive}`;
  if (a.upgrade !== b.upgrade) return `upgrade ${a.upgrade} vs ${b.upgrade}`;
  return null;
}

/** Compares the two parsers on one input; returns a failure description, or null. */
export function compare(kind: 'request' | 'response', input: Buffer, chunks: Buffer[], noBody: boolean, report: FuzzReport): void {
  const ref = runLlhttp(kind, chunks, noBody);
  const mine = runCodec(kind, chunks, noBody);
  report.cases++;
  const fail = (why: string) => {
    if (report.failures.length < 20) report.failures.push({ input: input.toString('latin1'), why: `${kind}: ${why}` });
  };
  const n = Math.min(ref.msgs.length, mine.msgs.length);
  for (let i = 0; i < n; i++) {
    const d = same(mine.msgs[i], ref.msgs[i]);
    if (d !== null) return fail(`message ${i}: codec vs llhttp: ${d}`);
  }
  if (mine.msgs.length > ref.msgs.length) return fail(`codec accepted ${mine.msgs.length} messages, llhttp ${ref.msgs.length} (llhttp: ${ref.error})`);
  if (ref.error !== null) {
    if (mine.error === null) return fail(`llhttp rejected (${ref.error}), the codec accepted`);
    report.bothRejected++;
    return;
  }
  if (mine.error !== null) {
    if (mine.error === 'incomplete' || !(mine.error in DELIBERATE)) return fail(`only the codec rejected: ${mine.error}`);
    report.stricter[mine.error] = (report.stricter[mine.error] ?? 0) + 1;
    return;
  }
  if (mine.msgs.length !== ref.msgs.length) return fail(`codec ${mine.msgs.length} messages, llhttp ${ref.msgs.length}`);
  report.bothAccepted++;
}

/** Runs `count` cases from `seed`: half requests (1–3 pipelined), half responses; 60% mutated. */
/**
 * Runs `count` cases from `seed`. It gives the event loop a turn every 2,000 cases, so a test
 * worker under load still answers its runner (vitest times out a worker blocked for a minute).
 */
export async function fuzz(seed: number, count: number): Promise<FuzzReport> {
  const r = rng(seed);
  const report: FuzzReport = { cases: 0, bothAccepted: 0, bothRejected: 0, stricter: {}, failures: [] };
  for (let i = 0; i < count; i++) {
    if (i % 2000 === 1999) await new Promise<void>((resolve) => setImmediate(resolve));
    if (i % 2 === 0) {
      let text = genRequest(r);
      const more = int(r, 3);
      for (let k = 0; k < more; k++) text += genRequest(r);
      let input: Buffer = Buffer.from(text, 'latin1');
      if (r() < 0.6) input = mutate(r, input);
      compare('request', input, split(r, input), false, report);
    } else {
      const g = genResponse(r);
      let text = g.text;
      if (r() < 0.3 && !text.includes('\r\n\r\n', text.length - 4)) {
        const g2 = genResponse(r);
        if (g2.noBody === g.noBody) text += g2.text;
      }
      let input: Buffer = Buffer.from(text, 'latin1');
      if (r() < 0.6) input = mutate(r, input);
      compare('response', input, split(r, input), g.noBody, report);
    }
  }
  return report;
}
