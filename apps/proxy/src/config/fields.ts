/**
 * Rejects fields the proxy does not implement. Messages arrive decoded with defaults filled, so a
 * field counts as set when it differs from its proto3 default (null, '', 0, false, empty list or
 * map, the enum's zero value).
 */
import { enumZeroValues } from '@tsmesh/xds';
import { reject } from './errors';

/** True when `v` is a proto3 default (unset) value. */
export function isUnset(v: unknown): boolean {
  if (v === null || v === undefined || v === '' || v === 0 || v === '0' || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object' && !(v instanceof Uint8Array)) return Object.keys(v as object).length === 0;
  return false;
}

/**
 * Throws a ConfigError naming the first field of `msg` (of proto type `typeName`) that is set but
 * not in `supported`. Oneof selector keys (whose value names a sibling field) are skipped.
 */
export function rejectUnsupported(typeName: string, msg: Record<string, unknown> | null | undefined, supported: ReadonlySet<string>, path: string): void {
  if (!msg) return;
  const zeros = enumZeroValues(typeName);
  for (const key of Object.keys(msg)) {
    if (supported.has(key)) continue;
    const v = msg[key];
    if (isUnset(v)) continue;
    if (typeof v === 'string' && zeros.get(key) === v) continue;
    if (typeof v === 'string' && Object.hasOwn(msg, v) && !zeros.has(key)) continue; // oneof selector
    reject(path ? `${path}.${key}` : key, 'not supported by the tsmesh proxy');
  }
}

/** `new Set(list)`, for the allow-lists above. */
export function fields(...names: string[]): ReadonlySet<string> {
  return new Set(names);
}
