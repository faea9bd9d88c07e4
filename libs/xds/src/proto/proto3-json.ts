/**
 * Envoy messages as proto3 canonical JSON, the way Envoy prints them in `/config_dump` (field
 * names as in the .proto, as Envoy's `preserving_proto_field_names`): `Duration` as `"10s"`,
 * `Timestamp` as RFC 3339, wrapper types as their bare value, `Any` as `{"@type": url, …fields}`,
 * `Struct`/`Value`/`ListValue` as plain JSON, enums by name, 64-bit integers and bytes as strings,
 * fields at their default value left out. Done with the generated code (no reflection): the
 * well-known types' generated `toObject` answers in canonical form when called with
 * `options.json` — which only {@link toProto3Json} passes, so every other caller keeps the
 * field-name form the proxy's config translation reads.
 */
import type protobuf from 'protobufjs';
import { messageCodec } from './codec';
import { staticMessage } from './static';
import { messageNameOf } from '../type-urls';

/** Conversion options of the canonical form (`json` selects the well-known types' JSON mapping). */
export const PROTO3_JSON_OPTIONS: protobuf.IConversionOptions = { longs: String, enums: String, bytes: String, defaults: false, arrays: false, objects: false, oneofs: false, json: true };

type J = Record<string, unknown>;
type ToObject = (m: J, o?: protobuf.IConversionOptions, depth?: number) => unknown;

const WRAPPER_DEFAULTS: Readonly<Record<string, unknown>> = {
  DoubleValue: 0, FloatValue: 0, Int64Value: '0', UInt64Value: '0', Int32Value: 0, UInt32Value: 0, BoolValue: false, StringValue: '', BytesValue: '',
};

/** A protobufjs long (number, string, `Long` or bigint) as a decimal string. */
function longText(v: unknown): string {
  if (v === undefined || v === null) return '0';
  return typeof v === 'object' && 'low' in (v as object) && 'high' in (v as object) && typeof (v as { toString(): string }).toString === 'function'
    ? (v as { toString(): string }).toString()
    : String(v);
}

/** Fractional seconds as proto3 JSON writes them: none, or 3, 6 or 9 digits. */
function fraction(nanos: number): string {
  if (nanos === 0) return '';
  const s = String(Math.abs(nanos)).padStart(9, '0');
  return `.${s.endsWith('000000') ? s.slice(0, 3) : s.endsWith('000') ? s.slice(0, 6) : s}`;
}

/** `google.protobuf.Duration` as `"1.500s"`. */
export function durationJson(m: { seconds?: unknown; nanos?: number | null }): string {
  const seconds = longText(m.seconds);
  const nanos = m.nanos ?? 0;
  const negative = seconds.startsWith('-') || (seconds === '0' && nanos < 0);
  return `${negative && !seconds.startsWith('-') ? '-' : ''}${seconds}${fraction(nanos)}s`;
}

/** `google.protobuf.Timestamp` as RFC 3339 in UTC. */
export function timestampJson(m: { seconds?: unknown; nanos?: number | null }): string {
  const ms = Number(longText(m.seconds)) * 1000;
  const base = new Date(ms).toISOString().slice(0, 19);
  return `${base}${fraction(m.nanos ?? 0)}Z`;
}

function doubleJson(v: unknown): unknown {
  const n = typeof v === 'number' ? v : Number(v ?? 0);
  return Number.isFinite(n) ? n : String(n);
}

// google.protobuf.Value's members, by their .proto names and as lowerCamelCase
const pick = (m: J, snake: string, camel: string): unknown => m[snake] ?? m[camel];

function valueJson(m: J): unknown {
  if (pick(m, 'null_value', 'nullValue') !== undefined && pick(m, 'null_value', 'nullValue') !== null) return null;
  const num = pick(m, 'number_value', 'numberValue');
  if (num !== undefined && num !== null) return doubleJson(num);
  const str = pick(m, 'string_value', 'stringValue');
  if (str !== undefined && str !== null) return str;
  const bool = pick(m, 'bool_value', 'boolValue');
  if (bool !== undefined && bool !== null) return bool;
  const st = pick(m, 'struct_value', 'structValue');
  if (st) return structJson(st as J);
  const list = pick(m, 'list_value', 'listValue');
  if (list) return listJson(list as J);
  return null;
}

function structJson(m: J): J {
  const out: J = {};
  const fields = (m.fields ?? {}) as Record<string, J>;
  for (const k of Object.keys(fields)) out[k] = valueJson(fields[k]);
  return out;
}

function listJson(m: J): unknown[] {
  return ((m.values ?? []) as J[]).map(valueJson);
}

function anyJson(m: J, o: protobuf.IConversionOptions | undefined, depth: number | undefined): J {
  const url = String(m.type_url ?? '');
  const name = messageNameOf(url);
  const inner = name ? staticMessage(name) : undefined;
  const bytes = (m.value ?? new Uint8Array(0)) as Uint8Array;
  if (inner === undefined) return { '@type': url, value: Buffer.from(bytes).toString('base64') };
  const body = (inner.toObject as ToObject)(inner.decode(bytes) as J, o, (depth ?? 0) + 1);
  // an Any holding a well-known type with a JSON form of its own keeps it under "value"
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? { '@type': url, ...(body as J) } : { '@type': url, value: body };
}

let installed = false;

/** Makes the generated well-known types answer `toObject(…, {json: true})` in canonical form. */
function install(): void {
  if (installed) return;
  installed = true;
  const wrap = (name: string, json: (m: J, o: protobuf.IConversionOptions | undefined, depth: number | undefined) => unknown) => {
    const t = staticMessage(`google.protobuf.${name}`) as unknown as { toObject: ToObject } | undefined;
    if (t === undefined) return;
    const plain = t.toObject.bind(t);
    t.toObject = (m: J, o?: protobuf.IConversionOptions, depth?: number) => (o?.json ? json(m, o, depth) : plain(m, o, depth));
  };
  wrap('Duration', (m) => durationJson(m));
  wrap('Timestamp', (m) => timestampJson(m));
  for (const [name, dflt] of Object.entries(WRAPPER_DEFAULTS)) {
    wrap(name, (m) => {
      const v = m.value;
      if (v === undefined || v === null) return dflt;
      if (name === 'Int64Value' || name === 'UInt64Value') return longText(v);
      if (name === 'BytesValue') return Buffer.from(v as Uint8Array).toString('base64');
      if (name === 'DoubleValue' || name === 'FloatValue') return doubleJson(v);
      return v;
    });
  }
  wrap('Struct', (m) => structJson(m));
  wrap('Value', (m) => valueJson(m));
  wrap('ListValue', (m) => listJson(m));
  wrap('Any', anyJson);
}

/** Decodes an encoded message (by type URL or full name) into proto3 canonical JSON. */
export function toProto3Json(typeUrlOrName: string, bytes: Uint8Array): J {
  install();
  const codec = messageCodec(typeUrlOrName);
  return codec.toObject(codec.decode(bytes), PROTO3_JSON_OPTIONS) as J;
}

/** A message already decoded (in the codec's field-name form) as proto3 canonical JSON. */
export function messageToProto3Json(typeUrlOrName: string, message: object): J {
  install();
  const codec = messageCodec(typeUrlOrName);
  return codec.toObject(codec.fromObject(message), PROTO3_JSON_OPTIONS) as J;
}
