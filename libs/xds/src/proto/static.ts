/**
 * Envoy messages as static code generated at build time (`scripts/generate-protos.mjs`, protobufjs'
 * `static-module` target): encoders, decoders and object converters written out per message, so
 * decoding xDS needs no reflection over Envoy's descriptors at run time.
 */
import type protobuf from 'protobufjs';
import $protobuf from 'protobufjs/minimal.js';
import generated from './generated/envoy.js';

/*
 * Strings are decoded flat. protobufjs' strict UTF-8 reader (every proto3 `string` field of the
 * generated decoders) builds a string under 64 bytes by `+=` of 8-character pieces, which V8 keeps
 * as a rope: a 48-byte cluster name was 6 pieces and 5 rope nodes, ~300 bytes of heap instead of
 * ~70, and a proxy holding 1,000 services kept 52,000 rope nodes (1.7 MB) plus their pieces. The
 * reader now uses, for every length, the decoder protobufjs itself takes from 64 bytes on: a fatal
 * TextDecoder, so invalid UTF-8 is still refused with the same error.
 */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
$protobuf.util.utf8.readStrict = (buffer: Uint8Array, start: number, end: number): string =>
  end - start < 1 ? '' : strictUtf8.decode(buffer.subarray(start, end));

/** The generated class of one message. */
export interface StaticMessage {
  encode(message: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
  fromObject(object: object): object;
  toObject(message: object, options?: protobuf.IConversionOptions): object;
}

const found = new Map<string, StaticMessage>();

/** The generated message of a full name (`envoy.config.cluster.v3.Cluster`), or undefined when it was not generated. */
export function staticMessage(fullName: string): StaticMessage | undefined {
  const hit = found.get(fullName);
  if (hit) return hit;
  let at: unknown = generated;
  for (const part of fullName.split('.')) {
    if (at === null || (typeof at !== 'object' && typeof at !== 'function') || !Object.hasOwn(at, part)) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  if (typeof at !== 'function' || typeof (at as Partial<StaticMessage>).decode !== 'function') return undefined;
  // only names that exist are remembered: the map is bounded by the generated types
  found.set(fullName, at as unknown as StaticMessage);
  return at as unknown as StaticMessage;
}
