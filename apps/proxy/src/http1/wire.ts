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

/** True for a field name that is a token. */
export function validName(n: string): boolean {
  if (n.length === 0) return false;
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (c >= 128 || TOKEN[c] !== 1) return false;
  }
  return true;
}

/** True for a field value with no CR, LF, NUL, other controls (HTAB aside) or characters beyond Latin-1. */
export function validValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 0x20 && c !== 9) || c === 0x7f || c > 0xff) return false;
  }
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

/** Field lines (`name: value\r\n`...), invalid ones dropped. */
export function fieldLines(h: Headers): string {
  let s = '';
  for (const k in h) {
    const v = h[k];
    if (v === undefined || k.charCodeAt(0) === 58 || !validName(k)) continue;
    if (Array.isArray(v)) {
      for (const x of v) if (validFieldValue(x)) s += `${k}: ${x}\r\n`;
    } else {
      const x = typeof v === 'string' ? v : String(v);
      if (validFieldValue(x)) s += `${k}: ${x}\r\n`;
    }
  }
  return s;
}

/** A response head as a string of Latin-1 characters (one byte each on the wire). */
export function responseHeadText(status: number, reason: string, h: Headers): string {
  return `HTTP/1.1 ${status} ${validValue(reason) ? reason : ''}\r\n${fieldLines(h)}\r\n`;
}

/** A response head as a Latin-1 Buffer. */
export function writeHeadInto(status: number, reason: string, h: Headers): Buffer {
  return Buffer.from(responseHeadText(status, reason, h), 'latin1');
}

/** A request head as a string of Latin-1 characters. */
export function requestHeadText(method: string, path: string, h: Headers): string {
  return `${method} ${path} HTTP/1.1\r\n${fieldLines(h)}\r\n`;
}

/** A request head as a Latin-1 Buffer. */
export function requestHead(method: string, path: string, h: Headers): Buffer {
  return Buffer.from(requestHeadText(method, path, h), 'latin1');
}

/**
 * Bodies up to this size leave in the same buffer as their head: one copy of a few KiB costs
 * less than the socket's cork / writev path (an array of chunks and a request object per write,
 * and a `process.nextTick` to uncork), and the kernel sees one send either way.
 */
export const COALESCE_MAX = 16 * 1024;

/**
 * One buffer holding `head` (Latin-1 text), then `prefix` (Latin-1 text, e.g. a chunk-size line),
 * then `body`, then `suffix`: what one `socket.write` sends as head and first body bytes together.
 * Small buffers come from Node's shared allocation pool (`Buffer.allocUnsafe`).
 */
export function headWithBody(head: string, prefix: string, body: Buffer, suffix: Buffer | null): Buffer {
  const hl = head.length;
  const pl = prefix.length;
  const out = Buffer.allocUnsafe(hl + pl + body.length + (suffix === null ? 0 : suffix.length));
  out.write(head, 0, 'latin1');
  if (pl !== 0) out.write(prefix, hl, 'latin1');
  body.copy(out, hl + pl);
  if (suffix !== null) suffix.copy(out, hl + pl + body.length);
  return out;
}
