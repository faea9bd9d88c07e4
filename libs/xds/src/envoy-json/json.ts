/**
 * Envoy resources in proto3 JSON, as users write them (EnvoyFilter patch values, Envoy configs):
 * converted to and from the field-name form the codec encodes. Field names may be the .proto
 * names or lowerCamelCase; `Any` carries `@type`; Duration is `"1.5s"`; wrapper types are bare
 * scalars; Struct/Value/ListValue are plain JSON. Every field is checked against the message,
 * so a typo or a type that is not registered is an error with its path, never dropped.
 */
import type protobuf from 'protobufjs';
import { encodeMessage, typeFor } from '../proto/codec';
import { envoyRoot } from '../proto/registry';
import { TYPE_PREFIX } from '../type-urls';

/** An Envoy message in field-name form with every `Any` expanded as `{"@type": url, ...fields}`. */
export type EnvoyJson = Record<string, unknown>;

/** A value that does not fit its Envoy message; `path` is the field path inside the value. */
export class EnvoyJsonError extends Error {
  readonly code = 'ENVOY_JSON_INVALID';
  constructor(readonly path: string, readonly reason: string) {
    super(path ? `${path}: ${reason}` : reason);
    this.name = 'EnvoyJsonError';
  }
}

const WRAPPERS = new Set(['DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value', 'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue'].map((n) => `.google.protobuf.${n}`));
const DURATION_RE = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;

const camelMaps = new WeakMap<protobuf.Type, Map<string, string>>();
/** lowerCamelCase (and json_name) → field name, per message type. */
function fieldNameOf(type: protobuf.Type, key: string): string | undefined {
  if (type.fields[key]) return key;
  let m = camelMaps.get(type);
  if (!m) {
    m = new Map();
    for (const f of type.fieldsArray) {
      m.set(f.name.replace(/_([a-z0-9])/g, (_s, c: string) => c.toUpperCase()), f.name);
      const jsonName = (f.options as { json_name?: string } | undefined)?.json_name;
      if (jsonName) m.set(jsonName, f.name);
    }
    camelMaps.set(type, m);
  }
  return m.get(key);
}

/** The message type an `@type` URL names, or an error saying it is not registered. */
export function typeForUrl(url: string, path: string): protobuf.Type {
  const name = url.slice(url.lastIndexOf('/') + 1);
  try {
    return typeFor(name);
  } catch {
    throw new EnvoyJsonError(path, `type "${url}" is not known to tsmesh, so no tsmesh proxy runs it (its .proto is not in ENVOY_PROTO_FILES, libs/xds/src/proto/registry.ts)`);
  }
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);
const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`);

/** Converts proto3 JSON of message `typeName` (full name, or a type URL) into {@link EnvoyJson}. */
export function fromEnvoyJson(typeName: string, value: unknown, path = ''): EnvoyJson {
  return convertMessage(typeFor(typeName.startsWith(TYPE_PREFIX) ? typeName.slice(TYPE_PREFIX.length) : typeName), value, path) as EnvoyJson;
}

function convertMessage(type: protobuf.Type, v: unknown, path: string): unknown {
  const full = type.fullName;
  if (full === '.google.protobuf.Duration') {
    if (typeof v === 'string') {
      const m = DURATION_RE.exec(v);
      if (!m) throw new EnvoyJsonError(path, `"${v}" is not a duration (e.g. "1.5s")`);
      const nanos = Number((m[3] ?? '').padEnd(9, '0'));
      return { seconds: `${m[1] ?? ''}${m[2]}`, nanos: m[1] ? -nanos : nanos };
    }
  } else if (WRAPPERS.has(full)) {
    if (v === null || typeof v !== 'object') return { value: convertScalar(type.fields.value, v, path) };
  } else if (full === '.google.protobuf.Struct') {
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new EnvoyJsonError(path, `expected an object, got ${kindOf(v)}`);
    return { fields: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonValue(x)])) };
  } else if (full === '.google.protobuf.Value') {
    return jsonValue(v);
  } else if (full === '.google.protobuf.ListValue') {
    if (!Array.isArray(v)) throw new EnvoyJsonError(path, `expected a list, got ${kindOf(v)}`);
    return { values: v.map(jsonValue) };
  } else if (full === '.google.protobuf.Any') {
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new EnvoyJsonError(path, `expected an object with "@type", got ${kindOf(v)}`);
    const { '@type': url, ...rest } = v as Record<string, unknown>;
    if (typeof url !== 'string' || !url) throw new EnvoyJsonError(path, 'an Any needs "@type"');
    const inner = typeForUrl(url, join(path, '@type'));
    return { '@type': url.includes('/') ? url : TYPE_PREFIX + url, ...(convertMessage(inner, rest, path) as object) };
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new EnvoyJsonError(path, `expected a ${type.name} object, got ${kindOf(v)}`);
  const out: Record<string, unknown> = {};
  const oneofSet = new Map<string, string>();
  for (const [key, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined) continue;
    const name = fieldNameOf(type, key);
    const at = join(path, key);
    if (!name) throw new EnvoyJsonError(at, `unknown field of ${type.fullName.slice(1)}`);
    const field = type.fields[name];
    field.resolve();
    if (field.partOf) {
      const other = oneofSet.get(field.partOf.name);
      if (other) throw new EnvoyJsonError(at, `only one of ${field.partOf.oneof.join(', ')} may be set (also ${other})`);
      oneofSet.set(field.partOf.name, name);
    }
    if (x === null) continue;
    if (field.map) {
      if (typeof x !== 'object' || Array.isArray(x)) throw new EnvoyJsonError(at, `expected a map, got ${kindOf(x)}`);
      out[name] = Object.fromEntries(Object.entries(x as object).map(([k, y]) => [k, convertField(field, y, `${at}.${k}`)]));
    } else if (field.repeated) {
      if (!Array.isArray(x)) throw new EnvoyJsonError(at, `expected a list, got ${kindOf(x)}`);
      out[name] = x.map((y, i) => convertField(field, y, `${at}[${i}]`));
    } else {
      out[name] = convertField(field, x, at);
    }
  }
  return out;
}

function convertField(field: protobuf.Field, v: unknown, path: string): unknown {
  const rt = field.resolvedType;
  if (rt && 'fields' in rt) return convertMessage(rt as protobuf.Type, v, path);
  if (rt && 'values' in rt) {
    const values = (rt as protobuf.Enum).values;
    if (typeof v === 'string' && v in values) return v;
    if (typeof v === 'number' && Object.values(values).includes(v)) return Object.keys(values).find((k) => values[k] === v);
    throw new EnvoyJsonError(path, `${JSON.stringify(v)} is not a ${rt.name} value (${Object.keys(values).join(', ')})`);
  }
  return convertScalar(field, v, path);
}

function convertScalar(field: protobuf.Field, v: unknown, path: string): unknown {
  switch (field.type) {
    case 'string':
      if (typeof v !== 'string') throw new EnvoyJsonError(path, `expected a string, got ${kindOf(v)}`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw new EnvoyJsonError(path, `expected true or false, got ${kindOf(v)}`);
      return v;
    case 'bytes':
      if (typeof v !== 'string') throw new EnvoyJsonError(path, `expected base64 text, got ${kindOf(v)}`);
      return v;
    case 'double': case 'float':
      if (typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)))) return Number(v);
      throw new EnvoyJsonError(path, `expected a number, got ${kindOf(v)}`);
    default: {
      // integer types; 64-bit ones may be strings in proto3 JSON
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : Number.NaN;
      if (!Number.isInteger(n)) throw new EnvoyJsonError(path, `expected an integer, got ${kindOf(v)}`);
      if (field.type.startsWith('uint') && n < 0) throw new EnvoyJsonError(path, `expected an unsigned integer, got ${n}`);
      return field.type.endsWith('64') ? String(v) : n;
    }
  }
}

function jsonValue(v: unknown): unknown {
  if (v === null) return { null_value: 'NULL_VALUE' };
  if (typeof v === 'number') return { number_value: v };
  if (typeof v === 'string') return { string_value: v };
  if (typeof v === 'boolean') return { bool_value: v };
  if (Array.isArray(v)) return { list_value: { values: v.map(jsonValue) } };
  return { struct_value: { fields: Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, jsonValue(x)])) } };
}

const TO_OBJECT = { longs: String, enums: String, bytes: String, defaults: false, oneofs: false, arrays: false } as const;

/** Decodes an encoded message into {@link EnvoyJson} (nested `Any`s expanded). */
export function decodeToEnvoyJson(typeUrlOrName: string, bytes: Uint8Array): EnvoyJson {
  const type = typeFor(typeUrlOrName.startsWith(TYPE_PREFIX) ? typeUrlOrName.slice(TYPE_PREFIX.length) : typeUrlOrName);
  return expand(type.toObject(type.decode(bytes), TO_OBJECT)) as EnvoyJson;
}

function expand(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(expand);
  if (!v || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if (typeof o.type_url === 'string' && (o.value === undefined || typeof o.value === 'string') && Object.keys(o).every((k) => k === 'type_url' || k === 'value')) {
    const t = typeFor(o.type_url.slice(o.type_url.lastIndexOf('/') + 1));
    const inner = t.toObject(t.decode(Buffer.from((o.value as string | undefined) ?? '', 'base64')), TO_OBJECT);
    return { '@type': o.type_url, ...(expand(inner) as object) };
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k] = expand(x);
  return out;
}

/** {@link EnvoyJson} → the form `encodeMessage` takes: every `{"@type"}` packed into an encoded `Any`. */
export function packEnvoyJson(v: unknown, path = ''): unknown {
  if (Array.isArray(v)) return v.map((x, i) => packEnvoyJson(x, `${path}[${i}]`));
  if (!v || typeof v !== 'object' || v instanceof Uint8Array) return v;
  const o = v as Record<string, unknown>;
  if (typeof o['@type'] === 'string') {
    const { '@type': url, ...rest } = o;
    typeForUrl(url as string, path);
    try {
      return { type_url: url, value: encodeMessage(url as string, packEnvoyJson(rest, path) as object) };
    } catch (err) {
      if (err instanceof EnvoyJsonError) throw err;
      throw new EnvoyJsonError(path, (err as Error).message);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k] = packEnvoyJson(x, join(path, k));
  return out;
}

/** The message type of a field path's parent, for callers walking {@link EnvoyJson}. */
export function messageTypeOf(typeName: string): protobuf.Type {
  return envoyRoot().lookupType(typeName);
}
