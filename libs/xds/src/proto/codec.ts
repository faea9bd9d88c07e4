/**
 * Encoding and decoding of Envoy messages and `google.protobuf.Any`, by type URL. The wire work is
 * done by the code generated at build time (`static.ts`); the reflection root (`registry.ts`) is
 * loaded only to check the shape of a message before encoding it (`encodeMessage`) and for a type
 * the generated code lacks.
 */
import type protobuf from 'protobufjs';
import { envoyRoot } from './registry';
import { staticMessage, type StaticMessage } from './static';
import { messageNameOf, TYPE_PREFIX } from '../type-urls';

/** An `Any` whose value is already encoded. */
export interface PackedAny {
  type_url: string;
  value: Uint8Array;
}

/** Options matching the generated `__Output` types: snake_case, longs/enums as strings, defaults and oneof names. */
export const DECODE_OPTIONS: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

const typeCache = new Map<string, protobuf.Type>();

/**
 * The codec of a type URL or full message name: the generated one, else (a type outside the
 * generated set) the reflection type. Throws when neither knows the name.
 */
export function messageCodec(typeUrlOrName: string): StaticMessage {
  return staticMessage(messageNameOf(typeUrlOrName)) ?? (typeFor(typeUrlOrName) as unknown as StaticMessage);
}

/** The protobufjs reflection type for a type URL or full message name (loads Envoy's descriptors on first use). */
export function typeFor(typeUrlOrName: string): protobuf.Type {
  let t = typeCache.get(typeUrlOrName);
  if (!t) {
    const name = messageNameOf(typeUrlOrName);
    try {
      t = envoyRoot().lookupType(name);
    } catch {
      throw new TypeError(`no such type: ${name} (its .proto is not in ENVOY_PROTO_FILES, libs/xds/src/proto/registry.ts)`);
    }
    typeCache.set(typeUrlOrName, t);
  }
  return t;
}

/** Encodes a plain object (field names as in the .proto) as the message named by `typeUrl`. */
export function encodeMessage(typeUrl: string, value: object): Uint8Array {
  const type = typeFor(typeUrl);
  const problem = checkShape(type, value, type.fullName.slice(1));
  if (problem) throw new TypeError(problem);
  return encodeTrusted(typeUrl, value);
}

/**
 * Encodes a message whose shape the caller builds itself (no `checkShape`, so no reflection):
 * protobufjs' `fromObject` drops unknown fields, so use it only for messages of a fixed shape.
 */
export function encodeTrusted(typeUrl: string, value: object): Uint8Array {
  const codec = messageCodec(typeUrl);
  return codec.encode(codec.fromObject(value)).finish();
}

/** Decodes bytes of the message named by `typeUrl` into the generated `__Output` shape. */
export function decodeMessage<T = Record<string, unknown>>(typeUrl: string, bytes: Uint8Array): T {
  const codec = messageCodec(typeUrl);
  return codec.toObject(codec.decode(bytes), DECODE_OPTIONS) as T;
}

const enumZeros = new Map<string, ReadonlyMap<string, string>>();

/**
 * The zero value of each singular enum field of a message outside oneofs (`lb_policy` →
 * `ROUND_ROBIN`), read from the generated code: what a decoded message holds when the field is unset.
 */
export function enumZeroValues(typeUrlOrName: string): ReadonlyMap<string, string> {
  const name = messageNameOf(typeUrlOrName);
  let m = enumZeros.get(name);
  if (m) return m;
  const codec = messageCodec(name);
  const empty = codec.toObject(codec.decode(new Uint8Array()), { ...DECODE_OPTIONS, oneofs: false });
  const zeros = new Map<string, string>();
  // enum defaults are their value names; other string defaults are '' (strings) or '0' (64-bit integers)
  for (const [k, v] of Object.entries(empty)) if (typeof v === 'string' && v !== '' && !/^-?\d/.test(v)) zeros.set(k, v);
  m = zeros;
  enumZeros.set(name, m);
  return m;
}

/** Packs a message into an `Any` (`type.googleapis.com/<full name>`), encoding it now. */
export function pack(typeUrl: string, value: object): PackedAny {
  const url = typeUrl.startsWith(TYPE_PREFIX) || typeUrl.includes('/') ? typeUrl : TYPE_PREFIX + typeUrl;
  return { type_url: url, value: encodeMessage(url, value) };
}

/** Unpacks an `Any` into its message (decoded form). */
export function unpack<T = Record<string, unknown>>(any: { type_url: string; value: Uint8Array | string } | PackedAny): T {
  if (!any.type_url) throw new TypeError('Any has no type_url');
  const value = any.value;
  const bytes = value instanceof Uint8Array ? value : typeof value === 'string' ? Buffer.from(value, 'base64') : new Uint8Array();
  return decodeMessage<T>(any.type_url, bytes);
}

/**
 * Checks a plain object against a message type before encoding: unknown fields, enum names that
 * do not exist, and objects given where scalars belong are reported with their field path
 * (protobufjs' own `fromObject` would drop or coerce them silently).
 */
export function checkShape(type: protobuf.Type, value: unknown, path: string): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `${path}: expected an object`;
  if (type.fullName === '.google.protobuf.Any') return null;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined || v === null) continue;
    const field = type.fields[key];
    if (!field) {
      if (type.oneofs && key in type.oneofs) continue;
      return `${path}: unknown field "${key}"`;
    }
    field.resolve();
    const items = field.repeated ? (Array.isArray(v) ? v : null) : [v];
    if (items === null) return `${path}.${key}: expected a list`;
    const entries = field.map ? Object.values(v as object) : items;
    for (let i = 0; i < entries.length; i++) {
      const item = entries[i];
      const at = field.repeated ? `${path}.${key}[${i}]` : `${path}.${key}`;
      const rt = field.resolvedType;
      if (rt && 'fields' in rt) {
        if (rt.fullName.startsWith('.google.protobuf.') && typeof item !== 'object') continue;
        const p = checkShape(rt as protobuf.Type, item, at);
        if (p) return p;
      } else if (rt && 'values' in rt) {
        const values = (rt as protobuf.Enum).values;
        if (typeof item === 'string' ? !(item in values) : typeof item !== 'number') return `${at}: "${String(item)}" is not a ${rt.name} value`;
      } else if (typeof item === 'object' && !(item instanceof Uint8Array) && !isLong(item)) {
        return `${at}: expected a ${field.type}, got an object`;
      }
    }
  }
  return null;
}

function isLong(v: unknown): boolean {
  return typeof v === 'object' && v !== null && 'low' in v && 'high' in v;
}
