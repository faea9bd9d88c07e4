/**
 * Transport sockets of clusters and filter chains. Plaintext (`raw_buffer`) is built in; TLS
 * factories are registered by the security layer with {@link registerTransportSocket}, so
 * a pushed `transport_socket` the proxy has no factory for is NACKed with its type.
 */
import type net from 'node:net';
import { unpack } from '@tsmesh/xds';
import { reject } from './errors';

/** Wraps upstream/downstream sockets (TLS, ...). Plaintext when `kind` is 'raw_buffer'. */
export interface TransportSocketFactory {
  readonly kind: string;
  /** Options merged into the upstream connect (undici `connect` / `net.connect`); null for plaintext. */
  upstreamConnectOptions(): Record<string, unknown> | null;
  /** Wraps an accepted downstream socket; returns it unchanged for plaintext. */
  wrapDownstream?(socket: net.Socket): net.Socket;
}

/** Plaintext. */
export const RAW_BUFFER: TransportSocketFactory = { kind: 'raw_buffer', upstreamConnectOptions: () => null };

type Compiler = (config: Record<string, unknown>, field: string) => TransportSocketFactory;
const registry = new Map<string, Compiler>();

/** Registers a transport socket implementation for a typed_config type URL. */
export function registerTransportSocket(typeUrl: string, compile: Compiler): void {
  registry.set(typeUrl, compile);
}

type Dec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Compiles a `transport_socket` (and rejects `transport_socket_matches` the proxy cannot honor). */
export function transportSocketFor(ts: Dec | null | undefined, matches: Dec[] | undefined, field: string): TransportSocketFactory {
  if (matches?.length) {
    // Honored only when every match is plaintext (then it is the same as no match).
    matches.forEach((m, i) => {
      const f = transportSocketFor(m.transport_socket, undefined, `transport_socket_matches[${i}].transport_socket`);
      if (f.kind !== 'raw_buffer') reject(`transport_socket_matches[${i}]`, `transport socket ${f.kind} per endpoint is not supported`);
    });
  }
  if (!ts || !ts.name) return RAW_BUFFER;
  const url = ts.typed_config?.type_url as string | undefined;
  if (ts.name === 'envoy.transport_sockets.raw_buffer' || url?.endsWith('.RawBuffer')) return RAW_BUFFER;
  const compile = url ? registry.get(url) : undefined;
  if (!compile) reject(field, `transport socket "${ts.name}" (${url ?? 'no typed_config'}) is not supported yet`);
  return compile(unpack(ts.typed_config), field);
}
