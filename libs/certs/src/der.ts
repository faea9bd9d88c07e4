/**
 * Strict DER structure check (X.690 distinguished encoding, as Go's and OpenSSL's parsers demand
 * for certificate requests): definite lengths in their shortest form, single-byte tags of the
 * universal and context classes, constructed values exactly filled by their children, and
 * nothing after the outermost value. Primitive contents are not interpreted. A BER-only encoding
 * that a lenient parser accepts is refused here, so tsmesh never signs what Istio would refuse.
 */

/** A problem found at a byte offset, or null when `der` is strict DER. */
export function derProblem(der: Uint8Array): string | null {
  const end = walk(der, 0, der.length, 0);
  if (typeof end === 'string') return end;
  return end === der.length ? null : `${der.length - end} bytes after the end of the structure`;
}

/** The tags of the direct children of the outermost SEQUENCE (for shape checks). */
export function topLevelTags(der: Uint8Array): number[] {
  return topLevelOffsets(der).map((at) => der[at]);
}

interface Header {
  constructed: boolean;
  contentStart: number;
  contentEnd: number;
}

function header(b: Uint8Array, at: number, limit: number): Header | string {
  if (at + 2 > limit) return `truncated value at byte ${at}`;
  const tag = b[at];
  if ((tag & 0x1f) === 0x1f) return `multi-byte tag at byte ${at}`;
  let len = b[at + 1];
  let p = at + 2;
  if (len === 0x80) return `indefinite length at byte ${at}`;
  if (len > 0x80) {
    const n = len & 0x7f;
    if (n > 4) return `length of ${n} bytes at byte ${at}`;
    if (p + n > limit) return `truncated length at byte ${at}`;
    if (b[p] === 0) return `length with a leading zero at byte ${at}`;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p + i];
    if (len < 0x80) return `long-form length ${len} at byte ${at} (DER needs the short form)`;
    p += n;
  }
  if (p + len > limit) return `value at byte ${at} runs past its container`;
  return { constructed: (tag & 0x20) !== 0, contentStart: p, contentEnd: p + len };
}

function walk(b: Uint8Array, at: number, limit: number, depth: number): number | string {
  if (depth > 32) return `nested deeper than 32 at byte ${at}`;
  const h = header(b, at, limit);
  if (typeof h === 'string') return h;
  const tag = b[at];
  const universal = (tag & 0xc0) === 0;
  // Universal SEQUENCE (0x30) and SET (0x31) must be constructed; other universal types primitive here.
  if (universal && (tag & 0x1f) >= 0x10 && (tag & 0x1f) <= 0x11 && !h.constructed) return `primitive SEQUENCE/SET at byte ${at}`;
  if (universal && h.constructed && tag !== 0x30 && tag !== 0x31) return `constructed universal tag 0x${tag.toString(16)} at byte ${at} (BER only)`;
  if (universal && !h.constructed) {
    const bad = primitiveProblem(tag, b.subarray(h.contentStart, h.contentEnd));
    if (bad) return `${bad} at byte ${at}`;
  }
  if (h.constructed) {
    for (let p = h.contentStart; p < h.contentEnd;) {
      const next = walk(b, p, h.contentEnd, depth + 1);
      if (typeof next === 'string') return next;
      p = next;
    }
  }
  return h.contentEnd;
}

/** DER rules of the universal primitive types a certificate request uses. */
function primitiveProblem(tag: number, c: Uint8Array): string | null {
  switch (tag) {
    case 0x01: return c.length === 1 && (c[0] === 0x00 || c[0] === 0xff) ? null : 'BOOLEAN not one byte of 00 or FF';
    case 0x02:
      if (c.length === 0) return 'empty INTEGER';
      if (c.length > 1 && ((c[0] === 0x00 && c[1] < 0x80) || (c[0] === 0xff && c[1] >= 0x80))) return 'INTEGER not in its shortest form';
      return null;
    case 0x03:
      if (c.length === 0 || c[0] > 7 || (c.length === 1 && c[0] !== 0)) return 'malformed BIT STRING';
      return null;
    case 0x05: return c.length === 0 ? null : 'NULL with content';
    case 0x06: return c.length > 0 && (c[c.length - 1] & 0x80) === 0 && c[0] !== 0x80 ? null : 'malformed OBJECT IDENTIFIER';
    default: return null;
  }
}

/** The content of the value at `at` (tag and length skipped), or null when it does not parse. */
export function contentOf(der: Uint8Array, at: number): Uint8Array | null {
  const h = header(der, at, der.length);
  return typeof h === 'string' ? null : der.subarray(h.contentStart, h.contentEnd);
}

/** Byte offsets of the direct children of the outermost value. */
export function topLevelOffsets(der: Uint8Array): number[] {
  const out: number[] = [];
  const h = header(der, 0, der.length);
  if (typeof h === 'string') return out;
  for (let at = h.contentStart; at < h.contentEnd;) {
    const c = header(der, at, h.contentEnd);
    if (typeof c === 'string') break;
    out.push(at);
    at = c.contentEnd;
  }
  return out;
}

/** An ECDSA signature value (`Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`) in strict DER, both positive; the problem or null. */
export function ecdsaSignatureProblem(sig: Uint8Array): string | null {
  const bad = derProblem(sig);
  if (bad) return bad;
  if (sig[0] !== 0x30) return 'not a SEQUENCE';
  const parts = topLevelOffsets(sig);
  if (parts.length !== 2 || sig[parts[0]] !== 0x02 || sig[parts[1]] !== 0x02) return 'not SEQUENCE { r INTEGER, s INTEGER }';
  for (const p of parts) {
    const v = contentOf(sig, p)!;
    if (v[0] >= 0x80 || (v.length === 1 && v[0] === 0)) return 'r and s must be positive';
  }
  return null;
}
