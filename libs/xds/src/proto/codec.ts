/** Encoding and decoding of Envoy messages and `google.protobuf.Any`, by type URL. */
import type protobuf from 'protobufjs';
import { envoyRoot } from './registry';
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

/** The protobufjs type for a type URL or full message name. */
export function typeFor(typeUrlOrName: string): protobuf.Type {
  let t = typeCache.get(typeUrlOrName);
  if (!t) {
    t = envoyRoot().lookupType(messageNameOf(typeUrlOrName));
    typeCache.set(typeUrlOrName, t);
  }
  return t;
}

/** Encodes a plain object (field names as in the .proto) as the message named by `typeUrl`. */
export function encodeMessage(typeUrl: string, value: object): Uint8Array {
  const type = typeFor(typeUrl);
  const problem = checkShape(type, value, type.fullName.slice(1));
  if (problem) throw new TypeError(problem);
  return type.encode(type.fromObject(value)).finish();
}

/** Decodes bytes of the message named by `typeUrl` into the generated `__Output` shape. */
export function decodeMessage<T = Record<string, unknown>>(typeUrl: string, bytes: Uint8Array): T {
  const type = typeFor(typeUrl);
  return type.toObject(type.decode(bytes), DECODE_OPTIONS) as T;
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
