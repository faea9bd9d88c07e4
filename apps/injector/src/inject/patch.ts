/** One RFC 6902 JSON Patch operation, as the API server accepts in `patchType: JSONPatch`. */
export type JsonPatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** Escapes one JSON Pointer token (RFC 6901): `~` → `~0`, `/` → `~1`. */
export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && equal(a[k], b[k]));
  }
  return false;
}

/**
 * The JSON Patch turning `from` into `to`: objects are compared key by key (added keys `add`,
 * changed `replace`, removed `remove`); a list that changed is replaced whole, so the patch stays
 * valid whatever the list held (the API server applies it to the object it sent).
 */
export function diffToPatch(from: unknown, to: unknown, path = ''): JsonPatchOp[] {
  if (equal(from, to)) return [];
  if (isObject(from) && isObject(to)) {
    const ops: JsonPatchOp[] = [];
    for (const key of Object.keys(from)) {
      if (!(key in to)) ops.push({ op: 'remove', path: `${path}/${escapePointer(key)}` });
    }
    for (const [key, value] of Object.entries(to)) {
      const p = `${path}/${escapePointer(key)}`;
      if (!(key in from)) ops.push({ op: 'add', path: p, value });
      else ops.push(...diffToPatch(from[key], value, p));
    }
    return ops;
  }
  return [{ op: 'replace', path, value: to }];
}
