/**
 * The path an authorization or authentication rule sees. Every form a backend could read as the
 * same resource is brought to one canonical path before matching, closing the bypass classes of
 * Istio's security bulletins:
 * - `?query` and `#fragment` are not part of the path (CVE-2020-8595, CVE-2021-39156);
 * - percent-encoding is decoded, including `%2F`, `%5C` and `%2E` (CVE-2021-31920);
 * - `\` is a separator, `//` runs merge, `/./` and `/../` are resolved (CVE-2019-9901).
 * A path with a malformed escape or a control character is refused (null): the request gets 400.
 */

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Decodes every `%XX` once; null on a malformed escape, a decoded NUL or control character. */
export function percentDecode(s: string): string | null {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      const h = hex(s.charCodeAt(i + 1));
      const l = hex(s.charCodeAt(i + 2));
      if (h < 0 || l < 0) return null;
      const b = h * 16 + l;
      if (b < 0x20 || b === 0x7f) return null;
      bytes.push(b);
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      for (const b of Buffer.from(s[i], 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Removes `.` and `..` segments (RFC 3986 5.2.4), after `\` → `/` and merging `//`. */
export function resolveSegments(p: string): string {
  let s = p.includes('\\') ? p.replace(/\\/g, '/') : p;
  if (s.includes('//')) s = s.replace(/\/{2,}/g, '/');
  if (!s.includes('/.')) return s;
  const segs = s.split('/');
  const out: string[] = [];
  for (let i = 1; i < segs.length; i++) {
    const seg = segs[i];
    const last = i === segs.length - 1;
    if (seg === '.') {
      if (last) out.push('');
    } else if (seg === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(seg);
    }
  }
  return `/${out.join('/')}`;
}

/** The request-target's path without query and fragment (an absolute-form target is reduced to its path). */
export function pathOnly(target: string): string {
  let t = target;
  if (t.charCodeAt(0) !== 47 && /^[a-z][a-z0-9+.-]*:\/\//i.test(t)) {
    const slash = t.indexOf('/', t.indexOf('//') + 2);
    t = slash < 0 ? '/' : t.slice(slash);
  }
  let end = t.length;
  const q = t.indexOf('?');
  if (q >= 0) end = q;
  const h = t.indexOf('#');
  if (h >= 0 && h < end) end = h;
  return end === t.length ? t : t.slice(0, end);
}

/**
 * The canonical path for rule matching (Istio `paths`/`notPaths`, JWT rule matches), or null
 * when the target is malformed. Idempotent: normalising a normalised path changes nothing.
 */
export function normalizeRulePath(target: string): string | null {
  const p = pathOnly(target);
  if (p === '*') return p;
  if (p.charCodeAt(0) !== 47) return null;
  const decoded = percentDecode(p);
  if (decoded === null) return null;
  // A decoded '#' or '?' is a literal character of the path; decoding happens only once.
  return resolveSegments(decoded);
}
