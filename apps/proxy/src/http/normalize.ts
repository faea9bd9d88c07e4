/** Path normalization (Envoy's `normalize_path`, RFC 3986 dot-segment removal, and `merge_slashes`). */

/** Normalizes the path part of a request target; returns null if it is not a valid origin-form path. */
export function normalizePath(path: string, dots: boolean, merge: boolean): string | null {
  if (path.charCodeAt(0) !== 47) return path === '*' ? path : null;
  let p = path;
  if (merge && p.includes('//')) p = p.replace(/\/{2,}/g, '/');
  if (dots && (p.includes('/.') || p.includes('\\'))) {
    p = p.replace(/\\/g, '/');
    const out: string[] = [];
    const segs = p.split('/');
    for (let i = 1; i < segs.length; i++) {
      const s = segs[i];
      if (s === '.') { if (i === segs.length - 1) out.push(''); continue; }
      if (s === '..') { out.pop(); if (i === segs.length - 1) out.push(''); continue; }
      out.push(s);
    }
    p = `/${out.join('/')}`;
  }
  return p;
}
