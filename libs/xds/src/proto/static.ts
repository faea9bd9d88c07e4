/**
 * Envoy messages as static code generated at build time (`scripts/generate-protos.mjs`, protobufjs'
 * `static-module` target): encoders, decoders and object converters written out per message, so
 * decoding xDS needs no reflection over Envoy's descriptors at run time.
 */
import type protobuf from 'protobufjs';
import generated from './generated/envoy.js';

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
