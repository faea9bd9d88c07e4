/**
 * Protobuf merge semantics on {@link EnvoyJson} (what an EnvoyFilter MERGE does, as Istio's
 * `proto.Merge`): message fields merge recursively, repeated fields append, map entries are set
 * by key, scalars are replaced, setting one member of a oneof clears the others, and an `Any`
 * of the same `@type` merges its contents (a different `@type` replaces it). Well-known types
 * (Duration, wrappers, Struct) are replaced whole.
 */
import type protobuf from 'protobufjs';
import { typeFor } from '../proto/codec';
import type { EnvoyJson } from './json';

const REPLACED = /^\.google\.protobuf\.(Duration|Timestamp|Struct|Value|ListValue|\w+Value)$/;

const clone = <T>(v: T): T => structuredClone(v);

/** Merges `src` into a copy of `dst` (both of message `typeName`) and returns the copy. */
export function mergeEnvoyJson(typeName: string, dst: EnvoyJson, src: EnvoyJson): EnvoyJson {
  return mergeInto(typeFor(typeName), clone(dst), src);
}

function mergeInto(type: protobuf.Type, dst: EnvoyJson, src: EnvoyJson): EnvoyJson {
  if (type.fullName === '.google.protobuf.Any') {
    if (dst['@type'] !== src['@type']) return clone(src);
    const url = String(src['@type']);
    const inner = typeFor(url.slice(url.lastIndexOf('/') + 1));
    const { '@type': _a, ...d } = dst;
    const { '@type': _b, ...s } = src;
    return { '@type': url, ...mergeInto(inner, d, s) };
  }
  for (const [key, v] of Object.entries(src)) {
    const field = type.fields[key];
    if (!field) continue;
    field.resolve();
    if (field.partOf) for (const other of field.partOf.oneof) if (other !== key) delete dst[other];
    const rt = field.resolvedType;
    if (field.map) {
      dst[key] = { ...((dst[key] as object | undefined) ?? {}), ...clone(v as object) };
    } else if (field.repeated) {
      dst[key] = [...((dst[key] as unknown[] | undefined) ?? []), ...clone(v as unknown[])];
    } else if (rt && 'fields' in rt && !REPLACED.test(rt.fullName) && dst[key] && typeof dst[key] === 'object') {
      dst[key] = mergeInto(rt as protobuf.Type, dst[key] as EnvoyJson, v as EnvoyJson);
    } else {
      dst[key] = clone(v);
    }
  }
  return dst;
}
