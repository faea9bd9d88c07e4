/** A small structural schema language: types, enums, required fields, and unknown-field detection. */

/** A schema node. */
export type Schema =
  | { t: 'string'; pattern?: RegExp; patternText?: string }
  | { t: 'int'; min?: number; max?: number }
  | { t: 'number'; min?: number; max?: number }
  | { t: 'bool' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'duration' }
  | { t: 'list'; of: Schema; minItems?: number }
  | { t: 'map'; of: Schema }
  | { t: 'object'; fields: Record<string, Schema>; required?: readonly string[]; oneOf?: readonly string[]; open?: boolean }
  | { t: 'intOrString' }
  | { t: 'any' };

export const str = (pattern?: RegExp, patternText?: string): Schema => ({ t: 'string', pattern, patternText });
export const int = (min?: number, max?: number): Schema => ({ t: 'int', min, max });
export const num = (min?: number, max?: number): Schema => ({ t: 'number', min, max });
export const bool: Schema = { t: 'bool' };
export const duration: Schema = { t: 'duration' };
export const any: Schema = { t: 'any' };
export const intOrString: Schema = { t: 'intOrString' };
export const enumOf = (...values: string[]): Schema => ({ t: 'enum', values });
export const list = (of: Schema, minItems?: number): Schema => ({ t: 'list', of, minItems });
export const map = (of: Schema): Schema => ({ t: 'map', of });
export const obj = (fields: Record<string, Schema>, o: { required?: string[]; oneOf?: string[]; open?: boolean } = {}): Schema => ({ t: 'object', fields, ...o });
export const strings = list(str());
export const labels = map(str());

/** A schema problem at a field path. */
export interface SchemaProblem {
  path: string;
  code: string;
  reason: string;
}

const DURATION = /^(\d+(\.\d+)?(h|m|s|ms|us|µs|ns))+$/;

/** Parses a protobuf-style duration (`1.5s`, `100ms`, `1h2m`) into milliseconds; NaN when malformed. */
export function parseDurationMs(text: string): number {
  if (!DURATION.test(text)) return Number.NaN;
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) total += Number(m[1]) * units[m[2]];
  return total;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Checks `value` against `schema`, appending problems with their paths. */
export function check(schema: Schema, value: unknown, path: string, out: SchemaProblem[]): void {
  if (value === undefined || value === null) return;
  const bad = (reason: string, code = 'SCHEMA_TYPE'): void => { out.push({ path, code, reason }); };
  switch (schema.t) {
    case 'any':
      return;
    case 'string':
      if (typeof value !== 'string') return bad(`expected a string, got ${typeName(value)}`);
      if (schema.pattern && !schema.pattern.test(value)) bad(`"${value}" is not ${schema.patternText ?? `a match for ${schema.pattern}`}`, 'SCHEMA_FORMAT');
      return;
    case 'int':
    case 'number':
      if (typeof value !== 'number' || Number.isNaN(value)) return bad(`expected a number, got ${typeName(value)}`);
      if (schema.t === 'int' && !Number.isInteger(value)) return bad(`expected an integer, got ${value}`);
      if (schema.min !== undefined && value < schema.min) bad(`${value} is below the minimum ${schema.min}`, 'SCHEMA_RANGE');
      if (schema.max !== undefined && value > schema.max) bad(`${value} is above the maximum ${schema.max}`, 'SCHEMA_RANGE');
      return;
    case 'bool':
      if (typeof value !== 'boolean') bad(`expected true or false, got ${typeName(value)}`);
      return;
    case 'enum':
      if (typeof value !== 'string' || !schema.values.includes(value)) bad(`${typeName(value)} is not one of ${schema.values.join(', ')}`, 'SCHEMA_ENUM');
      return;
    case 'duration':
      if (typeof value !== 'string' || Number.isNaN(parseDurationMs(value))) bad(`${typeName(value)} is not a duration such as "5s" or "100ms"`, 'SCHEMA_FORMAT');
      return;
    case 'intOrString':
      if (typeof value !== 'string' && !(typeof value === 'number' && Number.isInteger(value))) bad(`expected an integer or a string, got ${typeName(value)}`);
      return;
    case 'list':
      if (!Array.isArray(value)) return bad(`expected a list, got ${typeName(value)}`);
      if (schema.minItems && value.length < schema.minItems) bad(`needs at least ${schema.minItems} item${schema.minItems > 1 ? 's' : ''}`, 'SCHEMA_REQUIRED');
      value.forEach((v, i) => check(schema.of, v, `${path}[${i}]`, out));
      return;
    case 'map':
      if (typeof value !== 'object' || Array.isArray(value)) return bad(`expected a mapping, got ${typeName(value)}`);
      for (const [k, v] of Object.entries(value)) check(schema.of, v, path ? `${path}.${k}` : k, out);
      return;
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return bad(`expected a mapping, got ${typeName(value)}`);
      const v = value as Record<string, unknown>;
      for (const [k, fv] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        const fs = schema.fields[k];
        if (!fs) {
          if (!schema.open) out.push({ path: p, code: 'SCHEMA_UNKNOWN_FIELD', reason: `unknown field "${k}"${suggest(k, Object.keys(schema.fields))}` });
          continue;
        }
        check(fs, fv, p, out);
      }
      for (const r of schema.required ?? []) {
        if (v[r] === undefined || v[r] === null || v[r] === '') out.push({ path: path ? `${path}.${r}` : r, code: 'SCHEMA_REQUIRED', reason: `${r} is required` });
      }
      if (schema.oneOf) {
        const set = schema.oneOf.filter((k) => v[k] !== undefined && v[k] !== null);
        if (set.length > 1) bad(`only one of ${schema.oneOf.join(', ')} may be set (found ${set.join(', ')})`, 'SCHEMA_ONEOF');
      }
      return;
    }
  }
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length][b.length];
}

/** ` (did you mean "x"?)` for the known field closest to `k`, or an empty string. */
export function suggest(k: string, known: string[]): string {
  const lower = k.toLowerCase().replace(/_/g, '');
  const hit = known.find((f) => f.toLowerCase() === lower) ?? known.find((f) => distance(f.toLowerCase(), lower) <= (k.length > 4 ? 2 : 1));
  return hit ? ` (did you mean "${hit}"?)` : '';
}
